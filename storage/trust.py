"""Organizers trusting volunteers: the button, /volunteers' list and `toile volunteers
trust` (the limits themselves and trust that comes by itself: storage.calling.trust)."""

from __future__ import annotations

from dataclasses import dataclass

from storage import clock
from storage.audit import write_audit_in
from storage.calling import trust_in
from storage.database import Database
from storage.driver import SQL
from storage.models import VolunteerStatus
from storage.rows import columns
from storage.users import SELECT_PERSON, Person, decide_volunteer, person_of


@dataclass(frozen=True)
class Trusted:
    changed: bool  # trusted now (False: already, or nobody)
    approved: bool  # approved with it (they were waiting)
    user: Person | None


async def trust_volunteer(db: Database, user_id: int, *, actor_id: int | None,
                          approve: bool = False, create: bool = False) -> Trusted:
    """Trust someone (audited), and with `approve` approve them first if they are not yet
    approved (a paused volunteer stays paused: resuming is its own decision). The person is
    told, unless the approval's own word tells them already. Idempotent."""
    approved = False
    if approve:
        decision = await decide_volunteer(db, user_id, True, actor_id=actor_id, create=create)
        if decision.user is None:
            return Trusted(False, False, None)
        approved = decision.changed and decision.user.volunteer_status is (
            VolunteerStatus.APPROVED)
    now = clock.utcnow()
    async with db.fast_write() as tx:
        row = await tx.one(SELECT_PERSON, id=user_id)
        if row is None:
            return Trusted(False, approved, None)
        changed = await trust_in(tx, user_id, now, tell=not approved)
        if changed:
            await write_audit_in(tx, actor_id, "volunteers.trust", f"user={user_id}", now)
        row = await tx.one(SELECT_PERSON, id=user_id)
    assert row is not None
    return Trusted(changed, approved, person_of(row))


# Who an organizer may want to trust: approved, not organizers, not yet trusted; those
# who called lately first.
_NOT_TRUSTED = SQL.of(
    f"SELECT {columns(Person, alias='u')} FROM users u WHERE u.volunteer_status = "
    f"'{VolunteerStatus.APPROVED}' AND NOT u.trusted AND NOT u.is_organizer "
    "ORDER BY COALESCE((SELECT max(c.created_at) FROM call c WHERE c.volunteer_id = u.id), "
    "u.approved_at, u.created_at) DESC, u.id LIMIT :limit")


async def untrusted_volunteers(db: Database, limit: int = 30) -> list[Person]:
    async with db.fast_read() as tx:
        return [person_of(row) for row in await tx.all(_NOT_TRUSTED, limit=limit)]
