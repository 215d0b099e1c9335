"""Campaigns: loading one from its TOML file, finding the active one, calling hours."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update

from storage import clock
from storage.audit import write_audit
from storage.database import Database
from storage.models import Campaign


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


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise CampaignFileError(f"[{key}] must be a table (a section), got {value!r}")
    return value


def parse_campaign_file(path: Path, default_timezone: str = "Europe/Paris") -> dict[str, Any]:
    """Read and check a campaign TOML file; returns the Campaign fields."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignFileError(f"cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CampaignFileError(f"{path} is not valid TOML: {exc}") from exc
    campaign = _table(data, "campaign")
    name = str(campaign.get("name", "")).strip()
    if not name:
        raise CampaignFileError("the campaign needs a name ([campaign] name = ...)")
    tz = str(campaign.get("timezone", default_timezone))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CampaignFileError(f"unknown time zone {tz!r}") from exc
    hours = _table(data, "calling_hours")
    start = _parse_hhmm(hours.get("start", "09:00"), "calling_hours.start")
    end = _parse_hhmm(hours.get("end", "21:00"), "calling_hours.end")
    if start >= end:
        raise CampaignFileError("calling_hours.start must come before calling_hours.end")
    script = str(_table(data, "script").get("text", "")).strip()
    if not script:
        raise CampaignFileError("the campaign needs a script ([script] text = ...)")
    if (length := card_length(script)) > SCRIPT_MAX:
        raise CampaignFileError(
            f"the script is {length} characters long; a card takes {SCRIPT_MAX} at most "
            f"(each {{contact}} and {{volunteer}} counts as {FIRST_NAME_MAX})")
    points = []
    raw_points = data.get("talking_points", [])
    if not isinstance(raw_points, list):
        raise CampaignFileError("talking points are [[talking_points]] tables")
    for i, point in enumerate(raw_points, start=1):
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
    targets = _table(data, "targets").get("constituencies", [])
    if not isinstance(targets, list):
        raise CampaignFileError("targets.constituencies must be a list of names")
    queue = _table(data, "queue")
    fields: dict[str, Any] = {
        "name": name, "timezone": tz, "calling_start": start, "calling_end": end,
        "script": script, "talking_points": points,
        "target_constituencies": [str(t).strip() for t in targets],
    }
    for key in ("retry_delay_minutes", "max_attempts", "lease_minutes", "skip_limit_per_hour",
                "card_limit_per_hour"):
        if key in queue:
            value = queue[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise CampaignFileError(f"queue.{key} must be a positive whole number")
            fields[key] = value
    fields["rounds"] = _parse_rounds(data.get("rounds", []))
    capacity = _table(data, "proxies").get("per_holder_per_round", 1)
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= 3:
        raise CampaignFileError("proxies.per_holder_per_round must be 1, 2 or 3 (the law: 1)")
    fields["proxy_capacity"] = capacity
    web = _table(data, "web")
    fields.update(_parse_web(web))
    return fields


def _parse_rounds(raw: Any) -> list[dict[str, str]]:
    """[[rounds]] name = "Premier tour", date = 2024-06-30 (a TOML date or a string)."""
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
        rounds.append({"name": name, "date": day.isoformat()})
    dates = [r["date"] for r in rounds]
    if dates != sorted(set(dates)):
        raise CampaignFileError("rounds must be in date order, each on its own date")
    return rounds


def _parse_web(web: dict[str, Any]) -> dict[str, Any]:
    days = web.get("nudge_after_days", [1, 3, 7])
    if (not isinstance(days, list)
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in days)
            or days != sorted(set(days)) or len(days) > 3):
        raise CampaignFileError(
            "web.nudge_after_days must list up to three growing numbers of days, "
            "such as [1, 3, 7]")
    fields: dict[str, Any] = {"nudge_days": days}
    start = _parse_hhmm(web.get("messages_from", "09:00"), "web.messages_from")
    end = _parse_hhmm(web.get("messages_until", "21:00"), "web.messages_until")
    if start >= end:
        raise CampaignFileError("web.messages_from must come before web.messages_until")
    fields["messaging_start"], fields["messaging_end"] = start, end
    return fields


async def load_campaign(db: Database, fields: dict[str, Any],
                        actor_id: int | None = None) -> tuple[Campaign, bool]:
    """Create or update the campaign by name and make it the active one (audited: its script
    and hours are what every caller reads).

    Returns (campaign, created). Contacts already imported get their priority recomputed,
    since the order of target constituencies may have changed.
    """
    from storage.contacts import reprioritize  # a cycle otherwise: contacts needs Campaign

    async with db.write() as session:
        campaign = (await session.execute(
            select(Campaign).where(Campaign.name == fields["name"]))).scalar_one_or_none()
        created = campaign is None
        if campaign is None:
            campaign = Campaign(**fields)
            session.add(campaign)
        else:
            for key, value in fields.items():
                setattr(campaign, key, value)
        await session.flush()
        await session.execute(update(Campaign).where(Campaign.id != campaign.id)
                              .values(active=False))
        campaign.active = True
        await session.flush()
        await reprioritize(session, campaign)
        await write_audit(session, actor_id, "campaign.create" if created else "campaign.update",
                          f"campaign={campaign.id} name={campaign.name!r}")
        return campaign, created


async def active_campaign(db: Database) -> Campaign | None:
    async with db.read() as session:
        return (await session.execute(
            select(Campaign).where(Campaign.active.is_(True)).order_by(Campaign.id.desc()).limit(1)
        )).scalar_one_or_none()


async def campaign_by_name(db: Database, name: str) -> Campaign | None:
    async with db.read() as session:
        return (await session.execute(
            select(Campaign).where(Campaign.name == name))).scalar_one_or_none()


@dataclass(frozen=True)
class CallingWindow:
    is_open: bool
    opens_at: datetime  # local time of the next opening (now, if open)
    closes_at: datetime  # local time of the next closing


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
        return CallingWindow(True, local, at(today, end))
    day = today if local < at(today, start) else today + timedelta(days=1)
    return CallingWindow(False, at(day, start), at(day, end))


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
