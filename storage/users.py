"""People: who they are, whether they may call, who organizes."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import select, update

from storage import clock
from storage.audit import write_audit, write_audit_in
from storage.calling import take_cards_back
from storage.database import Database
from storage.driver import SQL
from storage.models import User, VolunteerStatus
from storage.outbox import Notice, NoticeKind, queue_in, to_organizers


@dataclass(frozen=True)
class Profile:
    """What Telegram tells us of a person on each update."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


@dataclass(frozen=True, slots=True)
class Person:
    """A person as handlers see them: the users row without its timestamps, in a plain
    frozen dataclass. Read on every update: building a SQLModel `User` instead validated
    every field and parsed four timestamps, tens of microseconds an update for fields no
    handler reads."""

    id: int
    first_name: str
    last_name: str | None
    username: str | None
    language_code: str | None
    is_organizer: bool
    volunteer_status: VolunteerStatus
    trained: bool
    blocked: bool
    stopped: bool
    forgotten: bool
    invite_code: str | None
    referred_by: int | None
    generation: int
    recruits: int
    leaderboard_opt_out: bool
    nudges_sent: int

    @classmethod
    def of(cls, user: User) -> Person:
        return _person([getattr(user, name) for name in PERSON_COLUMNS])


def group_chat(chat_id: int) -> Person:
    """A group chat (the organizers' group) where the deliverer expects a person: no row,
    never blocked nor stopped, spoken to in the default language."""
    return Person(id=chat_id, first_name="", last_name=None, username=None,
                  language_code=None, is_organizer=False,
                  volunteer_status=VolunteerStatus.NONE, trained=False, blocked=False,
                  stopped=False, forgotten=False, invite_code=None, referred_by=None,
                  generation=0, recruits=0, leaderboard_opt_out=False, nudges_sent=0)


# The one column list: Person's fields, in order.
PERSON_COLUMNS = tuple(f.name for f in fields(Person))
SELECT_PERSON = SQL.of(f"SELECT {', '.join(PERSON_COLUMNS)} FROM users WHERE id = ?")
_FLAGS_AT = tuple(PERSON_COLUMNS.index(name) for name in (
    "is_organizer", "trained", "blocked", "stopped", "forgotten", "leaderboard_opt_out"))
_STATUS_AT = PERSON_COLUMNS.index("volunteer_status")


def _person(row: Sequence[Any]) -> Person:
    values = list(row)
    for i in _FLAGS_AT:
        values[i] = bool(values[i])  # SQLite answers 0/1
    values[_STATUS_AT] = VolunteerStatus(values[_STATUS_AT])
    return Person(*values)


async def get_user(db: Database, user_id: int) -> Person | None:
    """Read on every update (the middleware), hence straight through the driver."""
    async with db.fast_read() as tx:
        row = await tx.one(SELECT_PERSON, user_id)
    return _person(row) if row is not None else None


_SELECT_PEOPLE = SQL(
    f"SELECT {', '.join(PERSON_COLUMNS)} FROM users WHERE id IN "
    "(SELECT value FROM json_each(?))",
    f"SELECT {', '.join(PERSON_COLUMNS)} FROM users WHERE id = ANY($1::bigint[])")


async def get_users(db: Database, user_ids: Sequence[int]) -> dict[int, Person]:
    """Many people in one read (the deliverer's batch), by id; the unknown are left out."""
    if not user_ids:
        return {}
    async with db.fast_read() as tx:
        rows = await tx.all(_SELECT_PEOPLE, json.dumps(list(user_ids)) if db.is_sqlite
                            else list(user_ids))
    return {person.id: person for person in map(_person, rows)}


@dataclass(frozen=True)
class Arrival:
    user: Person
    is_new: bool  # this update created the person's row: their very first contact


async def arrive(db: Database, profile: Profile) -> Arrival:
    """The person's row, created on first contact and refreshed when Telegram's data changed.

    Reads first: most updates change nothing, and a write per update would serialize them.
    """
    user = await get_user(db, profile.id)
    if user is not None and not user.blocked and (
            user.first_name, user.last_name, user.username, user.language_code) == (
            profile.first_name, profile.last_name, profile.username, profile.language_code):
        return Arrival(user, False)
    # Two first updates of a new person at once: ON CONFLICT lets one of them create it.
    return await _save_profile(db, profile)


async def ensure_user(db: Database, profile: Profile) -> Person:
    return (await arrive(db, profile)).user


