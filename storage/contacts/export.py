"""The contacts export: every contact as CSV rows, streamed, and audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from storage import clock
from storage.audit import write_audit_in
from storage.database import Database
from storage.driver import SQL
from storage.models import Campaign
from storage.rows import columns, fields


@dataclass(frozen=True)
class ExportedContact:
    """An export's columns, in order: its header and its select list."""

    phone: str
    first_name: str | None
    last_name: str | None
    constituency: str | None
    commune: str | None
    postal_code: str | None
    polling_station: str | None
    status: str
    attempts: int
    last_outcome: str | None
    follow_up: str | None
    source: str | None


EXPORT_COLUMNS = tuple(fields(ExportedContact))
EXPORT_PAGE = 2000
# A page at a time, in id order from where the last one ended.
_EXPORT = {
    "campaign": SQL.of(f"SELECT id, {columns(ExportedContact)} FROM contact "
                       "WHERE campaign_id = :campaign_id AND id > :after ORDER BY id "
                       "LIMIT :page"),
    "all": SQL.of(f"SELECT id, {columns(ExportedContact)} FROM contact WHERE id > :after "
                  "ORDER BY id LIMIT :page"),
}


async def export_contacts(db: Database, campaign: Campaign | None, *,
                          actor_id: int | None = None) -> AsyncIterator[list[str]]:
    """Every contact as a CSV row (header first), streamed; the export is audited."""
    async with db.fast_write() as tx:
        await write_audit_in(tx, actor_id, "contacts.export",
                             f"campaign={campaign.name if campaign else 'all'}", clock.utcnow())
    yield list(EXPORT_COLUMNS)
    statement, scope = ((_EXPORT["campaign"], {"campaign_id": campaign.id}) if campaign
                        else (_EXPORT["all"], {}))
    after = 0
    async with db.fast_read(long=True) as tx:
        while rows := await tx.all(statement, **scope, after=after, page=EXPORT_PAGE):
            for contact_id, *values in rows:
                yield ["" if value is None else str(value) for value in values]
                after = contact_id
