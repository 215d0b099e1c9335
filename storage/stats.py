"""Counts for volunteers (/me) and the campaign's day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from storage import clock
from storage.campaigns import local_day_start
from storage.database import Database
from storage.models import RELEASE_OUTCOMES, Call, Campaign

call_t = Call.__table__  # type: ignore[attr-defined]
_RELEASES = [o.value for o in RELEASE_OUTCOMES]


@dataclass(frozen=True)
class VolunteerCounts:
    today: dict[str, int]
    total: dict[str, int]
    campaign_today: int
    campaign_morning: int

    @property
    def today_calls(self) -> int:
        return sum(self.today.values())

    @property
    def total_calls(self) -> int:
        return sum(self.total.values())


async def _by_outcome(session, *conditions) -> dict[str, int]:  # type: ignore[no-untyped-def]
    rows = await session.execute(
        select(call_t.c.outcome, func.count()).where(
            *conditions, call_t.c.outcome.not_in(_RELEASES)).group_by(call_t.c.outcome))
    return {outcome: count for outcome, count in rows}


async def volunteer_counts(db: Database, campaign: Campaign, volunteer_id: int,
                           now: datetime | None = None) -> VolunteerCounts:
    now = now or clock.utcnow()
    day = local_day_start(campaign, now)
    noon = day + timedelta(hours=13)  # "this morning": calls before 13:00 local
    async with db.read() as session:
        mine = call_t.c.volunteer_id == volunteer_id
        today = await _by_outcome(session, mine, call_t.c.created_at >= day)
        total = await _by_outcome(session, mine)
        campaign_calls = select(func.count()).where(
            call_t.c.campaign_id == campaign.id, call_t.c.outcome.not_in(_RELEASES),
            call_t.c.created_at >= day)
        campaign_today = (await session.execute(campaign_calls)).scalar_one()
        campaign_morning = (await session.execute(
            campaign_calls.where(call_t.c.created_at < noon))).scalar_one()
    return VolunteerCounts(today, total, campaign_today, campaign_morning)