# Every new person passes here once, often many at once (an invite link shared in a
# group), so the row is written through the driver, not the ORM session. The NOT NULL
# columns get the model's defaults; ON CONFLICT DO NOTHING tells whether this update made it.
_CREATE = SQL.of(
    "INSERT INTO users (id, first_name, last_name, username, language_code, is_organizer, "
    "volunteer_status, trained, blocked, stopped, created_at, generation, recruits, "
    "leaderboard_opt_out, nudges_sent, forgotten) VALUES (?, ?, ?, ?, ?, FALSE, 'none', "
    "FALSE, FALSE, FALSE, ?, 0, 0, FALSE, 0, FALSE) ON CONFLICT (id) DO NOTHING")
_REFRESH = SQL.of("UPDATE users SET first_name = ?, last_name = ?, username = ?, "
                  "language_code = ?, blocked = FALSE WHERE id = ?")


async def _save_profile(db: Database, profile: Profile) -> Arrival:
    async with db.fast_write() as tx:
        created = await tx.run(_CREATE, profile.id, profile.first_name, profile.last_name,
                               profile.username, profile.language_code, clock.utcnow()) == 1
        if not created:
            # A person who writes to the bot can be reached again.
            await tx.run(_REFRESH, profile.first_name, profile.last_name, profile.username,
                         profile.language_code, profile.id)
        row = await tx.one(SELECT_PERSON, profile.id)
    assert row is not None
    return Arrival(_person(row), created)


@dataclass(frozen=True)
class OrganizerSync:
    added: list[int]  # listed in ORGANIZER_IDS now, no organizers before
    removed: list[int]  # no longer listed, nor added from the terminal: the role is gone


async def sync_organizers(db: Database, organizer_ids: Sequence[int]) -> OrganizerSync:
    """At each start, the configuration's word on who organizes: the ids ORGANIZER_IDS lists
    hold the role from it, and the ids it no longer lists lose it, unless `toile organizers
    add` gave it to them too. Changes are audited."""
    listed = sorted(set(organizer_ids))
    added: list[int] = []
    async with db.write() as session:
        for user_id in listed:
            user = await session.get(User, user_id)
            if user is None:
                user = User(id=user_id)
                session.add(user)
            if not user.is_organizer:
                added.append(user_id)
                await write_audit(session, None, "organizers.add_from_config", f"user={user_id}")
            user.organizer_by_config = True
            _grant(user)
        unlisted = (await session.execute(select(User).where(
            User.organizer_by_config.is_(True), User.id.not_in(listed)))).scalars().all()
        removed: list[int] = []
        for user in unlisted:
            user.organizer_by_config = False
            if not user.organizer_by_cli:
                user.is_organizer = False
                removed.append(user.id)
                await write_audit(session, None, "organizers.remove_from_config",
                                  f"user={user.id}")
    return OrganizerSync(added, sorted(removed))


def _grant(user: User) -> None:
    user.is_organizer = True
    if user.volunteer_status != VolunteerStatus.APPROVED:
        user.volunteer_status = VolunteerStatus.APPROVED
        user.approved_at = clock.utcnow()


async def set_organizer(db: Database, user_id: int, is_organizer: bool, *,
                        actor_id: int | None, audit: bool = True) -> bool:
    """`toile organizers add` or `remove`: the role given by hand, which no start takes
    away. Removing it leaves the role to an id ORGANIZER_IDS lists (until it no longer
    does). Returns True if something changed."""
    async with db.write() as session:
        user = await session.get(User, user_id)
        if user is None:
            if not is_organizer:
                return False
            user = User(id=user_id)
            session.add(user)
        before = (user.is_organizer, user.organizer_by_cli, user.volunteer_status)
        user.organizer_by_cli = is_organizer
        if is_organizer:
            _grant(user)
        else:
            user.is_organizer = user.organizer_by_config
        changed = before != (user.is_organizer, user.organizer_by_cli, user.volunteer_status)
        if audit and changed:
            await write_audit(session, actor_id,
                              "organizers.add" if is_organizer else "organizers.remove",
                              f"user={user_id}")
        return changed


async def organizers(db: Database) -> list[User]:
    async with db.read() as session:
        return list((await session.execute(
            select(User).where(User.is_organizer.is_(True), User.blocked.is_(False))
        )).scalars())


@dataclass(frozen=True)
class Decision:
    changed: bool
    status: VolunteerStatus
    user: Person | None


