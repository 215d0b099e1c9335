"""The map of personal data: every column of every table, and what /forget does with it.

A test walks the schema (SQLModel.metadata) and fails on any table or column missing here,
so a table added later cannot be forgotten; `storage.forget.forget_person` runs the rules
that need no more than the map, and the steps the map names for the rest.

What /forget does not reach, and why, is said here too: a contact's data belongs to the
campaign's list (the do-not-call list is the contact's way out), and the audit log keeps who
acted (organizers) because it exists to hold people accountable.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class How(StrEnum):
    NOT_PERSONAL = "not personal"
    ROW = "the row goes: this column is the person"
    WITH_ROW = "goes with its row"
    NULL = "set to NULL"
    ANONYMOUS = "replaced by the person's anonymous id"
    IN_TEXT = "the person's id inside it is replaced by their anonymous id"
    KEPT = "kept"
    NOT_A_USERS = "a contact's data, not a bot user's: outside /forget"


@dataclass(frozen=True)
class Rule:
    how: How
    why: str = ""
    # A step of storage.forget that carries this rule out; None: the rule alone says what to
    # do (ROW: delete where the column is the person; NULL, ANONYMOUS: update it).
    step: str | None = None
    # Columns set together with this one (a lease's expiry with the volunteer who held it).
    also: dict[str, Any] = field(default_factory=dict)


NO = Rule(How.NOT_PERSONAL)
WITH_ROW = Rule(How.WITH_ROW)


def _table(columns: dict[str, Rule], not_personal: str = "", with_row: str = "") -> dict[str, Rule]:
    return {**{c: NO for c in not_personal.split()}, **{c: WITH_ROW for c in with_row.split()},
            **columns}


CONTACTS = ("from the campaign's list, about the person called, not about anyone using the "
            "bot; the do-not-call list is their way out")
ORGANIZERS_AUDIT = "the audit log of who did what: shifts, broadcasts and organizers keep it"

# Outbox params hold ids, never names (renderers read names when they send): the person's id
# under one of these keys is replaced by their anonymous id.
PERSON_PARAMS = ("user", "recruit", "volunteer", "caller")

PERSONAL_DATA: dict[str, dict[str, Rule]] = {
    "users": _table({
        "id": Rule(How.ROW, step="web",
                   why="the node of a recruit or of someone who brought people stays, under "
                       "a new anonymous id, so that the web keeps its shape"),
        "referred_by": Rule(How.ANONYMOUS, step="web",
                            why="the referrer's id: their recruits point at their anonymous "
                                "node once they are forgotten"),
        "generation": Rule(How.KEPT, why="on the anonymous node: the web's depth"),
        "recruits": Rule(How.KEPT, why="on the anonymous node: the people they brought still "
                                       "count for them, and for the web"),
        "created_at": Rule(How.KEPT, why="on the anonymous node: the web's growth by day"),
        "rejoin_key": Rule(
            How.KEPT, why="on a forgotten recruit's node: HMAC-SHA256 under the bot's secret "
                          "of '<telegram id>:<referrer>', so that rejoining through the same "
                          "link does not count a second recruit; without the secret it cannot "
                          "be turned back into an id, and a rejoin through that link takes it"),
    }, not_personal="forgotten",
        with_row="first_name last_name username language_code is_organizer volunteer_status "
                 "trained blocked stopped approved_at paused_at invite_code "
                 "leaderboard_opt_out nudges_sent last_nudge_at organizer_by_config "
                 "organizer_by_cli trusted practice_calls vote_commune_insee vote_station"),
    "campaign": _table({}, not_personal=(
        "id name timezone calling_start calling_end script talking_points "
        "target_constituencies retry_delay_minutes max_attempts lease_minutes "
        "skip_limit_per_hour card_limit_per_hour practice_calls_required "
        "untrusted_cards_per_hour untrusted_cards_per_day calls_to_trust rounds nudge_days "
        "messaging_start messaging_end proxy_capacity daily_goal room_goals active created_at")),
    # The wall's secret address: it opens figures that name nobody but first names of
    # those who did not leave the rankings, who are counted when the page is drawn.
    "wall_token": _table({}, not_personal="campaign_id token created_at"),
    "contact": _table({
        "held_by": Rule(How.NULL, why="the card goes back to the queue",
                        also={"lease_expires_at": None}),
        **{c: Rule(How.NOT_A_USERS, why=CONTACTS) for c in (
            "phone first_name last_name constituency commune postal_code polling_station "
            "tags source zone").split()},
    }, not_personal="id campaign_id priority status attempts due_at waiting lease_expires_at "
                    "lease_seq last_outcome follow_up last_called_at"),
    "contact_link": _table({
        "volunteer_id": Rule(How.ANONYMOUS, why="the volunteer who sent it: the join stays "
                                                "counted for the campaign's calls"),
        "used_by": Rule(How.ANONYMOUS, why="who opened it: the link stays used (nobody else "
                                           "can take it) and the call stays counted"),
        "contact_id": Rule(How.NOT_A_USERS, why=CONTACTS),
    }, not_personal="id campaign_id created_at expires_at used_at",
        with_row="code"),
    "call": _table({
        "volunteer_id": Rule(How.ANONYMOUS, why="the calls stay counted for the campaign"),
    }, not_personal="id contact_id campaign_id lease_seq outcome created_at room"),
    "dnc_hold": _table({
        "volunteer_id": Rule(How.ANONYMOUS,
                             why="a held ⛔ press stays for an organizer to decide: the contact "
                                 "may well have asked"),
        "decided_by": Rule(How.NULL, why=ORGANIZERS_AUDIT),
    }, not_personal="id contact_id lease_seq seconds_held status created_at decided_at"),
    "do_not_call": _table({
        "added_by": Rule(How.NULL, why="the number stays on the list: that is its point"),
        "phone": Rule(How.NOT_A_USERS, why=CONTACTS),
    }, not_personal="added_at"),
    "audit_log": _table({
        "actor_id": Rule(How.KEPT, why="only organizers' acts (and the command line's) are "
                                       "audited: the log exists to hold them accountable"),
        "detail": Rule(How.IN_TEXT, step="audit", why="the person an act was about"),
    }, not_personal="id action created_at"),
    "pledge": _table({"user_id": Rule(How.ROW)}, with_row="names created_at"),
    "pledge_round": _table({"user_id": Rule(How.ROW)}, with_row="round_date confirmed_at"),
    "outbox": _table({
        "chat_id": Rule(How.ROW, step="outbox",
                        why="a broadcast's row stays for its counts, skipped, under the "
                            "anonymous id"),
        "key": Rule(How.IN_TEXT, step="outbox", why="keys name their recipient"),
        "params": Rule(How.IN_TEXT, step="outbox",
                       why=f"the person's id under {', '.join(PERSON_PARAMS)}"),
    }, not_personal="id kind batch quiet_hours status due_at attempts claimed_at sent_at "
                    "message_id error created_at"),
    "polling_station": _table({}, not_personal="insee number name address"),
    "proxy_request": _table({
        "user_id": Rule(How.ROW, step="proxies",
                        why="their needs and offers go with their matches; the other side "
                            "goes back to the queue"),
        "recorded_by": Rule(How.NULL, why="the volunteer who took a contact's request on the "
                                          "phone; the request is the contact's"),
        "first_name": Rule(How.WITH_ROW, why="a contact's own request keeps it: " + CONTACTS),
        "phone": Rule(How.WITH_ROW, why="a contact's own request keeps it: " + CONTACTS),
    }, not_personal="id kind status contact_id rounds_mask created_at campaign_id",
        with_row="commune_insee department constituency station own_commune_insee "
                 "own_station"),
    "proxy_match": _table({
        "need_id": Rule(How.WITH_ROW, step="proxies", why="a match of theirs goes"),
        "offer_id": Rule(How.WITH_ROW, step="proxies", why="a match of theirs goes"),
    }, not_personal="id rounds_mask status need_answer offer_answer proposed_at expires_at "
                    "decided_at registered_at",
        with_row="holder_voter_number holder_birth_date"),
    "proxy_ask": _table({
        "user_id": Rule(How.ROW, why="who was asked: their asks go"),
        "need_id": Rule(How.WITH_ROW, step="proxies", why="the asks for a need of theirs go "
                                                           "with it"),
    }, not_personal="asked_at"),
    "proxy_slot": _table({
        "match_id": Rule(How.WITH_ROW, step="proxies", why="the holder's room is freed"),
    }, not_personal="offer_id round_date slot"),
    "shift": _table({
        "created_by": Rule(How.NULL, why=ORGANIZERS_AUDIT),
    }, not_personal="id room address starts_at ends_at capacity note cancelled created_at"),
    "shift_signup": _table({
        "user_id": Rule(How.ROW, why="their place is free for the next person"),
    }, not_personal="shift_id", with_row="status still_coming joined_at"),
    "broadcast": _table({
        "created_by": Rule(How.NULL, why=ORGANIZERS_AUDIT),
        "progress_chat_id": Rule(How.NULL, why="their chat, where the progress was shown",
                                 also={"progress_message_id": None}),
    }, not_personal="id text audience audience_value shift_id status scheduled_at total "
                    "created_at progress_message_id progress_shown"),
    # The running `toile run`: a machine and a process, nobody's data.
    "instance_lease": _table({}, not_personal="name holder host pid started_at renewed_at "
                                              "expires_at"),
    "relay": _table({
        "volunteer_id": Rule(How.ANONYMOUS, step="relay",
                             why="a question stays under the anonymous id, so that a reply to "
                                 "it is told politely it reaches nobody; an answer delivered "
                                 "to them goes"),
        "question": Rule(How.NULL, step="relay",
                         why="their words go; the question's row stays, anonymous"),
        "answered_by": Rule(How.NULL, why="the organizer who wrote an answer: nobody can "
                                          "sign it any more"),
    }, not_personal="id created_at signed", with_row="chat_id message_id answer"),
}


def rejoin_key(secret: bytes, telegram_id: int, referrer_id: int) -> str:
    """What a forgotten recruit's node keeps: a keyed hash, never the id (see the map)."""
    return hmac.new(secret, f"{telegram_id}:{referrer_id}".encode(),
                    hashlib.sha256).hexdigest()[:32]
