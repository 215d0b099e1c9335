"""What the proxy tick does besides the pass: proposals left unanswered end, voter
details go after their campaign's last round, and the day's reminders are queued."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from storage import clock
from storage.database import Database
from storage.driver import SQL
from storage.models import Campaign, ProxyMatchStatus
from storage.outbox import REACHABLE_ORGANIZERS, Notice, NoticeKind, queue_in
from storage.proxies.answers import REOPEN_NEED, free_places
from storage.proxies.matching import SERIALIZE
from storage.proxies.notices import queue_to_both
from storage.proxies.rules import (
    CONFIRMED,
    EXPIRED,
    MATCH_REGISTERED,
    PROPOSAL_HOURS,
    PROPOSED,
    stored_dates,
)
from storage.proxies.views import MATCHES, READ_MATCH, MatchView
from storage.rows import columns, reader


@dataclass(frozen=True)
class _Expired:
    id: int
    need_id: int


_EXPIRED = SQL.of(f"SELECT {columns(_Expired)} FROM proxy_match WHERE status = {PROPOSED} "
                  "AND expires_at <= :now")
_READ_EXPIRED = reader(_Expired)
_EXPIRE = SQL.of(f"UPDATE proxy_match SET status = {EXPIRED}, decided_at = :now WHERE id = :id")


async def expire_proposals(db: Database, now: datetime | None = None) -> list[int]:
    """Proposals unanswered for 24 hours end; their needs go back to the queue (the next
    pass matches them); each side on Telegram is told, in the same transaction."""
    now = now or clock.utcnow()
    async with db.fast_write() as tx:
        await tx.one(SERIALIZE)
        expired = [_READ_EXPIRED(row) for row in await tx.all(_EXPIRED, now=now)]
        for match in expired:
            await tx.run(_EXPIRE, now=now, id=match.id)
            await free_places(tx, match.id)
            await tx.run(REOPEN_NEED, id=match.need_id)
            await queue_to_both(tx, match.id, "proxy-expired", NoticeKind.PROXY_DECLINED)
    return [match.id for match in expired]


@dataclass(frozen=True)
class _CampaignRounds:
    id: int
    rounds: list[dict[str, Any]] | None
    timezone: str


_CAMPAIGN_ROUNDS = SQL.of(f"SELECT {columns(_CampaignRounds)} FROM campaign ORDER BY id")
_READ_CAMPAIGN_ROUNDS = reader(_CampaignRounds)
_ERASE = SQL.of(
    "UPDATE proxy_match SET holder_voter_number = NULL, holder_birth_date = NULL "
    "WHERE (holder_voter_number IS NOT NULL OR holder_birth_date IS NOT NULL) "
    "AND need_id IN (SELECT id FROM proxy_request WHERE campaign_id = :campaign_id)")


async def erase_voter_details(db: Database, now: datetime | None = None) -> int:
    """Voter numbers and dates of birth go the day after the last round of their own
    campaign (in its time zone), whichever campaign is active, with rounds or not."""
    now = now or clock.utcnow()
    erased = 0
    async with db.fast_write() as tx:
        for row in await tx.all(_CAMPAIGN_ROUNDS):
            campaign = _READ_CAMPAIGN_ROUNDS(row)
            dates = stored_dates(campaign.rounds)
            if dates and now.astimezone(ZoneInfo(campaign.timezone)).date() > (
                    date.fromisoformat(max(dates))):
                erased += await tx.run(_ERASE, campaign_id=campaign.id)
    return erased


_REMINDABLE = SQL.of(MATCHES + f" WHERE status IN ({CONFIRMED}, {MATCH_REGISTERED})")


def _reminders(view: MatchView, now: datetime) -> list[Notice]:
    """To a giver not registered yet, the steps again, daily from the day after they came,
    while the holder's details are kept; to a holder, the eve of each of their rounds
    (both in their own campaign's time)."""
    tz = ZoneInfo(view.timezone)
    today = now.astimezone(tz).date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    proposed_on = (view.expires_at - timedelta(hours=PROPOSAL_HOURS)).astimezone(tz).date()
    rows = []
    if (view.status == ProxyMatchStatus.CONFIRMED and view.need.user_id is not None
            and view.voter_number and proposed_on < today):
        rows.append(Notice(f"proxy-register:{view.id}:{today}",
                           NoticeKind.PROXY_REGISTER_REMINDER, view.need.user_id,
                           {"match": view.id}, True))
    if tomorrow in view.rounds and view.offer.user_id is not None:
        rows.append(Notice(f"proxy-eve:{view.id}:{tomorrow}", NoticeKind.PROXY_EVE,
                           view.offer.user_id, {"match": view.id}, True))
    return rows


async def plan_proxy_reminders(db: Database, campaign: Campaign | None,
                               now: datetime | None = None) -> int:
    """The day's messages of live proxies, in one transaction: the reminders of each side
    (`_reminders`); to organizers, from 18:00 in `campaign`'s time, the day's summary.
    Keys carry the day: planning twice queues nothing twice. Returns the rows considered."""
    now = now or clock.utcnow()
    rows: list[Notice] = []
    async with db.fast_write() as tx:
        for row in await tx.all(_REMINDABLE):
            rows += _reminders(READ_MATCH(row).view(), now)
        if campaign is not None:
            local = now.astimezone(ZoneInfo(campaign.timezone))
            if local.hour >= 18:
                rows += [Notice(f"proxy-summary:{int(o)}:{local.date()}",
                                NoticeKind.PROXY_SUMMARY, int(o), {}, True)
                         for (o,) in await tx.all(REACHABLE_ORGANIZERS)]
        await queue_in(tx, rows)
    return len(rows)
