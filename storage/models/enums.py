"""The statuses and kinds rows hold, one enum each: statements write their values
(f-strings), so a typo is a NameError at import, not a row nobody finds."""

from __future__ import annotations

from enum import StrEnum


class VolunteerStatus(StrEnum):
    NONE = "none"
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    PAUSED = "paused"


class ContactStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    DO_NOT_CALL = "dnc"
    HELD = "held"  # a "do not call" pressed too fast, waiting for an organizer
    JOINED = "joined"  # opened the link a volunteer sent: on Telegram now, out of the queue


class Outcome(StrEnum):
    NO_ANSWER = "no_answer"
    VOICEMAIL = "voicemail"
    CALL_BACK = "call_back"
    WILL_VOTE = "will_vote"
    UNDECIDED = "undecided"
    NOT_INTERESTED = "not_interested"
    OTHER_SIDE = "other_side"
    NEEDS_PROXY = "needs_proxy"
    CAN_CARRY_PROXY = "can_carry_proxy"
    WANTS_TO_VOLUNTEER = "wants_volunteer"
    WRONG_NUMBER = "wrong_number"
    DO_NOT_CALL = "do_not_call"
    # Not calls: a volunteer gave the card back, or let its lease run out.
    SKIPPED = "skipped"
    ABANDONED = "abandoned"


RETRY_OUTCOMES = frozenset({Outcome.NO_ANSWER, Outcome.VOICEMAIL})


FOLLOW_UP_OUTCOMES = frozenset(
    {Outcome.NEEDS_PROXY, Outcome.CAN_CARRY_PROXY, Outcome.WANTS_TO_VOLUNTEER}
)


RELEASE_OUTCOMES = frozenset({Outcome.SKIPPED, Outcome.ABANDONED})


CALL_OUTCOMES = tuple(o for o in Outcome if o not in RELEASE_OUTCOMES)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"  # a deliverer took it; no API call yet: safe to take back if stale
    SENDING = "sending"  # the API call may have gone out: never send it again
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # no longer wanted when its turn came (/stop, blocked, goal reached)


class ProxyKind(StrEnum):
    NEED = "need"  # cannot vote: gives a proxy (mandant)
    OFFER = "offer"  # can carry someone's vote (mandataire)


class ProxyRequestStatus(StrEnum):
    OPEN = "open"  # waiting for a match (an offer: while it has room)
    MATCHED = "matched"  # a need with a live match
    REGISTERED = "registered"  # a need whose proxy is made official
    CANCELLED = "cancelled"


class ProxyMatchStatus(StrEnum):
    PROPOSED = "proposed"  # waiting for both answers (24 h)
    ACCEPTED = "accepted"  # both said yes; waiting for the holder's voter details
    CONFIRMED = "confirmed"  # the giver has what they need to make it official
    REGISTERED = "registered"  # the giver says it is done
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


# The statuses of a match that still holds its need and its holder's room.
LIVE_MATCH = tuple(s.value for s in (ProxyMatchStatus.PROPOSED, ProxyMatchStatus.ACCEPTED,
                                     ProxyMatchStatus.CONFIRMED, ProxyMatchStatus.REGISTERED))


class DncHoldStatus(StrEnum):
    HELD = "held"  # waiting for an organizer
    CONFIRMED = "confirmed"  # the number went on the do-not-call list
    REJECTED = "rejected"  # the contact went back to the queue


class SignupStatus(StrEnum):
    JOINED = "joined"
    LEFT = "left"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class BroadcastStatus(StrEnum):
    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class Audience(StrEnum):
    """Who a broadcast goes to; `room` and `shift` take a value (the room, the shift id)."""

    EVERYONE = "everyone"
    VOLUNTEERS = "volunteers"
    ROOM = "room"
    SHIFT = "shift"
    UNDER3 = "under3"
