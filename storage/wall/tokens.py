"""The secret in the wall's address: one random token a campaign, made on the first
`/wall`, replaced by `/wall revoke` (the old address answers 404 at once), and refused
once the campaign's last round is over. Audited: who opened the room's screen, and who
closed it. A campaign that is no longer the active one (another was loaded) opens no
wall either: the calls go to the active one, and its screen would show 0 all day. The
token itself is never written to the audit log or any log."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage import clock
from storage.audit import write_audit_in
from storage.campaigns import CAMPAIGN_BY_ID
from storage.database import Database
from storage.driver import SQL
from storage.models import Campaign
from storage.rows import reader

TOKEN_BYTES = 32  # 43 url-safe characters: 256 bits, nothing to guess

_CURRENT = SQL.of("SELECT token FROM wall_token WHERE campaign_id = :campaign_id")
_CREATE = SQL.of(
    "INSERT INTO wall_token (campaign_id, token, created_at) "
    "VALUES (:campaign_id, :token, :now) ON CONFLICT (campaign_id) DO NOTHING")
_REPLACE = SQL.of(
    "INSERT INTO wall_token (campaign_id, token, created_at) VALUES (:campaign_id, :token, :now) "
    "ON CONFLICT (campaign_id) DO UPDATE SET token = excluded.token, "
    "created_at = excluded.created_at")
_ALL = SQL.of("SELECT campaign_id, token FROM wall_token")


@dataclass(frozen=True)
class _Token:
    token: str


@dataclass(frozen=True)
class _Door:
    campaign_id: int
    token: str


_read_token, _read_door, _read_campaign = reader(_Token), reader(_Door), reader(Campaign)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def closes_at(campaign: Campaign) -> datetime | None:
    """When the wall's links stop working: the midnight that ends the campaign's last round
    (its time zone), as aware UTC; None for a campaign without rounds."""
    if not campaign.rounds:
        return None
    last = date.fromisoformat(campaign.rounds[-1]["date"]) + timedelta(days=1)
    return datetime.combine(last, time(0), tzinfo=ZoneInfo(campaign.timezone)).astimezone(
        ZoneInfo("UTC"))


def is_over(campaign: Campaign, now: datetime | None = None) -> bool:
    end = closes_at(campaign)
    return end is not None and (now or clock.utcnow()) >= end


async def wall_token(db: Database, campaign: Campaign, actor_id: int | None) -> str:
    """The campaign's token, made (and audited) if it has none yet."""
    async with db.fast_write() as tx:
        row = await tx.one(_CURRENT, campaign_id=campaign.id)
        if row is not None:
            return _read_token(row).token
        now = clock.utcnow()
        await tx.run(_CREATE, campaign_id=campaign.id, token=new_token(), now=now)
        await write_audit_in(tx, actor_id, "wall.create", f"campaign={campaign.id}", now)
        row = await tx.one(_CURRENT, campaign_id=campaign.id)
    assert row is not None  # written just now, or by whoever won the race
    return _read_token(row).token


async def revoke_wall(db: Database, campaign: Campaign, actor_id: int | None) -> str:
    """A new token for the campaign: every address with the old one stops working."""
    now = clock.utcnow()
    token = new_token()
    async with db.fast_write() as tx:
        await tx.run(_REPLACE, campaign_id=campaign.id, token=token, now=now)
        await write_audit_in(tx, actor_id, "wall.revoke", f"campaign={campaign.id}", now)
    return token


async def open_wall(db: Database, token: str, now: datetime | None = None) -> Campaign | None:
    """The campaign whose wall this token opens, or None: unknown, revoked, the campaign
    no longer the active one, or over. Each stored token is compared in constant time (a
    handful of rows: one a campaign), so how long the answer takes says nothing of how
    close a guess came."""
    given = token.encode("utf-8", "replace")
    found: int | None = None
    async with db.fast_read() as tx:
        for door in map(_read_door, await tx.all(_ALL)):
            if hmac.compare_digest(door.token.encode(), given):
                found = door.campaign_id
        if found is None:
            return None
        row = await tx.one(CAMPAIGN_BY_ID, id=found)
    if row is None:
        return None
    campaign = _read_campaign(row)
    return None if not campaign.active or is_over(campaign, now) else campaign
