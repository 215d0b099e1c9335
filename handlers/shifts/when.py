"""The times organizers write: "18/06 14:00", "18/06/2026 14h", "14:00"."""

from __future__ import annotations

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

from storage import clock
from storage.models import Campaign
from storage.shifts import ShiftError

_WHEN = re.compile(r"\s*(?:(\d{1,2})/(\d{1,2})(?:/(\d{4}))?\s+)?(\d{1,2})[:hH](\d{2})?\s*")


def parse_when(text: str, campaign: Campaign | None, base: datetime | None = None) -> datetime:
    """"18/06 14:00", "18/06/2026 14h", or "14:00" (the day of `base`), in the campaign's
    time zone; ShiftError("when") for anything else."""
    tz = ZoneInfo(campaign.timezone if campaign else "Europe/Paris")
    match = _WHEN.fullmatch(text)
    if match is None:
        raise ShiftError("when")
    day, month, year, hour, minute = match.groups()
    ref = (base or clock.utcnow()).astimezone(tz)
    try:
        local = datetime.combine(
            ref.date().replace(year=int(year or ref.year), month=int(month or ref.month),
                               day=int(day or ref.day)),
            time(int(hour), int(minute or 0)), tzinfo=tz)
    except ValueError as exc:
        raise ShiftError("when") from exc
    return local.astimezone(ZoneInfo("UTC"))