_SELECT_PERSON_FOR_UPDATE = SQL(SELECT_PERSON.sqlite, SELECT_PERSON.postgres + " FOR UPDATE")
_ASK = SQL.of("UPDATE users SET volunteer_status = 'pending' WHERE id = ? "
              "AND volunteer_status IN ('none', 'declined')")
_DECIDE = SQL.of(
    "UPDATE users SET volunteer_status = ?, approved_at = CASE WHEN ? THEN ? ELSE approved_at "
    "END, paused_at = CASE WHEN ? THEN NULL ELSE paused_at END WHERE id = ?")


async def request_to_call(db: Database, user_id: int) -> Decision:
    """Ask to make calls. `changed` is true only for the request that made it pending, so
    two quick presses alert the organizers once; the alert to each organizer and the word
    to the person are queued with the request."""
    now = clock.utcnow()
    async with db.fast_write() as tx:
        changed = await tx.run(_ASK, user_id) == 1
        row = await tx.one(SELECT_PERSON, user_id)
        if row is None:
            raise LookupError(user_id)
        if changed:
            key = f"vol-request:{user_id}:{secrets.token_hex(6)}"
            rows = await to_organizers(tx, key, NoticeKind.VOLUNTEER_REQUEST,
                                       {"volunteer": user_id})
            rows.append(Notice(key, NoticeKind.VOLUNTEER_REQUEST_SENT, user_id, {}, False))
            await queue_in(tx, rows, due_at=now)
    person = _person(row)
    return Decision(changed, person.volunteer_status, person)


async def decide_volunteer(db: Database, user_id: int, approve: bool, *,
                           actor_id: int | None, create: bool = True) -> Decision:
    """Approve or decline (or resume a paused) volunteer. Idempotent: deciding twice
    changes nothing the second time. The person's word is queued with the decision, and a
    volunteer declined while holding a card loses it at once."""
    target = VolunteerStatus.APPROVED if approve else VolunteerStatus.DECLINED
    now = clock.utcnow()
    async with db.fast_write() as tx:
        row = await tx.one(_SELECT_PERSON_FOR_UPDATE, user_id)
        known = row is not None
        if row is None:
            # The CLI approves someone who never wrote (`create`); a button does not: a stale
            # Approve pressed after the person erased their data must not bring them back.
            if not (approve and create):
                return Decision(False, VolunteerStatus.NONE, None)
            # Approved from the CLI before they ever wrote: nobody to tell yet.
            await tx.run(_CREATE, user_id, "", None, None, None, now)
            row = await tx.one(SELECT_PERSON, user_id)
            assert row is not None
        before = _person(row).volunteer_status
        if before is target:
            return Decision(False, target, _person(row))
        await tx.run(_DECIDE, target.value, approve, now, approve, user_id)
        if not approve:
            await take_cards_back(tx, user_id)
        await write_audit_in(tx, actor_id,
                             "volunteers.approve" if approve else "volunteers.decline",
                             f"user={user_id}", now)
        if known:
            await queue_in(tx, [Notice(
                f"vol-decision:{user_id}:{secrets.token_hex(6)}", NoticeKind.VOLUNTEER_DECISION,
                user_id,
                {"approved": approve, "resumed": before is VolunteerStatus.PAUSED}, False)],
                due_at=now)
        row = await tx.one(SELECT_PERSON, user_id)
    assert row is not None
    return Decision(True, target, _person(row))


async def mark_trained(db: Database, user_id: int) -> None:
    async with db.write() as session:
        await session.execute(update(User).where(User.id == user_id).values(trained=True))


async def mark_blocked(db: Database, user_id: int) -> None:
    """The person blocked the bot (403): nothing more is sent to them."""
    async with db.write() as session:
        await session.execute(update(User).where(User.id == user_id).values(blocked=True))


async def pending_volunteers(db: Database) -> list[User]:
    async with db.read() as session:
        return list((await session.execute(
            select(User).where(User.volunteer_status.in_(
                [VolunteerStatus.PENDING.value, VolunteerStatus.PAUSED.value]))
            .order_by(User.created_at)
        )).scalars())


async def set_stopped(db: Database, user_id: int, stopped: bool) -> None:
    """/stop: no more broadcasts; /start again lifts it."""
    async with db.write() as session:
        await session.execute(update(User).where(User.id == user_id).values(stopped=stopped))
