"""Campaigns: loading one from its TOML file, finding the active one, calling hours."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage import clock
from storage.audit import write_audit_in
from storage.contacts import priority, target_priorities
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import UNTARGETED_PRIORITY, Campaign
from storage.proxies.rules import REOPEN_FULL_OFFERS
from storage.rows import columns, fields, reader
from storage.training import parse_training
from storage.wall.goals import parse_wall


class CampaignFileError(ValueError):
    """A campaign file that cannot be used; the message says what to fix."""


# What a contact card holds (handlers/cards.py) within Telegram's 4,096 UTF-16 code units a
# message: the script filled in, one talking point, and the contact's lines. Each talking
# point is a button on the card.
SCRIPT_MAX = 2000
POINTS_MAX = 10
POINT_TITLE_MAX = 40
POINT_TEXT_MAX = 1000
FIRST_NAME_MAX = 64  # Telegram's longest first name: what {contact} or {volunteer} becomes
QUEUE_KEYS = ("retry_delay_minutes", "max_attempts", "lease_minutes", "skip_limit_per_hour",
              "card_limit_per_hour")


def card_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units), placeholders filled at their
    longest."""
    filled = text.replace("{contact}", "x" * FIRST_NAME_MAX).replace(
        "{volunteer}", "x" * FIRST_NAME_MAX)
    return len(filled.encode("utf-16-le")) // 2


def _parse_hhmm(value: Any, field: str) -> str:
    try:
        parsed = time.fromisoformat(str(value))
    except ValueError as exc:
        raise CampaignFileError(f"{field}: expected a time such as 09:00, got {value!r}") from exc
    return parsed.strftime("%H:%M")


