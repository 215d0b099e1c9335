"""Calling hours in the contact's own time: which zones are inside the campaign's calling
hours right now.

A contact carries its zone (storage.phones.zone_for; '' for the campaign's own). Rather than
a local time computed for every row, the claim gets the handful of zones open this minute and
takes the first contact of each along the queue index (which starts with the zone), then the
first of those. The list changes at most once a minute (calling hours are whole minutes), so
it is computed once a minute, of the zones the queue holds then (a few index probes), so that
the claim probes a handful of zones, not the ~150 open on Earth at any time. A contact in a
zone new to the queue within the minute (imported by another process, or woken from a retry)
waits for the next minute; an import in this process starts the next claim afresh.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from storage.database import Database
from storage.driver import SQL, Tx
from storage.phones import CAMPAIGN_ZONE, ZONES

# The zones of queued contacts with a clock of their own, one index probe each (a skip scan
# written out: neither database skips along an index by itself for DISTINCT).
_QUEUED = "status = 'open' AND NOT waiting"
ZONES_QUEUED = SQL.of(
    "WITH RECURSIVE z(zone) AS (SELECT min(zone) FROM contact WHERE campaign_id = :campaign_id "
    f"AND zone <> '' AND {_QUEUED} UNION ALL SELECT (SELECT min(zone) FROM contact "
    f"WHERE campaign_id = :campaign_id AND zone <> '' AND {_QUEUED} AND zone > z.zone) "
    "FROM z WHERE z.zone IS NOT NULL) SELECT zone FROM z WHERE zone IS NOT NULL")


@dataclass(frozen=True)
class OpenZones:
    """The zones open now, as each driver takes a list: asyncpg an array, SQLite a JSON
    array (read with json_each)."""

    zones: frozenset[str]
    sqlite: str
    postgres: list[str]

    def param(self, is_sqlite: bool) -> str | list[str]:
        return self.sqlite if is_sqlite else self.postgres


async def queue_zones_open(db: Database, tx: Tx, campaign_id: int, start: str, end: str,
                           now: datetime) -> OpenZones:
    """The zones of the campaign's queue open now, read once a minute (per Database)."""
    minute = now.replace(second=0, microsecond=0)
    cached = db.zone_cache.get(campaign_id)
    if cached is not None and cached[0] == minute:
        return cached[1]
    present = frozenset(str(zone) for (zone,) in await tx.all(ZONES_QUEUED,
                                                                campaign_id=campaign_id))
    every = _open_at(start, end, minute)
    zones = every.zones & (present | {CAMPAIGN_ZONE})
    ordered = sorted(zones)
    result = OpenZones(zones, json.dumps(ordered), ordered)
    db.zone_cache[campaign_id] = (minute, result)
    return result


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
    return OpenZones(frozenset(zones), json.dumps(ordered), ordered)
