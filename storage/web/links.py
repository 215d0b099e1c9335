"""The web's links: each person's invite code, who came through whose, and what each
sees of the people they brought.

Counts are kept as the web grows (each person's generation and recruit count are written at
attribution), so /web reads a few aggregates instead of walking the tree.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from storage.database import Database
from storage.driver import SQL, Tx
from storage.outbox import Notice, NoticeKind, queue_in
from storage.personal import rejoin_key
from storage.rows import columns, reader

GOAL = 3  # everyone brings three
# Deep-link payloads: at most 64 characters of A-Za-z0-9_- (Telegram's own limit).
PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
CODE_BYTES = 12  # 16 url-safe characters: 96 random bits, unguessable


def new_invite_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


_CODE_OF = SQL.of("SELECT invite_code FROM users WHERE id = :id")
# A code someone holds already is not taken: the row keeps no code, and another is drawn.
# (The unique index's error is the driver's own, which nothing here could catch by one name.)
_SET_CODE = SQL.of("UPDATE users SET invite_code = :code WHERE id = :id AND invite_code IS NULL "
                   "AND NOT EXISTS (SELECT 1 FROM users other WHERE other.invite_code = :code)")


async def invite_code(db: Database, user_id: int) -> str:
    """The person's own invite code, made the first time it is asked for."""
    async with db.fast_read() as tx:
        row = await tx.one(_CODE_OF, id=user_id)
    if row is None:
        raise LookupError(user_id)
    for _draw in range(3):
        (code,) = row
        if code:
            return str(code)
        async with db.fast_write() as tx:
            await tx.run(_SET_CODE, code=new_invite_code(), id=user_id)
            row = await tx.one(_CODE_OF, id=user_id)
        if row is None:  # erased meanwhile
            return ""
    (code,) = row
    if code:
        return str(code)
    raise RuntimeError("could not draw a unique invite code")


@dataclass(frozen=True)
class Attribution:
    """A new person joined through someone's link."""

    referrer_id: int
    recruits: int  # the referrer's count, this join included
    # False: someone forgotten, back through the same link, who was counted already.
    counted: bool = True


@dataclass(frozen=True)
class Referrer:
    id: int
    generation: int


@dataclass(frozen=True)
class ForgottenNode:
    id: int
    recruits: int


_REFERRER_ROW, _NODE_ROW = reader(Referrer), reader(ForgottenNode)
_REFERRER = SQL.of(f"SELECT {columns(Referrer)} FROM users WHERE invite_code = :code")
# referred_by IS NULL: the first referrer wins, even when two joins race.
_ATTACH = SQL.of("UPDATE users SET referred_by = :referrer, generation = :generation "
                 "WHERE id = :id AND referred_by IS NULL AND recruits = 0 AND id <> :referrer")
_COUNT_RECRUIT = SQL.of("UPDATE users SET recruits = recruits + 1 WHERE id = :id "
                        "RETURNING recruits")
_RECRUITS = SQL.of("SELECT recruits FROM users WHERE id = :id")
_FORGOTTEN_NODE = SQL.of(f"SELECT {columns(ForgottenNode)} FROM users WHERE rejoin_key = :key "
                         "AND referred_by = :referrer AND forgotten")
_DROP_NODE = SQL.of("DELETE FROM users WHERE id = :id")
# A node that brought people before keeps them, out of the referrer's count.
_DETACH_NODE = SQL.of("UPDATE users SET rejoin_key = NULL, referred_by = NULL WHERE id = :id")


