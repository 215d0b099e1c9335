"""The electoral silence (Code électoral, art. L49): from 00:00 on the eve of a round until
its polls close, the campaign sends no campaign message and its phone bank is closed.

`silence_at` is the one rule: the deliverer, the ticks, the phone bank, the broadcast
composer and /stats all ask it, and nothing else decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage import clock
from storage.models import Campaign

POLLS_CLOSE = "20:00"  # the law's latest closing time on the mainland, when a round names none


@dataclass(frozen=True)
class Silence:
    round_name: str
    round_date: date
    starts_at: datetime  # aware UTC: 00:00 on the eve, campaign time
    ends_at: datetime  # aware UTC: the polls close on the round's day

    def local(self, campaign: Campaign) -> tuple[datetime, datetime]:
        """Its start and end in the campaign's time zone, to show."""
        tz = ZoneInfo(campaign.timezone)
        return self.starts_at.astimezone(tz), self.ends_at.astimezone(tz)


def silences(campaign: Campaign | None) -> list[Silence]:
    """Every round's silence, in date order."""
    if campaign is None:
        return []
    tz = ZoneInfo(campaign.timezone)
    found = []
    for entry in campaign.rounds or []:
        day = date.fromisoformat(entry["date"])
        close = time.fromisoformat(entry.get("polls_close") or POLLS_CLOSE)
        starts = datetime.combine(day - timedelta(days=1), time(0), tzinfo=tz)
        ends = datetime.combine(day, close, tzinfo=tz)
        found.append(Silence(entry["name"], day, starts.astimezone(UTC), ends.astimezone(UTC)))
    return found


def silence_at(campaign: Campaign | None, moment: datetime | None = None) -> Silence | None:
    """The silence `moment` (now by default) falls in, if any: its end says when it lifts."""
    return silence_in(silences(campaign), moment)


def silence_in(periods: Iterable[Silence], moment: datetime | None = None) -> Silence | None:
    """The same, among silences computed once (the queue's rules keep them)."""
    moment = moment or clock.utcnow()
    return next((s for s in periods if s.starts_at <= moment < s.ends_at), None)


def next_silence(campaign: Campaign | None, moment: datetime | None = None) -> Silence | None:
    """The silence under way, else the next one to come (for organizers to see ahead)."""
    moment = moment or clock.utcnow()
    return next((s for s in silences(campaign) if moment < s.ends_at), None)


def outside_silence(campaign: Campaign | None, moment: datetime) -> datetime:
    """`moment`, or the end of the silence it falls in: the first time a campaign message
    may go."""
    silence = silence_at(campaign, moment)
    return moment if silence is None else silence.ends_at
