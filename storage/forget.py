"""/forget: erase a person from everything the campaign stores, in one transaction, by the
map of personal data (storage/personal.py)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import String, cast, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from storage.database import Database
from storage.models import (
    LIVE_MATCH,
    AuditLog,
    Outbox,
    ProxyMatch,
    ProxyRequest,
    ProxySlot,
    Relay,
    User,
)
from storage.outbox import NoticeKind
from storage.personal import PERSON_PARAMS, PERSONAL_DATA, How, rejoin_key


@dataclass(frozen=True)
class Forgetting:
    session: AsyncSession
    user_id: int
    anonymous: int  # negative: never a Telegram id
    rejoin_secret: bytes | None

    def replace_id(self, text: str) -> str:
        """The id as a whole number (not inside a longer one, nor a group's negative id)."""
        return re.sub(rf"(?<![0-9-]){self.user_id}(?![0-9])", str(self.anonymous), text)


async def forget_person(db: Database, user_id: int, *,
                        rejoin_secret: bytes | None = None) -> None:
    """Erase the person. What stays is anonymous: their calls, counted under an anonymous
    id; their node in the spider's web, so that the people they brought still count; the
    questions they asked, so that a late reply is told it reaches nobody. Whatever they held
    goes back to the others: a card to the queue, a shift's place, the other side of a
    proxy match. With the bot's secret, a recruit's node keeps a keyed hash that tells a
    rejoin through the same link (storage.web.attribute_referral)."""
    anonymous = -(secrets.randbelow(2**62) + 1)
    async with db.write() as session:
        forgetting = Forgetting(session, user_id, anonymous, rejoin_secret)
        for name in ("proxies", "relay", "outbox", "audit"):
            await STEPS[name](forgetting)
        await _by_the_map(forgetting)
        await STEPS["web"](forgetting)


async def _by_the_map(f: Forgetting) -> None:
    """The rules that need nothing but the map: delete the person's rows, clear or
    anonymise the columns that name them."""
    for table_name, columns in PERSONAL_DATA.items():
        table = SQLModel.metadata.tables[table_name]
        for column, rule in columns.items():
            if rule.step is not None:
                continue
            where = table.c[column] == f.user_id
            if rule.how is How.ROW:
                await f.session.execute(delete(table).where(where))
            elif rule.how in (How.NULL, How.ANONYMOUS):
                value = None if rule.how is How.NULL else f.anonymous
                await f.session.execute(update(table).where(where)
                                        .values({column: value, **rule.also}))


async def _forget_proxies(f: Forgetting) -> None:
    """Their needs and offers go, with their matches; whoever was matched with them goes
    back to the queue (a need reopens, an offer's room is freed)."""
    session = f.session
    mine = select(ProxyRequest.id).where(ProxyRequest.user_id == f.user_id)
    matches = list((await session.execute(select(ProxyMatch).where(
        (ProxyMatch.need_id.in_(mine)) | (ProxyMatch.offer_id.in_(mine))))).scalars())
    mine_ids = set((await session.execute(mine)).scalars())
    for match in matches:
        await session.execute(delete(ProxySlot).where(ProxySlot.match_id == match.id))
        # (Their own need, reopened here, is deleted just below.) A giver whose holder
        # leaves is back in the queue even once registered: that proxy is void now.
        await session.execute(update(ProxyRequest).where(
            ProxyRequest.id == match.need_id,
            ProxyRequest.status.in_(["matched", "registered"])).values(status="open"))
        if match.status in LIVE_MATCH:
            await _tell_the_other_side(f, match, mine_ids)
        # The match's own messages go with it: on SQLite a later match may be given the
        # same id, and its proposals' keys must be free for it.
        await session.execute(delete(Outbox).where(
            Outbox.kind.startswith("proxy_"), Outbox.params["match"].as_integer() == match.id))
        await session.delete(match)
    await session.flush()
    await session.execute(delete(ProxyRequest).where(ProxyRequest.user_id == f.user_id))


async def _tell_the_other_side(f: Forgetting, match: ProxyMatch, mine: set[int]) -> None:
    """As for a withdrawal: the other side of a live match hears that it ended (the pass
    matches them again within a minute). The key carries the anonymous id, never reused."""
    other = match.offer_id if match.need_id in mine else match.need_id
    if other in mine:
        return
    other_user = (await f.session.execute(
        select(ProxyRequest.user_id).where(ProxyRequest.id == other))).scalar_one_or_none()
    if other_user is None:  # off Telegram: organizers see the need open again in /proxies
        return
    f.session.add(Outbox(key=f"proxy-forgotten:{f.anonymous}:{match.id}",
                         kind=NoticeKind.PROXY_CANCELLED.value, chat_id=other_user, params={},
                         quiet_hours=False))


async def _forget_relay(f: Forgetting) -> None:
    """Answers delivered to them go (their chat, the text); their questions stay under the
    anonymous id, so that an organizer replying later is told it reaches nobody."""
    await f.session.execute(delete(Relay).where(Relay.volunteer_id == f.user_id,
                                                Relay.answer.is_not(None)))
    await f.session.execute(update(Relay).where(Relay.volunteer_id == f.user_id)
                            .values(volunteer_id=f.anonymous, question=None))


async def _forget_outbox(f: Forgetting) -> None:
    """Messages for them go, except a broadcast's: those stay for its counts, under the
    anonymous id, skipped if not sent. Messages for others that name them by id (the
    referrer's "joined through you") name the anonymous id instead."""
    session = f.session
    await session.execute(delete(Outbox).where(Outbox.chat_id == f.user_id,
                                               Outbox.batch.is_(None)))
    for row in (await session.execute(select(Outbox).where(
            Outbox.chat_id == f.user_id))).scalars():
        row.chat_id = f.anonymous
        row.key = f.replace_id(row.key)
        if row.status in ("pending", "claimed"):
            row.status, row.error = "skipped", "erased"
    for row in (await session.execute(select(Outbox).where(
            cast(Outbox.params, String).like(f"%{f.user_id}%")))).scalars():
        params = dict(row.params or {})
        for name in PERSON_PARAMS:
            if params.get(name) == f.user_id:
                params[name] = f.anonymous
        row.params = params
    await session.flush()


async def _forget_in_the_audit(f: Forgetting) -> None:
    """The people an act was about ("user=<id>") become their anonymous id. The actor stays:
    only organizers' acts are audited, and the log holds them accountable."""
    for entry in (await f.session.execute(select(AuditLog).where(
            AuditLog.detail.like(f"%{f.user_id}%")))).scalars():
        entry.detail = f.replace_id(entry.detail)
    await f.session.flush()


async def _forget_in_the_web(f: Forgetting) -> None:
    """The row goes. A recruit's node, or the node of someone who brought people, stays
    under the anonymous id: nothing of the person, only the web's shape (and, for a recruit,
    the keyed hash that tells a rejoin through the same link)."""
    session = f.session
    user = await session.get(User, f.user_id)
    if user is None:
        return
    if user.referred_by is not None or user.recruits:
        key = None
        if f.rejoin_secret is not None and user.referred_by is not None:
            key = rejoin_key(f.rejoin_secret, f.user_id, user.referred_by)
            # A node from an earlier erasure through the same link gives it up.
            await session.execute(update(User).where(User.rejoin_key == key)
                                  .values(rejoin_key=None))
        session.add(User(id=f.anonymous, forgotten=True, stopped=True,
                         referred_by=user.referred_by, generation=user.generation,
                         recruits=user.recruits, created_at=user.created_at, nudges_sent=3,
                         rejoin_key=key))
        await session.flush()
        await session.execute(update(User).where(User.referred_by == f.user_id)
                              .values(referred_by=f.anonymous))
    await session.delete(user)


STEPS: dict[str, Callable[[Forgetting], Awaitable[None]]] = {
    "proxies": _forget_proxies,
    "relay": _forget_relay,
    "outbox": _forget_outbox,
    "audit": _forget_in_the_audit,
    "web": _forget_in_the_web,
}
