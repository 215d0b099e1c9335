"""The organizers' export of a campaign's needs and offers: audited, and without what is
the giver's alone (voter numbers, dates of birth)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from storage import clock
from storage.audit import write_audit_in
from storage.database import Database
from storage.driver import SQL
from storage.models import Campaign
from storage.proxies.rules import dates_of
from storage.rows import columns, reader

EXPORT_COLUMNS = ("request", "kind", "status", "first_name", "phone", "commune_insee",
                  "department", "constituency", "station", "rounds", "created_at",
                  "match_status", "matched_with")


@dataclass(frozen=True)
class _Exported:
    request: int
    kind: str
    status: str
    first_name: str
    phone: str | None
    commune_insee: str
    department: str
    constituency: str | None
    station: str
    rounds_mask: int
    created_at: datetime
    match_status: str | None
    matched_with: str | None


# Each request with its latest match's status and the other side's first name.
_EXPORT = SQL.of(
    f"SELECT {columns(_Exported)} FROM (SELECT r.id AS request, r.kind, r.status, "
    "r.first_name, r.phone, r.commune_insee, r.department, r.constituency, r.station, "
    "r.rounds_mask, r.created_at, "
    "(SELECT m.status FROM proxy_match m WHERE m.need_id = r.id OR m.offer_id = r.id "
    " ORDER BY m.id DESC LIMIT 1) AS match_status, "
    "(SELECT CASE WHEN m.need_id = r.id THEN o.first_name ELSE n.first_name END "
    " FROM proxy_match m JOIN proxy_request n ON n.id = m.need_id "
    " JOIN proxy_request o ON o.id = m.offer_id "
    " WHERE m.need_id = r.id OR m.offer_id = r.id ORDER BY m.id DESC LIMIT 1) "
    "AS matched_with FROM proxy_request r WHERE r.campaign_id = :campaign_id) AS requests "
    "ORDER BY request")
_READ_EXPORTED = reader(_Exported)


def _line(campaign: Campaign, row: _Exported) -> list[str]:
    values: dict[str, object] = {f.name: getattr(row, f.name) for f in fields(row)}
    values["rounds"] = " ".join(dates_of(campaign, row.rounds_mask))
    values["created_at"] = row.created_at.isoformat() if row.created_at else ""
    return ["" if values[name] is None else str(values[name]) for name in EXPORT_COLUMNS]


async def export_requests(db: Database, campaign: Campaign, *,
                          actor_id: int | None = None) -> list[list[str]]:
    """Every need and offer of the campaign with its latest match, header first; audited.
    Voter numbers and dates of birth are never exported: they are the giver's alone."""
    async with db.fast_write() as tx:
        await write_audit_in(tx, actor_id, "proxies.export", f"campaign={campaign.name}",
                             clock.utcnow())
    async with db.fast_read() as tx:
        rows = await tx.all(_EXPORT, campaign_id=campaign.id)
    return [list(EXPORT_COLUMNS), *(_line(campaign, _READ_EXPORTED(row)) for row in rows)]
