"""Who organizes: the ids ORGANIZER_IDS lists, and the ids `toile organizers add` named,
each role kept for as long as its source says so."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import AuditLog
from storage.users import get_user, organizers, set_organizer, sync_organizers


async def organizer_ids(db) -> list[int]:
    return sorted(o.id for o in await organizers(db))


async def audit(db) -> list[tuple[str, str]]:
    async with db.read() as session:
        return [(a.action, a.detail) for a in (await session.execute(
            select(AuditLog).order_by(AuditLog.id))).scalars()]


async def test_an_id_taken_out_of_organizer_ids_is_no_organizer_after_the_next_start(db):
    await sync_organizers(db, [900, 901])
    assert await organizer_ids(db) == [900, 901]
    await sync_organizers(db, [900])  # the next start, 901 taken out of the configuration
    assert await organizer_ids(db) == [900]
    assert not (await get_user(db, 901)).is_organizer
    # The configuration gives the role back when it lists the id again.
    await sync_organizers(db, [900, 901])
    assert await organizer_ids(db) == [900, 901]


async def test_organizers_added_from_the_terminal_keep_the_role_until_removed_there(db):
    await sync_organizers(db, [900])
    await set_organizer(db, 902, True, actor_id=None)  # toile organizers add 902
    await sync_organizers(db, [900])
    await sync_organizers(db, [])
    assert await organizer_ids(db) == [902]
    assert await set_organizer(db, 902, False, actor_id=None)  # toile organizers remove 902
    await sync_organizers(db, [])
    assert await organizer_ids(db) == []


async def test_both_sources_each_hold_the_role_until_both_let_go(db):
    await sync_organizers(db, [900])
    await set_organizer(db, 900, True, actor_id=None)  # also added from the terminal
    await sync_organizers(db, [])  # taken out of the configuration: the terminal's holds
    assert await organizer_ids(db) == [900]
    await sync_organizers(db, [900])
    await set_organizer(db, 900, False, actor_id=None)  # removed from the terminal
    assert await organizer_ids(db) == [900]  # the configuration still lists them
    await sync_organizers(db, [])
    assert await organizer_ids(db) == []


async def test_a_start_that_changes_who_organizes_says_so_in_the_audit_log(db):
    first = await sync_organizers(db, [900, 901])
    assert (first.added, first.removed) == ([900, 901], [])
    again = await sync_organizers(db, [900, 901])
    assert (again.added, again.removed) == ([], [])
    later = await sync_organizers(db, [901, 903])
    assert (later.added, later.removed) == ([903], [900])
    assert await audit(db) == [
        ("organizers.add_from_config", "user=900"), ("organizers.add_from_config", "user=901"),
        ("organizers.add_from_config", "user=903"),
        ("organizers.remove_from_config", "user=900")]
