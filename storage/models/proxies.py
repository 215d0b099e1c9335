"""Vote proxies: needs and offers, the matches between them, each holder's room."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, ForeignKeyConstraint, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.models.defaults import utcnow
from storage.models.enums import LIVE_MATCH, ProxyMatchStatus, ProxyRequestStatus

_OPEN = text(f"status = '{ProxyRequestStatus.OPEN.value}'")


class ProxyRequest(SQLModel, table=True):
    """A need or an offer of a vote proxy, from Telegram or from the phone bank."""

    __tablename__ = "proxy_request"
    __table_args__ = (
        # The holder and need searches: open requests only, so that a matched one leaves
        # them rather than moving within each (a pass matches tens of thousands at once).
        Index("ix_proxy_station", "kind", "commune_insee", "station", "created_at",
              sqlite_where=_OPEN, postgresql_where=_OPEN),
        Index("ix_proxy_department", "kind", "department", "created_at",
              sqlite_where=_OPEN, postgresql_where=_OPEN),
        Index("ix_proxy_constituency", "kind", "constituency", "created_at",
              sqlite_where=_OPEN, postgresql_where=_OPEN),
        Index("ix_proxy_user", "user_id"),
        Index("ix_proxy_campaign", "campaign_id", "kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=5)
    status: str = Field(default=ProxyRequestStatus.OPEN, max_length=10)
    # Its rounds are that campaign's (rounds_mask), and so is the day its match's voter
    # details are erased: a campaign loaded later changes neither.
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id")
    # On Telegram: the person. From the phone bank: the contact, their first name and phone.
    user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    recorded_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    first_name: str = ""
    phone: str | None = Field(default=None, max_length=20)
    # Where the vote is cast: the giver's polling station; for a holder, where they can go.
    commune_insee: str = Field(max_length=5)
    department: str = Field(max_length=3)
    constituency: str | None = None
    station: str = Field(max_length=8)
    # A holder's own polling station (they vote there themselves).
    own_commune_insee: str | None = Field(default=None, max_length=5)
    own_station: str | None = Field(default=None, max_length=8)
    rounds_mask: int  # bit i: the campaign's round i
    created_at: datetime = Field(default_factory=utcnow)


class ProxyMatch(SQLModel, table=True):
    __tablename__ = "proxy_match"
    __table_args__ = (
        # One live match per need; a pair is proposed once (a "no" is never asked again).
        Index("uq_match_live_need", "need_id", unique=True,
              sqlite_where=text(f"status IN {LIVE_MATCH}"),
              postgresql_where=text(f"status IN {LIVE_MATCH}")),
        UniqueConstraint("need_id", "offer_id", name="uq_match_pair"),
        # A holder's matches; what each of their places points at (ProxySlot).
        Index("uq_match_offer", "offer_id", "id", unique=True),
        Index("ix_match_status", "status", "expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    need_id: int = Field(foreign_key="proxy_request.id")
    offer_id: int = Field(foreign_key="proxy_request.id")
    rounds_mask: int
    status: str = Field(default=ProxyMatchStatus.PROPOSED, max_length=10)
    need_answer: bool | None = None
    offer_answer: bool | None = None
    proposed_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    decided_at: datetime | None = None
    registered_at: datetime | None = None
    # Collected only once both sides accepted (the number may come a step before the date,
    # kept here rather than in FSM data), passed only to the giver, erased the day after
    # the last round of the request's campaign.
    holder_voter_number: str | None = Field(default=None, max_length=9)
    holder_birth_date: date | None = None


class ProxySlot(SQLModel, table=True):
    """A holder's room per round: the primary key is what stops two needs taking the same
    holder for the same round, whatever the race."""

    __tablename__ = "proxy_slot"

    __table_args__ = (
        # The place's holder is its match's: one check a place (the match's own keys say
        # both exist), and no place can name another holder than its match's.
        ForeignKeyConstraint(["offer_id", "match_id"], ["proxy_match.offer_id", "proxy_match.id"],
                             name="fk_slot_match"),
    )

    offer_id: int = Field(primary_key=True)
    round_date: str = Field(primary_key=True, max_length=10)
    slot: int = Field(primary_key=True)
    match_id: int = Field(index=True)


class ProxyAsk(SQLModel, table=True):
    """A supporter asked to carry a need nobody offered for (storage.proxies.asks): kept so
    that nobody is asked twice for a need, nor more than once a week, across restarts."""

    __tablename__ = "proxy_ask"
    __table_args__ = (Index("ix_proxy_ask_user", "user_id", "asked_at"),)

    need_id: int = Field(primary_key=True, foreign_key="proxy_request.id")
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    asked_at: datetime = Field(default_factory=utcnow)
