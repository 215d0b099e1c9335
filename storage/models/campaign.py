"""The campaign (its script, hours, targets, rounds and the wall's goals), its wall's token,
and the polling stations it knows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from storage.models.defaults import utcnow


class Campaign(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    timezone: str = "Europe/Paris"
    calling_start: str = "09:00"
    calling_end: str = "21:00"
    script: str = ""
    talking_points: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON))
    target_constituencies: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    retry_delay_minutes: int = 120
    max_attempts: int = 3
    lease_minutes: int = 15
    skip_limit_per_hour: int = 10
    # The harvest guard: more cards than this in an hour (calls take minutes) pauses.
    card_limit_per_hour: int = 40
    # Practice cards a new volunteer makes before real ones (0: practice is optional).
    practice_calls_required: int = 1
    # Graduated trust: cards a volunteer not yet trusted gets an hour and a day, and the
    # recorded calls without a pause after which trust comes by itself.
    untrusted_cards_per_hour: int = 20
    untrusted_cards_per_day: int = 60
    calls_to_trust: int = 40
    # Election rounds: [{"name": "Premier tour", "date": "2024-06-30"}, ...]
    rounds: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON))
    # Days after joining when a supporter short of three recruits is nudged.
    nudge_days: list[int] = Field(default_factory=lambda: [1, 3, 7], sa_column=Column(JSON))
    # Messages nobody asked for (nudges, reminders) are sent only between these hours.
    messaging_start: str = "09:00"
    messaging_end: str = "21:00"
    # French proxies one holder may carry per round (the law: one established in France).
    proxy_capacity: int = 1
    # The wall's bars: the day's calls aimed at, for the campaign (0: none) and per room.
    daily_goal: int = 0
    room_goals: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON))
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class WallToken(SQLModel, table=True):
    """The secret in the address of a campaign's wall (the room's screen): one a campaign,
    replaced by `/wall revoke`. Nobody's data: the figures it opens hold no personal data."""

    __tablename__ = "wall_token"

    campaign_id: int = Field(primary_key=True, foreign_key="campaign.id")
    token: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)


class PollingStation(SQLModel, table=True):
    """The official list of a commune's polling stations, where organizers imported it."""

    __tablename__ = "polling_station"

    insee: str = Field(primary_key=True, max_length=5)
    number: str = Field(primary_key=True, max_length=8)
    name: str = ""
    address: str = ""
