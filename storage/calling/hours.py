"""Calling hours in the contact's own time: which zones are inside the campaign's calling
hours right now.

A contact carries its zone (storage.phones.zone_for; '' for the campaign's own). Rather than
a local time computed for every row, the claim gets the handful of zones open this minute and
keeps only contacts in one of them, along the queue index's own order. The list changes at
most once a minute (calling hours are whole minutes), so it is computed once a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from storage.phones import CAMPAIGN_ZONE, ZONES


@dataclass(frozen=True)
class OpenZones:
    """The zones open now, as each driver takes a list: asyncpg an array, SQLite a string
    searched with instr() ('|' around each, so '' is '||')."""

    zones: frozenset[str]
    sqlite: str
    postgres: list[str]

    def param(self, is_sqlite: bool) -> str | list[str]:
        return self.sqlite if is_sqlite else self.postgres


def open_zones(start: str, end: str, now: datetime) -> OpenZones:
    """The zones where it is between `start` and `end` (HH:MM) at `now`, and '': contacts in
    the campaign's own zone follow the phone bank's hours, which the handlers check before
    any claim (storage.campaigns.calling_window)."""
    return _open_at(start, end, now.replace(second=0, microsecond=0))


@lru_cache(maxsize=16)
def _open_at(start: str, end: str, minute: datetime) -> OpenZones:
    opens, closes = time.fromisoformat(start), time.fromisoformat(end)

    def is_open(zone: str) -> bool:
        return opens <= minute.astimezone(ZoneInfo(zone)).time() < closes

    zones = {zone for zone in ZONES if is_open(zone)} | {CAMPAIGN_ZONE}
    ordered = sorted(zones)
    return OpenZones(frozenset(zones), "|" + "|".join(ordered) + "|", ordered)
