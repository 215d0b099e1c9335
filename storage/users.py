"""People: who they are, whether they may call, who organizes."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from storage import clock
from storage.audit import write_audit_in
from storage.calling import take_cards_back
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import VolunteerStatus
from storage.outbox import Notice, NoticeKind, queue_in, to_organizers
from storage.rows import columns, reader


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
    trusted: bool = False
    practice_calls: int = 0


def group_chat(chat_id: int) -> Person:
    """A group chat (the organizers' group) where the deliverer expects a person: no row,
    never blocked nor stopped, spoken to in the default language."""
    return Person(id=chat_id, first_name="", last_name=None, username=None,
                  language_code=None, is_organizer=False,
                  volunteer_status=VolunteerStatus.NONE, trained=False, blocked=False,
                  stopped=False, forgotten=False, invite_code=None, referred_by=None,
                  generation=0, recruits=0, leaderboard_opt_out=False, nudges_sent=0)


SELECT_PERSON = SQL.of(f"SELECT {columns(Person)} FROM users WHERE id = :id")
# Deciding on someone locks their row on PostgreSQL (SQLite's writers take turns anyway).
_SELECT_PERSON_FOR_UPDATE = replace(SELECT_PERSON,
                                    postgres=SELECT_PERSON.postgres + " FOR UPDATE")
_PERSON = reader(Person)
person_of = _PERSON  # a row selected with columns(Person), as a Person


async def get_user(db: Database, user_id: int) -> Person | None:
    """Read on every update (the middleware), hence straight through the driver."""
    async with db.fast_read() as tx:
        row = await tx.one(SELECT_PERSON, id=user_id)
    return _PERSON(row) if row is not None else None


# The list of ids in each dialect's own form: a JSON array on SQLite, an array on PostgreSQL.
_SELECT_PEOPLE = SQL.dialects(
    f"SELECT {columns(Person)} FROM users WHERE id IN (SELECT value FROM json_each(:ids))",
    f"SELECT {columns(Person)} FROM users WHERE id = ANY(CAST(:ids AS bigint[]))")


async def get_users(db: Database, user_ids: Sequence[int]) -> dict[int, Person]:
    """Many people in one read (the deliverer's batch), by id; the unknown are left out."""
    if not user_ids:
        return {}
    async with db.fast_read() as tx:
        rows = await tx.all(_SELECT_PEOPLE, ids=tx.array(list(user_ids)))
    return {person.id: person for person in map(_PERSON, rows)}


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
# group), so the row is written through the driver, not through the ORM. The NOT NULL
# columns get the model's defaults; ON CONFLICT DO NOTHING tells whether this update made it.
_CREATE = SQL.of(
    "INSERT INTO users (id, first_name, last_name, username, language_code, is_organizer, "
    "volunteer_status, trained, blocked, stopped, created_at, generation, recruits, "
    "leaderboard_opt_out, nudges_sent, forgotten, organizer_by_config, organizer_by_cli, "
    "trusted, practice_calls) "
    "VALUES (:id, :first_name, :last_name, :username, :language_code, FALSE, "
    f"'{VolunteerStatus.NONE}', FALSE, FALSE, FALSE, :now, 0, 0, FALSE, 0, FALSE, FALSE, "
    "FALSE, FALSE, 0) ON CONFLICT (id) DO NOTHING")
_REFRESH = SQL.of("UPDATE users SET first_name = :first_name, last_name = :last_name, "
                  "username = :username, language_code = :language_code, blocked = FALSE "
                  "WHERE id = :id")


async def _create(tx: Tx, profile: Profile) -> bool:
    """The person's row with the model's defaults; False if it was there already."""
    return await tx.run(_CREATE, id=profile.id, first_name=profile.first_name,
                        last_name=profile.last_name, username=profile.username,
                        language_code=profile.language_code, now=clock.utcnow()) == 1


async def _save_profile(db: Database, profile: Profile) -> Arrival:
    async with db.fast_write() as tx:
        created = await _create(tx, profile)
        if not created:
            # A person who writes to the bot can be reached again.
            await tx.run(_REFRESH, first_name=profile.first_name, last_name=profile.last_name,
                         username=profile.username, language_code=profile.language_code,
                         id=profile.id)
        row = await tx.one(SELECT_PERSON, id=profile.id)
    assert row is not None
    return Arrival(_PERSON(row), created)


# ---- who organizes --------------------------------------------------------------------------

@dataclass(frozen=True)
class Role:
    """The organizer role and where it comes from (see storage.models.User)."""

    id: int
    is_organizer: bool
    organizer_by_config: bool
    organizer_by_cli: bool
    volunteer_status: VolunteerStatus

    def granted(self) -> Role:
        """An organizer is an approved volunteer too."""
        return replace(self, is_organizer=True, volunteer_status=VolunteerStatus.APPROVED)


_ROLE = reader(Role)
_ROLE_OF = SQL.of(f"SELECT {columns(Role)} FROM users WHERE id = :id")
_BY_CONFIG = SQL.of(f"SELECT {columns(Role)} FROM users WHERE organizer_by_config ORDER BY id")
# Approved now (approved_at) only when the status becomes approved.
_SET_ROLE = SQL.of(
    "UPDATE users SET is_organizer = :is_organizer, organizer_by_config = :by_config, "
    "organizer_by_cli = :by_cli, volunteer_status = :status, approved_at = CASE WHEN "
    f"volunteer_status <> '{VolunteerStatus.APPROVED}' AND :approved THEN :now "
    "ELSE approved_at END WHERE id = :id")


async def _role(tx: Tx, user_id: int) -> Role:
    """Their role, their row made first if they never wrote (a role given beforehand)."""
    await _create(tx, Profile(user_id, ""))
    row = await tx.one(_ROLE_OF, id=user_id)
    assert row is not None
    return _ROLE(row)


async def _set_role(tx: Tx, role: Role) -> None:
    await tx.run(_SET_ROLE, is_organizer=role.is_organizer, by_config=role.organizer_by_config,
                 by_cli=role.organizer_by_cli, status=role.volunteer_status.value,
                 approved=role.volunteer_status is VolunteerStatus.APPROVED,
                 now=clock.utcnow(), id=role.id)


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
    removed: list[int] = []
    now = clock.utcnow()
    async with db.fast_write() as tx:
        for user_id in listed:
            role = await _role(tx, user_id)
            if not role.is_organizer:
                added.append(user_id)
                await write_audit_in(tx, None, "organizers.add_from_config",
                                     f"user={user_id}", now)
            await _set_role(tx, replace(role, organizer_by_config=True).granted())
        for row in await tx.all(_BY_CONFIG):
            role = _ROLE(row)
            if role.id in listed:
                continue
            role = replace(role, organizer_by_config=False)
            if not role.organizer_by_cli:
                role = replace(role, is_organizer=False)
                removed.append(role.id)
                await write_audit_in(tx, None, "organizers.remove_from_config",
                                     f"user={role.id}", now)
            await _set_role(tx, role)
    return OrganizerSync(added, removed)


async def set_organizer(db: Database, user_id: int, is_organizer: bool, *,
                        actor_id: int | None, audit: bool = True) -> bool:
    """`toile organizers add` or `remove`: the role given by hand, which no start takes
    away. Removing it leaves the role to an id ORGANIZER_IDS lists (until it no longer
    does). Returns True if something changed."""
    async with db.fast_write() as tx:
        row = await tx.one(_ROLE_OF, id=user_id)
        if row is None and not is_organizer:
            return False
        before = _ROLE(row) if row is not None else await _role(tx, user_id)
        after = replace(before, organizer_by_cli=is_organizer)
        after = after.granted() if is_organizer else replace(
            after, is_organizer=after.organizer_by_config)
        if after == before:
            return False
        await _set_role(tx, after)
        if audit:
            await write_audit_in(tx, actor_id,
                                 "organizers.add" if is_organizer else "organizers.remove",
                                 f"user={user_id}", clock.utcnow())
        return True


_ORGANIZERS = SQL.of(f"SELECT {columns(Person)} FROM users WHERE is_organizer AND NOT blocked "
                     "ORDER BY id")


async def organizers(db: Database) -> list[Person]:
    async with db.fast_read() as tx:
        return [_PERSON(row) for row in await tx.all(_ORGANIZERS)]


# ---- who may call ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    changed: bool
    status: VolunteerStatus
    user: Person | None


_ASK = SQL.of(f"UPDATE users SET volunteer_status = '{VolunteerStatus.PENDING}' WHERE id = :id "
              f"AND volunteer_status IN ('{VolunteerStatus.NONE}', '{VolunteerStatus.DECLINED}')")
_DECIDE = SQL.of(
    "UPDATE users SET volunteer_status = :status, approved_at = CASE WHEN :approve THEN :now "
    "ELSE approved_at END, paused_at = CASE WHEN :approve THEN NULL ELSE paused_at END "
    "WHERE id = :id")


async def request_to_call(db: Database, user_id: int) -> Decision:
    """Ask to make calls. `changed` is true only for the request that made it pending, so
    two quick presses alert the organizers once; the alert to each organizer and the word
    to the person are queued with the request."""
    async with db.fast_write() as tx:
        changed = await ask_to_call_in(tx, user_id)
        row = await tx.one(SELECT_PERSON, id=user_id)
        if row is None:
            raise LookupError(user_id)
    person = _PERSON(row)
    return Decision(changed, person.volunteer_status, person)


async def ask_to_call_in(tx: Tx, user_id: int, caller_id: int | None = None) -> bool:
    """The request, in the caller's transaction: the organizers' alert (naming the
    volunteer whose call it came from, if any) and, asked by the person themselves, their
    word, queued with it. False if they were pending, approved or paused already."""
    if await tx.run(_ASK, id=user_id) != 1:
        return False
    key = f"vol-request:{user_id}:{secrets.token_hex(6)}"
    params: dict[str, int] = {"volunteer": user_id}
    if caller_id is not None:
        params["caller"] = caller_id
    rows = await to_organizers(tx, key, NoticeKind.VOLUNTEER_REQUEST, params)
    if caller_id is None:
        rows.append(Notice(key, NoticeKind.VOLUNTEER_REQUEST_SENT, user_id, {}, False))
    await queue_in(tx, rows, due_at=clock.utcnow())
    return True


async def decide_volunteer(db: Database, user_id: int, approve: bool, *,
                           actor_id: int | None, create: bool = True) -> Decision:
    """Approve or decline (or resume a paused) volunteer. Idempotent: deciding twice
    changes nothing the second time. The person's word is queued with the decision, and a
    volunteer declined while holding a card loses it at once."""
    target = VolunteerStatus.APPROVED if approve else VolunteerStatus.DECLINED
    now = clock.utcnow()
    async with db.fast_write() as tx:
        row = await tx.one(_SELECT_PERSON_FOR_UPDATE, id=user_id)
        known = row is not None
        if row is None:
            # The CLI approves someone who never wrote (`create`); a button does not: a stale
            # Approve pressed after the person erased their data must not bring them back.
            if not (approve and create):
                return Decision(False, VolunteerStatus.NONE, None)
            # Approved from the CLI before they ever wrote: nobody to tell yet.
            await _create(tx, Profile(user_id, ""))
            row = await tx.one(SELECT_PERSON, id=user_id)
            assert row is not None
        before = _PERSON(row).volunteer_status
        if before is target:
            return Decision(False, target, _PERSON(row))
        await tx.run(_DECIDE, status=target.value, approve=approve, now=now, id=user_id)
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
        row = await tx.one(SELECT_PERSON, id=user_id)
    assert row is not None
    return Decision(True, target, _PERSON(row))


_WAITING = SQL.of(
    f"SELECT {columns(Person)} FROM users WHERE volunteer_status IN "
    f"('{VolunteerStatus.PENDING}', '{VolunteerStatus.PAUSED}') ORDER BY created_at")


async def pending_volunteers(db: Database) -> list[Person]:
    """Who waits for an organizer: asked to call, or paused."""
    async with db.fast_read() as tx:
        return [_PERSON(row) for row in await tx.all(_WAITING)]


# ---- flags ----------------------------------------------------------------------------------

_TRAINED = SQL.of("UPDATE users SET trained = TRUE WHERE id = :id")
_BLOCKED = SQL.of("UPDATE users SET blocked = TRUE WHERE id = :id")
_STOPPED = SQL.of("UPDATE users SET stopped = :stopped WHERE id = :id")


async def mark_trained(db: Database, user_id: int) -> None:
    async with db.fast_write() as tx:
        await tx.run(_TRAINED, id=user_id)


async def mark_blocked(db: Database, user_id: int) -> None:
    """The person blocked the bot (403): nothing more is sent to them."""
    async with db.fast_write() as tx:
        await tx.run(_BLOCKED, id=user_id)


async def set_stopped(db: Database, user_id: int, stopped: bool) -> None:
    """/stop: no more broadcasts; /start again lifts it."""
    async with db.fast_write() as tx:
        await tx.run(_STOPPED, stopped=stopped, id=user_id)