def _hours(table: dict[str, Any], section: str, start_key: str,
           end_key: str) -> tuple[str, str]:
    """A daily window, 09:00 to 21:00 unless the file says otherwise."""
    start = _parse_hhmm(table.get(start_key, "09:00"), f"{section}.{start_key}")
    end = _parse_hhmm(table.get(end_key, "21:00"), f"{section}.{end_key}")
    if start >= end:
        raise CampaignFileError(f"{section}.{start_key} must come before {section}.{end_key}")
    return start, end


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise CampaignFileError(f"[{key}] must be a table (a section), got {value!r}")
    return value


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_campaign_file(path: Path, default_timezone: str = "Europe/Paris") -> dict[str, Any]:
    """Read and check a campaign TOML file; returns the Campaign fields."""
    data = _read_toml(path)
    name, tz = _parse_identity(_table(data, "campaign"), default_timezone)
    start, end = _hours(_table(data, "calling_hours"), "calling_hours", "start", "end")
    fields: dict[str, Any] = {
        "name": name, "timezone": tz, "calling_start": start, "calling_end": end,
        "script": _parse_script(_table(data, "script")),
        "talking_points": _parse_points(data.get("talking_points", [])),
        "target_constituencies": _parse_targets(_table(data, "targets")),
    }
    fields.update(_parse_queue(_table(data, "queue")))
    fields["rounds"] = _parse_rounds(data.get("rounds", []))
    capacity = _table(data, "proxies").get("per_holder_per_round", 1)
    if not _whole_number(capacity) or not 1 <= capacity <= 3:
        raise CampaignFileError("proxies.per_holder_per_round must be 1, 2 or 3 (the law: 1)")
    fields["proxy_capacity"] = capacity
    fields.update(_parse_web(_table(data, "web")))
    try:
        fields.update(parse_wall(_table(data, "wall")))
        fields.update(parse_training(_table(data, "practice"), _table(data, "trust")))
    except ValueError as exc:
        raise CampaignFileError(str(exc)) from exc
    return fields


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignFileError(f"cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CampaignFileError(f"{path} is not valid TOML: {exc}") from exc


def _parse_identity(campaign: dict[str, Any], default_timezone: str) -> tuple[str, str]:
    """[campaign] name and timezone (the settings' TIMEZONE when the file names none)."""
    name = str(campaign.get("name", "")).strip()
    if not name:
        raise CampaignFileError("the campaign needs a name ([campaign] name = ...)")
    tz = str(campaign.get("timezone", default_timezone))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CampaignFileError(f"unknown time zone {tz!r}") from exc
    return name, tz


def _parse_script(section: dict[str, Any]) -> str:
    script = str(section.get("text", "")).strip()
    if not script:
        raise CampaignFileError("the campaign needs a script ([script] text = ...)")
    if (length := card_length(script)) > SCRIPT_MAX:
        raise CampaignFileError(
            f"the script is {length} characters long; a card takes {SCRIPT_MAX} at most "
            f"(each {{contact}} and {{volunteer}} counts as {FIRST_NAME_MAX})")
    return script


def _parse_points(raw: Any) -> list[dict[str, str]]:
    """[[talking_points]] title = ..., text = ...: each a button on the card."""
    if not isinstance(raw, list):
        raise CampaignFileError("talking points are [[talking_points]] tables")
    points = []
    for i, point in enumerate(raw, start=1):
        if not isinstance(point, dict):
            raise CampaignFileError(f"talking point {i} must be a [[talking_points]] table")
        title, text = str(point.get("title", "")).strip(), str(point.get("text", "")).strip()
        if not title or not text:
            raise CampaignFileError(f"talking point {i} needs a title and a text")
        if len(title) > POINT_TITLE_MAX:
            raise CampaignFileError(f"talking point {i}: its title is a button, "
                                    f"{POINT_TITLE_MAX} characters at most")
        if (length := card_length(text)) > POINT_TEXT_MAX:
            raise CampaignFileError(f"talking point {i}: its text is {length} characters "
                                    f"long; a card takes {POINT_TEXT_MAX} at most")
        points.append({"title": title, "text": text})
    if len(points) > POINTS_MAX:
        raise CampaignFileError(f"{len(points)} talking points; a card's buttons take "
                                f"{POINTS_MAX} at most")
    return points


def _parse_targets(section: dict[str, Any]) -> list[str]:
    targets = section.get("constituencies", [])
    if not isinstance(targets, list):
        raise CampaignFileError("targets.constituencies must be a list of names")
    return [str(t).strip() for t in targets]


def _parse_queue(queue: dict[str, Any]) -> dict[str, int]:
    """The queue's settings the file gives; the others keep their defaults (or, on a
    campaign loaded again, the values it had)."""
    found = {}
    for key in QUEUE_KEYS:
        if key in queue:
            value = queue[key]
            if not _whole_number(value) or value < 1:
                raise CampaignFileError(f"queue.{key} must be a positive whole number")
            found[key] = value
    return found


def _parse_rounds(raw: Any) -> list[dict[str, str]]:
    """[[rounds]] name = "Premier tour", date = 2024-06-30 (a TOML date or a string), and
    polls_close = "20:00" (the default): when that round's electoral silence ends."""
    if not isinstance(raw, list):
        raise CampaignFileError("election rounds are [[rounds]] tables")
    rounds = []
    for i, entry in enumerate(raw, start=1):
        if not isinstance(entry, dict):
            raise CampaignFileError(f"round {i} must be a [[rounds]] table")
        name = str(entry.get("name", "")).strip()
        try:
            day = date.fromisoformat(str(entry.get("date", "")))
        except ValueError as exc:
            raise CampaignFileError(
                f"round {i}: date must be a date such as 2024-06-30, "
                f"got {entry.get('date')!r}") from exc
        if not name:
            raise CampaignFileError(f"round {i} needs a name")
        close = _parse_hhmm(entry.get("polls_close", "20:00"), f"round {i}: polls_close")
        if close < "08:00":  # the polls open at 08:00 (Code électoral, art. R41)
            raise CampaignFileError(f"round {i}: polls_close must be 08:00 or later, "
                                    f"such as 20:00, got {close}")
        rounds.append({"name": name, "date": day.isoformat(), "polls_close": close})
    dates = [r["date"] for r in rounds]
    if dates != sorted(set(dates)):
        raise CampaignFileError("rounds must be in date order, each on its own date")
    return rounds


def _parse_web(web: dict[str, Any]) -> dict[str, Any]:
    days = web.get("nudge_after_days", [1, 3, 7])
    if (not isinstance(days, list)
            or not all(_whole_number(d) and d >= 1 for d in days)
            or days != sorted(set(days)) or len(days) > 3):
        raise CampaignFileError(
            "web.nudge_after_days must list up to three growing numbers of days, "
            "such as [1, 3, 7]")
    start, end = _hours(web, "web", "messages_from", "messages_until")
    return {"nudge_days": days, "messaging_start": start, "messaging_end": end}


# What a campaign file sets; `id`, `active` and `created_at` are the database's.
SETTINGS = tuple(name for name in fields(Campaign) if name not in ("id", "active", "created_at"))
JSON_SETTINGS = frozenset(("talking_points", "target_constituencies", "rounds", "nudge_days",
                           "room_goals"))
CAMPAIGN_ID_BY_NAME = SQL.of("SELECT id FROM campaign WHERE name = :name")
INSERT_CAMPAIGN = SQL.of(
    f"INSERT INTO campaign ({', '.join(SETTINGS)}, active, created_at) "
    f"VALUES ({', '.join(':' + name for name in SETTINGS)}, :active, :created_at) RETURNING id")
# A setting given as NULL keeps its value: loading a file that leaves out a queue setting
# keeps the one the campaign had.
UPDATE_CAMPAIGN = SQL.of(
    "UPDATE campaign SET "
    + ", ".join(f"{name} = COALESCE(:{name}, {name})" for name in SETTINGS)
    + " WHERE id = :id")
ONLY_ACTIVE = SQL.of("UPDATE campaign SET active = (id = :id)")
CAMPAIGN_BY_ID = SQL.of(f"SELECT {columns(Campaign)} FROM campaign WHERE id = :id")
CAMPAIGN_BY_NAME = SQL.of(f"SELECT {columns(Campaign)} FROM campaign WHERE name = :name")
ACTIVE_CAMPAIGN = SQL.of(
    f"SELECT {columns(Campaign)} FROM campaign WHERE active ORDER BY id DESC LIMIT 1")
CONSTITUENCIES = SQL.of(
    "SELECT DISTINCT constituency FROM contact "
    "WHERE campaign_id = :campaign_id AND constituency IS NOT NULL")
SET_PRIORITY = SQL.of(
    "UPDATE contact SET priority = :priority "
    "WHERE campaign_id = :campaign_id AND constituency = :constituency")
UNTARGETED_LAST = SQL.of(
    f"UPDATE contact SET priority = {UNTARGETED_PRIORITY} "
    "WHERE campaign_id = :campaign_id AND constituency IS NULL")
_read_campaign = reader(Campaign)


@dataclass(frozen=True)
class _Id:
    id: int


@dataclass(frozen=True)
class _Constituency:
    constituency: str


_read_id = reader(_Id)
_read_constituency = reader(_Constituency)


def _stored(name: str, value: Any) -> Any:
    return json.dumps(value) if name in JSON_SETTINGS and value is not None else value


async def load_campaign(db: Database, fields: dict[str, Any],
                        actor_id: int | None = None) -> tuple[Campaign, bool]:
    """Create or update the campaign by name and make it the active one (audited: its script
    and hours are what every caller reads).

    Returns (campaign, created). Contacts already imported get their priority recomputed,
    since the order of target constituencies may have changed.
    """
    async with db.fast_write(long=True) as tx:  # every contact's priority: long on SQLite
        found = await tx.one(CAMPAIGN_ID_BY_NAME, name=fields["name"])
        created = found is None
        if found is None:
            new = Campaign(**fields)
            row = await tx.one(INSERT_CAMPAIGN, active=True, created_at=new.created_at,
                               **{name: _stored(name, getattr(new, name)) for name in SETTINGS})
            assert row is not None  # RETURNING gives the row inserted
            campaign_id = _read_id(row).id
        else:
            campaign_id = _read_id(found).id
            await tx.run(UPDATE_CAMPAIGN, id=campaign_id,
                         **{name: _stored(name, fields.get(name)) for name in SETTINGS})
        await tx.run(ONLY_ACTIVE, id=campaign_id)
        # Rounds or capacity may have changed: full offers are open again, until a match
        # finds them full (storage.proxies.rules.ROOM_LEFT).
        await tx.run(REOPEN_FULL_OFFERS, campaign_id=campaign_id)
        campaign = _read_campaign(await _one(tx, CAMPAIGN_BY_ID, id=campaign_id))
        await _reprioritize(tx, campaign)
        await write_audit_in(tx, actor_id, "campaign.create" if created else "campaign.update",
                             f"campaign={campaign.id} name={campaign.name!r}", clock.utcnow())
    return campaign, created


async def _one(tx: Tx, sql: SQL, **params: Any) -> Sequence[Any]:
    row = await tx.one(sql, **params)
    if row is None:
        raise LookupError(f"no row for {params}")
    return row


async def _reprioritize(tx: Tx, campaign: Campaign) -> None:
    """Recompute queue priorities after the campaign's target list changed.

    Matched in Python with casefold(), as the importer does: SQLite's lower() knows ASCII
    only, and "BOUCHES-DU-RHÔNE 4" would no longer match its target."""
    targets = target_priorities(campaign)
    names = [_read_constituency(row).constituency
             for row in await tx.all(CONSTITUENCIES, campaign_id=campaign.id)]
    if names:
        await tx.many(SET_PRIORITY, [
            {"priority": priority(targets, name), "campaign_id": campaign.id,
             "constituency": name} for name in names])
    await tx.run(UNTARGETED_LAST, campaign_id=campaign.id)


async def active_campaign(db: Database) -> Campaign | None:
    async with db.fast_read() as tx:
        row = await tx.one(ACTIVE_CAMPAIGN)
    return _read_campaign(row) if row is not None else None


async def campaign_by_name(db: Database, name: str) -> Campaign | None:
    async with db.fast_read() as tx:
        row = await tx.one(CAMPAIGN_BY_NAME, name=name)
    return _read_campaign(row) if row is not None else None


@dataclass(frozen=True)
class CallingWindow:
    is_open: bool
    opens_at: datetime  # local time of the next opening (now, if open)


def calling_window(campaign: Campaign, now: datetime | None = None) -> CallingWindow:
    """Whether calling is allowed now in the campaign's time zone, and when it (re)opens."""
    return _daily_window(campaign, campaign.calling_start, campaign.calling_end, now)


def messaging_window(campaign: Campaign, now: datetime | None = None) -> CallingWindow:
    """When messages nobody asked for (nudges, reminders) may be sent: 09:00-21:00 by
    default, in the campaign's time zone."""
    return _daily_window(campaign, campaign.messaging_start, campaign.messaging_end, now)


def _daily_window(campaign: Campaign, start_hhmm: str, end_hhmm: str,
                  now: datetime | None) -> CallingWindow:
    tz = ZoneInfo(campaign.timezone)
    local = (now or clock.utcnow()).astimezone(tz)
    start, end = time.fromisoformat(start_hhmm), time.fromisoformat(end_hhmm)

    def at(day: date, t: time) -> datetime:
        return datetime.combine(day, t, tzinfo=tz)

    today = local.date()
    if at(today, start) <= local < at(today, end):
        return CallingWindow(True, local)
    day = today if local < at(today, start) else today + timedelta(days=1)
    return CallingWindow(False, at(day, start))


def local_day_start(campaign: Campaign, now: datetime | None = None,
                    days_later: int = 0) -> datetime:
    """Midnight today (or `days_later`) in the campaign's time zone, as aware UTC."""
    tz = ZoneInfo(campaign.timezone)
    local = (now or clock.utcnow()).astimezone(tz)
    day = local.date() + timedelta(days=days_later)
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(ZoneInfo("UTC"))


def call_back_time(campaign: Campaign, when: str, now: datetime | None = None) -> datetime:
    """When a "call back later" contact comes back: in an hour, this evening, or tomorrow
    when calling opens. Never outside calling hours: it waits for the next opening."""
    now = now or clock.utcnow()
    tz = ZoneInfo(campaign.timezone)
    local = now.astimezone(tz)
    if when == "1h":
        target = local + timedelta(hours=1)
    elif when == "evening":
        evening = datetime.combine(local.date(), time(18, 30), tzinfo=tz)
        target = evening if local < evening else local + timedelta(hours=1)
    elif when == "tomorrow":
        target = datetime.combine(local.date() + timedelta(days=1),
                                  time.fromisoformat(campaign.calling_start), tzinfo=tz)
    else:
        raise ValueError(f"unknown call-back choice {when!r}")
    window = calling_window(campaign, target.astimezone(ZoneInfo("UTC")))
    return (target if window.is_open else window.opens_at).astimezone(ZoneInfo("UTC"))
