"""People: everyone who wrote to the bot, their place in the web, their pledges."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Index, text
from sqlmodel import Field, SQLModel

from storage.models.defaults import utcnow
from storage.models.enums import VolunteerStatus


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        # The nudge planner's walk: only people who still have nudges to get are in it.
        Index("ix_users_nudge", "nudges_sent", "created_at",
              sqlite_where=text("recruits < 3 AND nudges_sent < 3"),
              postgresql_where=text("recruits < 3 AND nudges_sent < 3")),
        Index("ix_users_invite_code", "invite_code", unique=True),
        Index("ix_users_rejoin_key", "rejoin_key", unique=True,
              sqlite_where=text("rejoin_key IS NOT NULL"),
              postgresql_where=text("rejoin_key IS NOT NULL")),
        # Who votes where: the people to ask about a need nobody offered for (proxies.asks).
        Index("ix_users_vote_place", "vote_commune_insee", "vote_station",
              sqlite_where=text("vote_commune_insee IS NOT NULL"),
              postgresql_where=text("vote_commune_insee IS NOT NULL")),
    )

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    # The role, and where it comes from: ORGANIZER_IDS (set or cleared at each start) or
    # `toile organizers add` (until `toile organizers remove`). It holds while either does.
    is_organizer: bool = False
    organizer_by_config: bool = False
    organizer_by_cli: bool = False
    volunteer_status: str = Field(default=VolunteerStatus.NONE, max_length=16)
    trained: bool = False
    # Graduated trust: cards an hour and a day are limited until an organizer trusts them
    # or enough calls in a row without a pause do (storage/trust.py).
    trusted: bool = False
    # Practice cards done (a fictional contact, nothing in the queue: handlers/practice.py).
    practice_calls: int = 0
    blocked: bool = False  # the person blocked the bot (403): send nothing more
    stopped: bool = False  # /stop: no broadcasts
    created_at: datetime = Field(default_factory=utcnow)
    approved_at: datetime | None = None
    paused_at: datetime | None = None
    # The spider's web. The code is random (a deep-link payload, never an id); who brought
    # whom, the generation and the recruit count are kept at attribution so that /web
    # counts without walking the tree.
    invite_code: str | None = Field(default=None, max_length=64)
    referred_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True,
                                                                   index=True))
    generation: int = 0
    recruits: int = 0
    leaderboard_opt_out: bool = False
    nudges_sent: int = 0
    last_nudge_at: datetime | None = None
    # /forget: the node stays (the web keeps its shape), nothing of the person does.
    forgotten: bool = False
    # On a forgotten recruit's node only: HMAC(the bot's secret, "<telegram id>:<referrer>"),
    # so that the same person rejoining through the same link is not counted twice. Without
    # the secret it tells nothing of who it was (see storage/personal.py).
    rejoin_key: str | None = Field(default=None, max_length=64)
    # "Where do you vote?" (optional, skippable): the commune's INSEE code and the polling
    # station, so that a need nobody offered for can be asked of the people voting there.
    vote_commune_insee: str | None = Field(default=None, max_length=5)
    vote_station: str | None = Field(default=None, max_length=8)


class Pledge(SQLModel, table=True):
    """Vote tripling: the three people (first names only) a supporter will remind to vote."""

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    names: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class PledgeRound(SQLModel, table=True):
    """A supporter said they reminded their three before this round."""

    __tablename__ = "pledge_round"

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    round_date: str = Field(primary_key=True, max_length=10)
    confirmed_at: datetime = Field(default_factory=utcnow)
