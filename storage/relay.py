"""The question relay: a volunteer's question to the organizers, an organizer's answer back.

Both travel through the outbox, queued in the transaction that records them (keys
`relay-question:<relay>:<chat>`, one per organizers' chat, and `relay-answer:<relay>`); the
outbox row keeps where each landed, so that a reply to a relayed question finds its
volunteer and a signature finds the answer to edit. Rows written before that (sent
directly) keep their place in `relay.chat_id` / `relay.message_id`, still honoured.

Only people the campaign knows may ask, a few times an hour: counted here, in the
database, so that restarts and several instances count the same.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from storage import clock, outbox
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import OutboxStatus, VolunteerStatus
from storage.outbox import Delivery, Notice, NoticeKind, queue_in
from storage.rows import reader

ASKS_PER_HOUR = 5
ASK_WINDOW = timedelta(hours=1)
# Ahead of whatever else is due: a question asked during a call must not wait behind a
# broadcast's 70,000 rows (the deliverer takes rows in `due_at` order).
AHEAD_OF_THE_QUEUE = timedelta(days=1)
QUESTION_KIND, ANSWER_KIND = NoticeKind.RELAY_QUESTION, NoticeKind.RELAY_ANSWER
UNDELIVERED_KIND = NoticeKind.RELAY_UNDELIVERED


class Refusal(StrEnum):
    UNKNOWN = "unknown"  # not someone the campaign knows
    LIMIT = "limit"  # asked ASKS_PER_HOUR times in the last hour
    NOBODY = "nobody"  # no organizer to ask


@dataclass(frozen=True)
class AskCheck:
    refusal: Refusal | None = None
    asked: int = 0  # in the last hour
    again_at: datetime | None = None  # when the limit lets them ask again
    relay_id: int | None = None  # the question, when it was queued


# Known: volunteers (asked to call, approved, paused), organizers, and supporters who did
# something with the campaign (came through a link, brought someone, joined a shift, asked
# for or offered a proxy, pledged). Not someone who opened the bot a minute ago.
_KNOWN = (
    f"SELECT u.volunteer_status IN ('{VolunteerStatus.PENDING}', '{VolunteerStatus.APPROVED}', "
    f"'{VolunteerStatus.PAUSED}') OR u.is_organizer "
    "OR u.referred_by IS NOT NULL OR u.recruits > 0 "
    "OR EXISTS (SELECT 1 FROM shift_signup s WHERE s.user_id = u.id) "
    "OR EXISTS (SELECT 1 FROM proxy_request p WHERE p.user_id = u.id) "
    "OR EXISTS (SELECT 1 FROM pledge g WHERE g.user_id = u.id) "
    "FROM users u WHERE u.id = :id AND NOT u.forgotten")
_KNOWN_READ = SQL.of(_KNOWN)
# Asking locks the person's row on PostgreSQL: two questions sent at once are counted one
# after the other (on SQLite writers take turns anyway).
_KNOWN_LOCKED = replace(_KNOWN_READ, postgres=_KNOWN_READ.postgres + " FOR UPDATE OF u")


@dataclass(frozen=True)
class Asked:
    asked: int  # questions in the window
    oldest: datetime | None  # the first of them


_ASKED_ROW = reader(Asked)
_ASKED = SQL.of("SELECT count(*) AS asked, min(created_at) AS oldest FROM relay "
                "WHERE volunteer_id = :id AND question IS NOT NULL AND created_at > :since")


async def _check(tx: Tx, known: SQL, user_id: int, is_organizer: bool,
                 now: datetime) -> AskCheck:
    (is_known,) = await tx.one(known, id=user_id) or (False,)
    if not is_organizer and not is_known:
        return AskCheck(Refusal.UNKNOWN)
    row = await tx.one(_ASKED, id=user_id, since=now - ASK_WINDOW)
    asked = _ASKED_ROW(row) if row is not None else Asked(0, None)
    if asked.asked >= ASKS_PER_HOUR and asked.oldest is not None:
        return AskCheck(Refusal.LIMIT, asked.asked, asked.oldest + ASK_WINDOW)
    return AskCheck(None, asked.asked)


async def may_ask(db: Database, user_id: int, is_organizer: bool) -> AskCheck:
    """Before the question is written: refused now rather than after typing it."""
    async with db.fast_read() as tx:
        return await _check(tx, _KNOWN_READ, user_id, is_organizer, clock.utcnow())


_INSERT_QUESTION = SQL.of("INSERT INTO relay (volunteer_id, question, signed, created_at) "
                          "VALUES (:id, :question, FALSE, :now) RETURNING id")
_ORGANIZER_CHATS = SQL.of("SELECT id FROM users WHERE is_organizer AND NOT blocked "
                          "AND NOT forgotten ORDER BY id")


async def ask_organizers(db: Database, user_id: int, is_organizer: bool, question_html: str,
                         about: dict[str, str] | None, group_chat_id: int | None) -> AskCheck:
    """Record the question and queue it, in one transaction, to the organizers' group if
    there is one, else to each organizer; checked again here (known, not over the limit).
    `about` is what the volunteer sees of the contact on their card (never the number)."""
    now = clock.utcnow()
    async with db.fast_write() as tx:
        check = await _check(tx, _KNOWN_LOCKED, user_id, is_organizer, now)
        if check.refusal is not None:
            return check
        chats = [group_chat_id] if group_chat_id is not None else [
            int(chat) for (chat,) in await tx.all(_ORGANIZER_CHATS)]
        if not chats:
            return AskCheck(Refusal.NOBODY)
        row = await tx.one(_INSERT_QUESTION, id=user_id, question=question_html, now=now)
        assert row is not None
        (inserted,) = row
        relay_id = int(inserted)
        params = {"relay": relay_id, **({"about": about} if about else {})}
        await queue_in(tx, [Notice(f"relay-question:{relay_id}:{chat}", QUESTION_KIND, chat,
                                   params) for chat in chats], due_at=now - AHEAD_OF_THE_QUEUE)
    return AskCheck(None, check.asked + 1, relay_id=relay_id)


@dataclass(frozen=True)
class Question:
    relay_id: int
    volunteer_id: int
    first_name: str  # the volunteer's, as they are now
    question: str


_QUESTION_ROW = reader(Question)
_QUESTION = SQL.of("SELECT r.id AS relay_id, r.volunteer_id, u.first_name, r.question "
                   "FROM relay r JOIN users u ON u.id = r.volunteer_id AND NOT u.forgotten "
                   "WHERE r.id = :id AND r.question IS NOT NULL")


async def question(db: Database, relay_id: int) -> Question | None:
    """A question to deliver; None once its volunteer erased their data."""
    async with db.fast_read() as tx:
        row = await tx.one(_QUESTION, id=relay_id)
    return _QUESTION_ROW(row) if row is not None else None


class Asker(StrEnum):
    FOUND = "found"
    GONE = "gone"  # the volunteer erased their data (/forget)
    BLOCKED = "blocked"  # they blocked the bot


@dataclass(frozen=True)
class Replied:
    asker: Asker
    relay_id: int = 0
    volunteer_id: int = 0
    language_code: str | None = None


# Uses ix_outbox_relay, whose condition it repeats literally (or SQLite ignores it).
_RELAYED = SQL.of("SELECT key FROM outbox WHERE chat_id = :chat_id AND message_id = "
                  f":message_id AND kind = '{QUESTION_KIND.value}'")
_RELAYED_DIRECTLY = SQL.of("SELECT id FROM relay WHERE chat_id = :chat_id "
                           "AND message_id = :message_id AND answer IS NULL")


@dataclass(frozen=True)
class Volunteer:
    volunteer_id: int
    blocked: bool | None  # None: erased (no row of theirs)
    language_code: str | None


_VOLUNTEER_ROW = reader(Volunteer)
_VOLUNTEER = SQL.of("SELECT r.volunteer_id, u.blocked, u.language_code FROM relay r "
                    "LEFT JOIN users u ON u.id = r.volunteer_id AND NOT u.forgotten "
                    "WHERE r.id = :id")


async def replied_to(db: Database, chat_id: int, message_id: int) -> Replied | None:
    """The question a reply in an organizers' chat answers; None if it answers no question
    (organizers talking among themselves)."""
    async with db.fast_read() as tx:
        queued = await tx.one(_RELAYED, chat_id=chat_id, message_id=message_id)
        if queued is not None:
            (key,) = queued
            relay_id = int(str(key).split(":")[1])  # relay-question:<relay>:<chat>
        else:
            direct = await tx.one(_RELAYED_DIRECTLY, chat_id=chat_id, message_id=message_id)
            if direct is None:
                return None
            (direct_id,) = direct
            relay_id = int(direct_id)
        row = await tx.one(_VOLUNTEER, id=relay_id)
    volunteer = _VOLUNTEER_ROW(row) if row is not None else None
    if volunteer is None or volunteer.blocked is None:  # the relay row or the person erased
        return Replied(Asker.GONE)
    return Replied(Asker.BLOCKED if volunteer.blocked else Asker.FOUND, relay_id,
                   volunteer.volunteer_id, volunteer.language_code)


_INSERT_ANSWER = SQL.of(
    "INSERT INTO relay (volunteer_id, chat_id, answer, answered_by, signed, created_at) "
    "SELECT id, id, :answer, :organizer, FALSE, :now FROM users WHERE id = :volunteer "
    "AND NOT forgotten RETURNING id")


async def answer_question(db: Database, volunteer_id: int, organizer_id: int,
                          answer_html: str, reply: tuple[int, int] | None = None) -> int | None:
    """Record an organizer's answer and queue it to the volunteer, in one transaction.
    `reply` is where the organizer wrote it (chat, message): told there if it never
    arrives. None if the volunteer erased their data meanwhile."""
    now = clock.utcnow()
    async with db.fast_write() as tx:
        row = await tx.one(_INSERT_ANSWER, answer=answer_html, organizer=organizer_id, now=now,
                           volunteer=volunteer_id)
        if row is None:
            return None
        (inserted,) = row
        relay_id = int(inserted)
        params: dict[str, int] = {"relay": relay_id}
        if reply is not None:
            params["reply_to"] = reply[1]
            if reply[0] < 0:  # a group; an organizer's own chat is `answered_by`, which
                params["reply_group"] = reply[0]  # /forget clears: no person's id in params
        await queue_in(tx, [Notice(f"relay-answer:{relay_id}", ANSWER_KIND, volunteer_id,
                                   params)], due_at=now - AHEAD_OF_THE_QUEUE)
    return relay_id


async def _answer_undelivered(tx: Tx, delivery: Delivery, error: str) -> None:
    """An answer that never arrived: the organizer who wrote it is told, under it."""
    if "reply_to" not in delivery.params or "may have arrived" in error:
        return
    chat = delivery.params.get("reply_group")
    if chat is None:
        (chat,) = await tx.one(_AUTHOR, id=int(delivery.params["relay"])) or (None,)
    if chat is None:  # its author erased their data since
        return
    await queue_in(tx, [Notice(f"relay-undelivered:{delivery.params['relay']}",
                               UNDELIVERED_KIND, int(chat),
                               {**delivery.params, "blocked": "blocked" in error})],
                   due_at=clock.utcnow() - AHEAD_OF_THE_QUEUE)


_AUTHOR = SQL.of("SELECT answered_by FROM relay WHERE id = :id AND answered_by IS NOT NULL")


outbox.on_failed(ANSWER_KIND, _answer_undelivered)


@dataclass(frozen=True)
class Answer:
    volunteer_id: int
    answer: str
    signer: str | None  # the first name of the organizer who signed it, if they did


@dataclass(frozen=True)
class AnswerRow:
    volunteer_id: int
    answer: str
    signed: bool
    signer: str | None  # the author's first name, whether signed or not

    def as_sent(self, signed: bool | None = None) -> Answer:
        signer = (self.signer or "") if (self.signed if signed is None else signed) else None
        return Answer(self.volunteer_id, self.answer, signer)


_ANSWER_ROW = reader(AnswerRow)
_ANSWER = SQL.of("SELECT r.volunteer_id, r.answer, r.signed, o.first_name AS signer "
                 "FROM relay r LEFT JOIN users o ON o.id = r.answered_by "
                 "WHERE r.id = :id AND r.answer IS NOT NULL")


async def answer(db: Database, relay_id: int) -> Answer | None:
    """An answer to deliver, signed or not as it stands now; None once erased."""
    async with db.fast_read() as tx:
        row = await tx.one(_ANSWER, id=relay_id)
    return _ANSWER_ROW(row).as_sent() if row is not None else None


class Signing(StrEnum):
    SIGNED = "signed"
    NOT_AUTHOR = "not_author"
    ALREADY = "already"
    GONE = "gone"  # erased (/forget)
    BLOCKED = "blocked"  # never arrived: the volunteer blocked the bot
    UNDELIVERED = "undelivered"  # never arrived, for another reason


@dataclass(frozen=True)
class Signature:
    outcome: Signing
    answer: Answer | None = None
    # Where the answer landed, if it has (else the deliverer will send it signed).
    chat_id: int | None = None
    message_id: int | None = None


@dataclass(frozen=True)
class ToSign:
    answered_by: int | None
    signed: bool
    chat_id: int | None  # where it landed, if sent directly (before the outbox)
    message_id: int | None
    status: OutboxStatus | None  # its outbox row's, if queued
    sent_id: int | None
    error: str | None


_TO_SIGN_ROW = reader(ToSign)
_TO_SIGN = SQL.of(
    "SELECT r.answered_by, r.signed, r.chat_id, r.message_id, o.status, "
    "o.message_id AS sent_id, o.error FROM relay r LEFT JOIN outbox o ON o.key = :key "
    "WHERE r.id = :id AND r.answer IS NOT NULL")
_SIGN = SQL.of("UPDATE relay SET signed = TRUE WHERE id = :id AND NOT signed")


async def sign_answer(db: Database, relay_id: int, organizer_id: int) -> Signature:
    """Sign an answer with its author's name: only the organizer who wrote it may (answers
    from before authors were kept have none, and cannot be signed). Once."""
    async with db.fast_write() as tx:
        row = await tx.one(_TO_SIGN, key=f"relay-answer:{relay_id}", id=relay_id)
        if row is None:
            return Signature(Signing.GONE)
        to_sign = _TO_SIGN_ROW(row)
        if to_sign.answered_by != organizer_id:
            return Signature(Signing.NOT_AUTHOR)
        if to_sign.signed:
            return Signature(Signing.ALREADY)
        if to_sign.status in (OutboxStatus.FAILED, OutboxStatus.SKIPPED):
            return Signature(Signing.BLOCKED if "blocked" in (to_sign.error or "")
                             else Signing.UNDELIVERED)
        if not await tx.run(_SIGN, id=relay_id):
            return Signature(Signing.ALREADY)  # a second press at the same moment
        row = await tx.one(_ANSWER, id=relay_id)
    assert row is not None
    signed_answer = _ANSWER_ROW(row).as_sent(signed=True)
    if to_sign.sent_id is not None:
        return Signature(Signing.SIGNED, signed_answer, signed_answer.volunteer_id,
                         to_sign.sent_id)
    if to_sign.status is None and to_sign.message_id is not None:  # sent before the outbox
        return Signature(Signing.SIGNED, signed_answer, to_sign.chat_id, to_sign.message_id)
    return Signature(Signing.SIGNED, signed_answer)

