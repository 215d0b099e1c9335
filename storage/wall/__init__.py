"""The wall: the room's screen of the day's figures (figures), the secret in its address
(tokens) and the goals its bars aim at (goals, read from the campaign file).

Nothing is re-exported here: the campaign file's reader imports `goals`, which must not
bring the figures (and the campaigns module they use) along."""