async def attribute_referral(db: Database, new_user_id: int, payload: str, *,
                             rejoin_secret: bytes | None = None) -> Attribution | None:
    """Record that `new_user_id` came through the link with this payload, and queue the
    referrer's "joined through you" in the same transaction.

    The caller passes only people who have just arrived; anything else (an unknown or
    malformed code, one's own code, a person already attributed) changes nothing and
    returns None. Someone who erased their data and comes back through the same link takes
    their anonymous node's place: not counted, nobody told (needs the bot's secret, which
    made the node's key)."""
    if not PAYLOAD.fullmatch(payload):
        return None
    async with db.fast_write() as tx:
        row = await tx.one(_REFERRER, code=payload)
        if row is None:
            return None
        return await attach_in(tx, _REFERRER_ROW(row), new_user_id, rejoin_secret)


_REFERRER_BY_ID = SQL.of(f"SELECT {columns(Referrer)} FROM users WHERE id = :id "
                         "AND NOT forgotten")


async def referrer_of(tx: Tx, user_id: int) -> Referrer | None:
    """Someone who can bring people (not an erased node)."""
    row = await tx.one(_REFERRER_BY_ID, id=user_id)
    return None if row is None else _REFERRER_ROW(row)


async def attach_in(tx: Tx, referrer: Referrer, new_user_id: int,
                    rejoin_secret: bytes | None) -> Attribution | None:
    """`new_user_id` joins the web under `referrer`, in the caller's transaction: counted
    and the referrer told, or (a rejoin of someone forgotten) put back in their node."""
    if referrer.id == new_user_id or not await tx.run(
            _ATTACH, referrer=referrer.id, generation=referrer.generation + 1,
            id=new_user_id):
        return None
    if rejoin_secret is not None:
        node = await tx.one(_FORGOTTEN_NODE, referrer=referrer.id,
                            key=rejoin_key(rejoin_secret, new_user_id, referrer.id))
        if node is not None:
            forgotten = _NODE_ROW(node)
            await tx.run(_DETACH_NODE if forgotten.recruits else _DROP_NODE,
                         id=forgotten.id)
            (recruits,) = await tx.one(_RECRUITS, id=referrer.id) or (0,)
            return Attribution(referrer.id, int(recruits), counted=False)
    (recruits,) = await tx.one(_COUNT_RECRUIT, id=referrer.id) or (0,)
    # Keyed by the count, not by the newcomer: an outbox key names its recipient only.
    await queue_in(tx, [Notice(f"web-joined:{referrer.id}:{recruits}",
                               NoticeKind.WEB_JOINED, referrer.id,
                               {"recruit": new_user_id, "n": int(recruits)})])
    return Attribution(referrer.id, int(recruits))


@dataclass(frozen=True)
class Progress:
    code: str
    recruits: list[str]  # first names, in the order they joined ("" for someone erased)
    leaderboard_opt_out: bool

    @property
    def count(self) -> int:
        return len(self.recruits)


@dataclass(frozen=True)
class Recruit:
    first_name: str
    forgotten: bool


_RECRUIT = reader(Recruit)
_RECRUITS_OF = SQL.of(f"SELECT {columns(Recruit)} FROM users WHERE referred_by = :id "
                      "ORDER BY created_at, id")
_OPT_OUT = SQL.of("SELECT leaderboard_opt_out FROM users WHERE id = :id")


async def progress(db: Database, user_id: int) -> Progress:
    code = await invite_code(db, user_id)
    async with db.fast_read() as tx:
        recruits = [_RECRUIT(row) for row in await tx.all(_RECRUITS_OF, id=user_id)]
        (opt_out,) = await tx.one(_OPT_OUT, id=user_id) or (False,)
    return Progress(code, ["" if r.forgotten else r.first_name for r in recruits],
                    bool(opt_out))


_SET_OPT_OUT = SQL.of("UPDATE users SET leaderboard_opt_out = :opt_out WHERE id = :id "
                      "AND leaderboard_opt_out <> :opt_out")


async def set_leaderboard_opt_out(db: Database, user_id: int, opt_out: bool) -> bool:
    """Leave the rankings (or come back). False if it was so already: a double tap."""
    async with db.fast_write() as tx:
        return await tx.run(_SET_OPT_OUT, opt_out=opt_out, id=user_id) == 1
