"""The vote-tripling pledge: three first names a supporter will remind to vote, and the
reminder two days before each round, the last day before its electoral silence."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from storage import clock
from storage.database import Database
from storage.driver import SQL
from storage.models import Campaign
from storage.outbox import Notice, NoticeKind, queue_in
from storage.rows import columns, reader
from storage.silence import silences
from storage.web.links import GOAL

MAX_NAME = 40


class PledgeError(ValueError):
    """Not three usable first names; `reason` says why: "count", "long" or "digits"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_pledge_names(text: str) -> list[str]:
    """Three first names, written one per line or separated by commas (or "et"/"and")."""
    parts = re.split(r"[,;\n]+|\s+(?:et|and|&)\s+", text.strip())
    names = [" ".join(p.split()) for p in parts if p.strip()]
    if len(names) != GOAL:
        raise PledgeError("count")
    if any(len(n) > MAX_NAME for n in names):
        raise PledgeError("long")
    if any(_has_number(n) for n in names):  # a phone number is not a first name
        raise PledgeError("digits")
    return names


def _has_number(name: str) -> bool:
    """Any character of Unicode's Number categories (Nd, Nl, No): ASCII and Arabic-Indic
    digits, superscripts ⁰⁶, fullwidth ０６, circled ⑥... Han numerals such as 一 are letters
    (Lo) that names use: they stay."""
    return any(unicodedata.category(c).startswith("N") for c in name)


@dataclass(frozen=True)
class PledgeNames:
    names: list[str]


_PLEDGE_NAMES = reader(PledgeNames)
# Pledging again replaces the names, and the pledge dates from now.
_SAVE_PLEDGE = SQL.of(
    "INSERT INTO pledge (user_id, names, created_at) VALUES (:user_id, :names, :now) "
    "ON CONFLICT (user_id) DO UPDATE SET names = excluded.names, "
    "created_at = excluded.created_at")
_PLEDGE_OF = SQL.of(f"SELECT {columns(PledgeNames)} FROM pledge WHERE user_id = :user_id")
# Two presses at once: the second inserts nothing.
_CONFIRM_ROUND = SQL.of(
    "INSERT INTO pledge_round (user_id, round_date, confirmed_at) "
    "VALUES (:user_id, :round_date, :now) ON CONFLICT (user_id, round_date) DO NOTHING")


async def save_pledge(db: Database, user_id: int, names: list[str]) -> None:
    async with db.fast_write() as tx:
        await tx.run(_SAVE_PLEDGE, user_id=user_id, names=json.dumps(names),
                     now=clock.utcnow())


async def pledge_names(db: Database, user_id: int) -> list[str] | None:
    async with db.fast_read() as tx:
        row = await tx.one(_PLEDGE_OF, user_id=user_id)
    return list(_PLEDGE_NAMES(row).names) if row is not None else None


async def confirm_pledge_round(db: Database, user_id: int, round_date: str) -> bool:
    """The supporter reminded their three before this round. True the first time only."""
    async with db.fast_write() as tx:
        return await tx.run(_CONFIRM_ROUND, user_id=user_id, round_date=round_date,
                            now=clock.utcnow()) == 1


_PLEDGERS = SQL.of(
    "SELECT p.user_id FROM pledge p JOIN users u ON u.id = p.user_id "
    "WHERE NOT u.stopped AND NOT u.blocked AND NOT u.forgotten")


def round_to_remind(campaign: Campaign, now: datetime | None = None) -> dict[str, str] | None:
    """The round whose reminder is due today: the one in two days (campaign time). The eve
    itself is in the electoral silence (storage.silence), when the campaign says nothing."""
    local_today = (now or clock.utcnow()).astimezone(ZoneInfo(campaign.timezone)).date()
    day = (local_today + timedelta(days=2)).isoformat()
    return next((r for r in campaign.rounds or [] if r["date"] == day), None)


def reminder_stale(campaign: Campaign | None, round_date: str,
                   now: datetime | None = None) -> bool:
    """A pledge reminder not sent before its round's silence began is dropped: it cannot
    go during the silence, and after it the vote is over."""
    began = next((s.starts_at for s in silences(campaign)
                  if s.round_date.isoformat() == round_date), None)
    return began is not None and (now or clock.utcnow()) >= began


async def plan_pledge_reminders(db: Database, campaign: Campaign,
                                now: datetime | None = None) -> int:
    """Two days before a round, one reminder per pledge (keyed by person and round, so
    planning again adds nothing). Returns the pledges considered."""
    now = now or clock.utcnow()
    election_round = round_to_remind(campaign, now)
    if election_round is None:
        return 0
    params = {"round": election_round["date"], "name": election_round["name"]}
    async with db.fast_write(long=True) as tx:
        pledgers = await tx.all(_PLEDGERS)
        await queue_in(tx, [Notice(f"pledge:{uid}:{election_round['date']}",
                                   NoticeKind.PLEDGE_REMINDER, uid, params, True)
                            for (uid,) in pledgers], due_at=now)
    return len(pledgers)
