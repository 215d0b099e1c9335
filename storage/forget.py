"""/forget: erase a person from everything the campaign stores, in one transaction, by the
map of personal data (storage/personal.py).

The statements are made once, at import: those the map alone says (delete the person's
rows, clear or anonymise a column that names them) from the map itself, one per rule, and
those of the steps the map names, written out below. Each takes the person's id as
`:user_id` and their anonymous id as `:anonymous`."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from storage import clock
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import (
    LIVE_MATCH,
    OutboxStatus,
    ProxyKind,
    ProxyRequestStatus,
    VolunteerStatus,
)
from storage.outbox import Notice, NoticeKind, queue_in
from storage.personal import PERSON_PARAMS, PERSONAL_DATA, How, Rule, rejoin_key
from storage.proxies.matching import SERIALIZE
from storage.rows import columns, reader


def _by_the_rule(table: str, column: str, rule: Rule) -> tuple[str, dict[str, Any]] | None:
    """The statement a rule that needs nothing but the map says, with its fixed values."""
    if rule.step is not None or rule.how not in (How.ROW, How.NULL, How.ANONYMOUS):
        return None
    where = f"WHERE {column} = :user_id"
    if rule.how is How.ROW:
        return f"DELETE FROM {table} {where}", {}
    value = "NULL" if rule.how is How.NULL else ":anonymous"
    sets = ", ".join([f"{column} = {value}"] + [f"{name} = :also_{name}" for name in rule.also])
    return f"UPDATE {table} SET {sets} {where}", {f"also_{n}": v for n, v in rule.also.items()}


_RULES = [made for table, rules in PERSONAL_DATA.items() for column, rule in rules.items()
          if (made := _by_the_rule(table, column, rule)) is not None]
BY_THE_MAP: tuple[tuple[SQL, dict[str, Any]], ...] = tuple(
    (SQL.of(text), fixed) for text, fixed in _RULES)


@dataclass(frozen=True)
class Forgetting:
    tx: Tx
    user_id: int
    anonymous: int  # negative: never a Telegram id
    rejoin_secret: bytes | None

    def replace_id(self, text: str) -> str:
        """The id as a whole number (not inside a longer one, nor a group's negative id)."""
        return re.sub(rf"(?<![0-9-]){self.user_id}(?![0-9])", str(self.anonymous), text)

    async def run(self, sql: SQL, **fixed: Any) -> int:
        """A statement given the ids it names (each takes `:user_id`, some `:anonymous`)."""
        ids = {"user_id": self.user_id, "anonymous": self.anonymous}
        return await self.tx.run(sql, **{name: ids[name] for name in sql.names
                                         if name in ids}, **fixed)


async def forget_person(db: Database, user_id: int, *,
                        rejoin_secret: bytes | None = None) -> None:
    """Erase the person. What stays is anonymous: their calls, counted under an anonymous
    id; their node in the spider's web, so that the people they brought still count; the
    questions they asked, so that a late reply is told it reaches nobody. Whatever they held
    goes back to the others: a card to the queue, a shift's place, the other side of a
    proxy match. With the bot's secret, a recruit's node keeps a keyed hash that tells a
    rejoin through the same link (storage.web.attribute_referral)."""
    anonymous = -(secrets.randbelow(2**62) + 1)
    # In the driver's thread on SQLite: a few scans of whole tables (the outbox, the log).
    async with db.fast_write(long=True) as tx:
        # Behind the matching lock, as every matching is: on PostgreSQL a match made with
        # their need while they were erased failed one of the two (the erasure, a match
        # pointing at the need; or the matching, a need no longer there: a pass's wave).
        await tx.one(SERIALIZE)
        forgetting = Forgetting(tx, user_id, anonymous, rejoin_secret)
        for name in ("proxies", "relay", "outbox", "audit"):
            await STEPS[name](forgetting)
        for sql, fixed in BY_THE_MAP:
            await forgetting.run(sql, **fixed)
        await STEPS["web"](forgetting)


# ---- their proxy needs and offers -----------------------------------------------------------

def _quoted(values: Iterable[object]) -> str:
    return ", ".join(f"'{value}'" for value in values)


_MINE = "(SELECT id FROM proxy_request WHERE user_id = :user_id)"
_THEIR_MATCHES = f"(SELECT id FROM proxy_match WHERE need_id IN {_MINE} OR offer_id IN {_MINE})"
_THEIR_MATCH_IDS = SQL.of(_THEIR_MATCHES[1:-1])
# The other side of each live match of theirs, if on Telegram and not themselves.
_OTHER_SIDES = SQL.of(
    "SELECT m.id, other.user_id FROM proxy_match m JOIN proxy_request other ON other.id = "
    f"CASE WHEN m.need_id IN {_MINE} THEN m.offer_id ELSE m.need_id END "
    f"WHERE m.id IN {_THEIR_MATCHES} AND m.status IN ({_quoted(LIVE_MATCH)}) "
    "AND other.user_id IS NOT NULL AND other.user_id <> :user_id ORDER BY m.id")
# (Their own needs, reopened here, are deleted below.) A giver whose holder leaves is back
# in the queue even once registered: that proxy is void now.
_REOPEN_NEEDS = SQL.of(
    f"UPDATE proxy_request SET status = '{ProxyRequestStatus.OPEN}' WHERE id IN "
    f"(SELECT need_id FROM proxy_match WHERE id IN {_THEIR_MATCHES}) AND status IN "
    f"('{ProxyRequestStatus.MATCHED}', '{ProxyRequestStatus.REGISTERED}')")
_FREE_SLOTS = SQL.of(f"DELETE FROM proxy_slot WHERE match_id IN {_THEIR_MATCHES}")
# A holder whose giver leaves has their place back: their offer is open again.
_REOPEN_OFFERS = SQL.of(
    f"UPDATE proxy_request SET status = '{ProxyRequestStatus.OPEN}' WHERE id IN "
    f"(SELECT offer_id FROM proxy_match WHERE id IN {_THEIR_MATCHES}) AND kind = "
    f"'{ProxyKind.OFFER}' AND status = '{ProxyRequestStatus.MATCHED}'")
# The matches' own messages go with them: on SQLite a later match may be given the same id,
# and its proposals' keys must be free for it.
_PROXY_KINDS = _quoted(kind.value for kind in NoticeKind if kind.value.startswith("proxy_"))
_MATCHES_MESSAGES = SQL.dialects(
    f"DELETE FROM outbox WHERE kind IN ({_PROXY_KINDS}) AND CAST(json_extract(params, "
    f"'$.match') AS INTEGER) IN {_THEIR_MATCHES}",
    f"DELETE FROM outbox WHERE kind IN ({_PROXY_KINDS}) AND CAST(params ->> 'match' "
    f"AS INTEGER) IN {_THEIR_MATCHES}")
_DROP_MATCHES = SQL.of(f"DELETE FROM proxy_match WHERE id IN {_THEIR_MATCHES}")
_DROP_REQUESTS = SQL.of("DELETE FROM proxy_request WHERE user_id = :user_id")
# The asks for a need of theirs, and those still to go (keyed by the need's id, which SQLite
# may give a later need).
_DROP_ASKS = SQL.of(f"DELETE FROM proxy_ask WHERE need_id IN {_MINE}")
_ASKS_MESSAGES = SQL.dialects(
    f"DELETE FROM outbox WHERE kind = '{NoticeKind.PROXY_ASK}' AND CAST(json_extract("
    f"params, '$.need') AS INTEGER) IN {_MINE}",
    f"DELETE FROM outbox WHERE kind = '{NoticeKind.PROXY_ASK}' AND CAST(params ->> 'need' "
    f"AS INTEGER) IN {_MINE}")


async def _forget_proxies(f: Forgetting) -> None:
    """Their needs and offers go, with their matches; whoever was matched with them goes
    back to the queue (a need reopens, an offer's room is freed). The other side of a live
    match hears that it ended, as for a withdrawal (the pass matches them again within a
    minute); the key carries the anonymous id, never reused. Someone off Telegram has
    nobody to tell: organizers see the need open again in /proxies. The asks for a need of
    theirs go with it."""
    await f.run(_ASKS_MESSAGES)
    await f.run(_DROP_ASKS)
    if not await f.tx.all(_THEIR_MATCH_IDS, user_id=f.user_id):
        await f.run(_DROP_REQUESTS)
        return
    others = await f.tx.all(_OTHER_SIDES, user_id=f.user_id)
    await queue_in(f.tx, [Notice(f"proxy-forgotten:{f.anonymous}:{match_id}",
                                 NoticeKind.PROXY_CANCELLED, int(other_user))
                          for match_id, other_user in others], due_at=clock.utcnow())
    for sql in (_REOPEN_NEEDS, _REOPEN_OFFERS, _FREE_SLOTS, _MATCHES_MESSAGES, _DROP_MATCHES,
                _DROP_REQUESTS):
        await f.run(sql)


# ---- the relay, the outbox, the audit log ---------------------------------------------------

_DROP_ANSWERS = SQL.of("DELETE FROM relay WHERE volunteer_id = :user_id AND answer IS NOT NULL")
_ANONYMOUS_QUESTIONS = SQL.of("UPDATE relay SET volunteer_id = :anonymous, question = NULL "
                              "WHERE volunteer_id = :user_id")


async def _forget_relay(f: Forgetting) -> None:
    """Answers delivered to them go (their chat, the text); their questions stay under the
    anonymous id, so that an organizer replying later is told it reaches nobody."""
    await f.run(_DROP_ANSWERS)
    await f.run(_ANONYMOUS_QUESTIONS)


_DROP_MESSAGES = SQL.of("DELETE FROM outbox WHERE chat_id = :user_id AND batch IS NULL")
_BROADCAST_KEYS = SQL.of("SELECT id, key FROM outbox WHERE chat_id = :user_id ORDER BY id")
_UNWAITING = f"status IN ('{OutboxStatus.PENDING}', '{OutboxStatus.CLAIMED}')"
_ANONYMOUS_BROADCAST = SQL.of(
    f"UPDATE outbox SET chat_id = :anonymous, key = :key, status = CASE WHEN {_UNWAITING} "
    f"THEN '{OutboxStatus.SKIPPED}' ELSE status END, error = CASE WHEN {_UNWAITING} "
    "THEN 'erased' ELSE error END WHERE id = :id")
# Ids in params sit under known names (PERSON_PARAMS): the rows that hold the person under
# one of them, found in one pass over the outbox, each dialect reading JSON its own way
# (the value compared as a number on SQLite, as text on PostgreSQL: the rewrite below
# replaces exact numbers only).
@dataclass(frozen=True)
class Params:
    id: int
    key: str
    params: dict[str, Any]


_PARAMS_ROW = reader(Params)
# The id compared as text in both: what PostgreSQL's ->> gives, and a JSON number's text.
_NAMING_PARAMS = SQL.dialects(
    f"SELECT {columns(Params)} FROM outbox WHERE " + " OR ".join(
        f"CAST(json_extract(params, '$.{name}') AS TEXT) = :user_text"
        for name in PERSON_PARAMS),
    f"SELECT {columns(Params)} FROM outbox WHERE " + " OR ".join(
        f"params ->> '{name}' = :user_text" for name in PERSON_PARAMS))
# The key too: an organizers' alert about someone (`vol-request:<id>:…`, `paused:<id>:…`)
# names them in its key, one row for each organizer.
_PARAMS = SQL.of("UPDATE outbox SET params = :params, key = :key WHERE id = :id")


def _params_renamed(params: dict[str, Any], f: Forgetting) -> dict[str, Any]:
    return {name: f.anonymous if name in PERSON_PARAMS and value == f.user_id else value
            for name, value in params.items()}


async def _forget_outbox(f: Forgetting) -> None:
    """Messages for them go, except a broadcast's: those stay for its counts, under the
    anonymous id, skipped if not sent. Messages for others that name them by id (the
    referrer's "joined through you", the organizers' alerts) name the anonymous id
    instead, in their keys as in their params."""
    await f.run(_DROP_MESSAGES)
    kept = await f.tx.all(_BROADCAST_KEYS, user_id=f.user_id)
    await f.tx.many(_ANONYMOUS_BROADCAST, [
        {"anonymous": f.anonymous, "key": f.replace_id(str(key)), "id": int(row_id)}
        for row_id, key in kept])
    naming = await f.tx.all(_NAMING_PARAMS, user_text=str(f.user_id))
    await f.tx.many(_PARAMS, [
        {"params": json.dumps(_params_renamed(row.params, f)),
         "key": f.replace_id(row.key), "id": row.id}
        for row in map(_PARAMS_ROW, naming)])


_NAMING = SQL.of("SELECT id, detail FROM audit_log WHERE detail LIKE :pattern ORDER BY id")
_DETAIL = SQL.of("UPDATE audit_log SET detail = :detail WHERE id = :id")


async def _forget_in_the_audit(f: Forgetting) -> None:
    """The people an act was about ("user=<id>") become their anonymous id. The actor stays:
    only organizers' acts are audited, and the log holds them accountable."""
    entries = await f.tx.all(_NAMING, pattern=f"%{f.user_id}%")
    await f.tx.many(_DETAIL, [{"detail": f.replace_id(str(detail)), "id": int(entry_id)}
                              for entry_id, detail in entries])


# ---- the spider's web -----------------------------------------------------------------------

@dataclass(frozen=True)
class Node:
    referred_by: int | None
    recruits: int


_NODE = reader(Node)
_NODE_OF = SQL.of(f"SELECT {columns(Node)} FROM users WHERE id = :user_id")
_GIVE_UP_KEY = SQL.of("UPDATE users SET rejoin_key = NULL WHERE rejoin_key = :key")
# Nothing of the person, only the web's shape: generation, recruits, when they joined.
_ANONYMOUS_NODE = SQL.of(
    "INSERT INTO users (id, first_name, is_organizer, organizer_by_config, organizer_by_cli, "
    "volunteer_status, trained, blocked, stopped, created_at, referred_by, generation, "
    "recruits, leaderboard_opt_out, nudges_sent, forgotten, rejoin_key, trusted, "
    "practice_calls) "
    f"SELECT CAST(:anonymous AS BIGINT), '', FALSE, FALSE, FALSE, '{VolunteerStatus.NONE}', "
    "FALSE, FALSE, TRUE, created_at, referred_by, generation, recruits, FALSE, 3, TRUE, "
    "CAST(:key AS VARCHAR), FALSE, 0 FROM users WHERE id = :user_id")
_RECRUITS_TO_THE_NODE = SQL.of("UPDATE users SET referred_by = :anonymous "
                               "WHERE referred_by = :user_id")
_DROP_PERSON = SQL.of("DELETE FROM users WHERE id = :user_id")


async def _forget_in_the_web(f: Forgetting) -> None:
    """The row goes. A recruit's node, or the node of someone who brought people, stays
    under the anonymous id: nothing of the person, only the web's shape (and, for a recruit,
    the keyed hash that tells a rejoin through the same link)."""
    row = await f.tx.one(_NODE_OF, user_id=f.user_id)
    if row is None:
        return
    node = _NODE(row)
    if node.referred_by is not None or node.recruits:
        key = None
        if f.rejoin_secret is not None and node.referred_by is not None:
            key = rejoin_key(f.rejoin_secret, f.user_id, node.referred_by)
            # A node from an earlier erasure through the same link gives it up.
            await f.tx.run(_GIVE_UP_KEY, key=key)
        await f.run(_ANONYMOUS_NODE, key=key)
        await f.run(_RECRUITS_TO_THE_NODE)
    await f.run(_DROP_PERSON)


STEPS: Mapping[str, Callable[[Forgetting], Awaitable[None]]] = {
    "proxies": _forget_proxies,
    "relay": _forget_relay,
    "outbox": _forget_outbox,
    "audit": _forget_in_the_audit,
    "web": _forget_in_the_web,
}
