"""Contacts in and out: the CSV importer, the export, and queue priorities.

An import is one transaction: a file that turns out not to be a contacts CSV half-way (bad
bytes, no phone column, a broken quote) leaves the database exactly as it was. Rows that
merely cannot be used (no number, invalid number) are skipped and reported with their line.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import write_audit
from storage.database import Database
from storage.models import UNTARGETED_PRIORITY, Campaign, Contact, DoNotCall
from storage.phones import region_for, to_e164

contact_t = Contact.__table__  # type: ignore[attr-defined]

FIELDS = ("phone", "first_name", "last_name", "constituency", "polling_station", "commune",
          "postal_code", "tags")

# Header names seen in real exports, French and English, compared without accents or case.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "phone": ("phone", "telephone", "tel", "portable", "mobile", "phone_number", "numero",
              "numero_de_telephone", "telephone_portable"),
    "first_name": ("first_name", "firstname", "prenom", "given_name"),
    "last_name": ("last_name", "lastname", "nom", "nom_de_famille", "surname", "family_name"),
    "constituency": ("constituency", "circonscription", "circo"),
    "polling_station": ("polling_station", "bureau_de_vote", "bureau", "bdv"),
    "commune": ("commune", "city", "ville", "town"),
    "postal_code": ("postal_code", "code_postal", "cp", "zip", "zip_code", "postcode"),
    "tags": ("tags", "tag", "etiquettes", "labels"),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}
BATCH = 5000
MAX_FIELD = 1000  # longer than any real name or tag list: the row is refused


class ImportFailed(Exception):
    """The file cannot be imported at all; nothing was written."""


@dataclass
class Reject:
    line: int
    reason: str
    value: str


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0  # new contacts
    merged: int = 0  # rows whose number was already known (in the file or the database)
    do_not_call: int = 0
    rejects: list[Reject] = field(default_factory=list)
    encoding: str = "utf-8"
    delimiter: str = ","


def normalise_header(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.strip().lstrip("\ufeff").casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "_".join(plain.replace("-", " ").replace(".", " ").split())


def map_header(header: list[str]) -> dict[str, int]:
    mapping: dict[str, int] = {}
    for index, name in enumerate(header):
        field_name = _ALIAS_TO_FIELD.get(normalise_header(name))
        if field_name and field_name not in mapping:
            mapping[field_name] = index
    return mapping


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _target_priorities(campaign: Campaign) -> dict[str, int]:
    return {name.casefold(): rank for rank, name in enumerate(campaign.target_constituencies)}


def _priority(targets: dict[str, int], constituency: str | None) -> int:
    if not constituency:
        return UNTARGETED_PRIORITY
    return targets.get(constituency.casefold(), UNTARGETED_PRIORITY)


def _rows(text: IO[str], report: ImportReport) -> Iterator[tuple[int, list[str], dict[str, int]]]:
    first = text.readline()
    if not first.strip():
        raise ImportFailed("the file is empty or has no header line")
    report.delimiter = _sniff_delimiter(first)
    header = next(csv.reader([first], delimiter=report.delimiter))
    mapping = map_header(header)
    if "phone" not in mapping:
        raise ImportFailed(
            "not a contacts CSV: no phone column in the header (expected one of: "
            + ", ".join(HEADER_ALIASES["phone"]) + ")")
    reader = csv.reader(text, delimiter=report.delimiter)
    for row in reader:
        yield reader.line_num + 1, row, mapping


def _open_text(raw: IO[bytes], encoding: str) -> IO[str]:
    raw.seek(0)
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")


async def import_contacts(
    db: Database, campaign: Campaign, source: IO[bytes], *, source_label: str | None = None,
    actor_id: int | None = None, progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a CSV (bytes) into the campaign. Raises ImportFailed and writes nothing if the
    file is not a usable contacts CSV."""
    source.seek(0)
    if b"\x00" in source.read(8192):
        raise ImportFailed("not a CSV: the file holds binary data (a spreadsheet or an image?)")
    last_error: UnicodeDecodeError | None = None
    # UTF-8 (with or without BOM) first; Windows-1252 is what Excel writes in France.
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return await _import_once(db, campaign, source, encoding, source_label, actor_id,
                                      progress)
        except UnicodeDecodeError as exc:
            last_error = exc
    raise ImportFailed(f"the file is neither UTF-8 nor Windows-1252 text ({last_error})")


async def _import_once(db: Database, campaign: Campaign, source: IO[bytes], encoding: str,
                       source_label: str | None, actor_id: int | None,
                       progress: Callable[[int], None] | None) -> ImportReport:
    report = ImportReport(encoding=encoding.removesuffix("-sig"))
    targets = _target_priorities(campaign)
    seen: set[str] = set()
    text = _open_text(source, encoding)
    try:
        async with db.write() as session:
            do_not_call = set((await session.execute(select(DoNotCall.phone))).scalars())
            before = await _count(session, campaign)
            batch: dict[str, dict[str, Any]] = {}
            try:
                for line, row, mapping in _rows(text, report):
                    report.rows += 1
                    record = _record(line, row, mapping, report)
                    if record is None:
                        continue
                    phone = record["phone"]
                    if phone in do_not_call:
                        report.do_not_call += 1
                        continue
                    if phone in seen:
                        report.merged += 1
                        _merge_into(batch.get(phone), record)
                        if phone not in batch:
                            batch[phone] = record
                    else:
                        seen.add(phone)
                        batch[phone] = record
                    record["priority"] = _priority(targets, record["constituency"])
                    if len(batch) >= BATCH:
                        await _upsert(session, db.is_sqlite, campaign, batch, source_label)
                        batch = {}
                        if progress:
                            progress(report.rows)
            except csv.Error as exc:
                raise ImportFailed(f"not a readable CSV: {exc}") from exc
            if batch:
                await _upsert(session, db.is_sqlite, campaign, batch, source_label)
            after = await _count(session, campaign)
            report.imported = after - before
            report.merged = len(seen) - report.imported + report.merged
            await write_audit(session, actor_id, "contacts.import",
                              f"campaign={campaign.name} rows={report.rows} "
                              f"new={report.imported} rejected={len(report.rejects)}")
            if progress:
                progress(report.rows)
    finally:
        text.detach()
    return report


def _clean(value: str) -> str | None:
    value = value.strip()
    return value or None


def _record(line: int, row: list[str], mapping: dict[str, int],
            report: ImportReport) -> dict[str, Any] | None:
    if not any(cell.strip() for cell in row):
        report.rows -= 1  # blank lines are not rows
        return None
    record = {name: _clean(row[i]) if i < len(row) else None for name, i in mapping.items()}
    raw_phone = record.get("phone")
    if not raw_phone:
        report.rejects.append(Reject(line, "no phone number", ""))
        return None
    if any(value and len(value) > MAX_FIELD for value in record.values()):
        report.rejects.append(Reject(line, "a field is too long", raw_phone[:40]))
        return None
    phone = to_e164(raw_phone, region_for(record.get("postal_code")))
    if phone is None:
        report.rejects.append(Reject(line, "invalid phone number", raw_phone[:40]))
        return None
    for name in FIELDS:
        record.setdefault(name, None)
    record["phone"] = phone
    return record


def _merge_into(target: dict[str, Any] | None, extra: dict[str, Any]) -> None:
    if target is None:
        return
    for key, value in extra.items():
        if target.get(key) is None and value is not None:
            target[key] = value


async def _count(session: AsyncSession, campaign: Campaign) -> int:
    return (await session.execute(
        select(func.count()).select_from(contact_t).where(contact_t.c.campaign_id == campaign.id)
    )).scalar_one()


async def _upsert(session: AsyncSession, is_sqlite: bool, campaign: Campaign,
                  batch: dict[str, dict[str, Any]], source_label: str | None) -> None:
    rows = [{**record, "campaign_id": campaign.id, "source": source_label}
            for record in batch.values()]
    stmt = (sqlite_insert if is_sqlite else pg_insert)(contact_t)
    # Merge: what the database knows stays; what it lacked is filled in. Re-importing the
    # same file therefore changes nothing.
    merged = {name: func.coalesce(contact_t.c[name], stmt.excluded[name])
              for name in (*FIELDS[1:], "source")}
    merged["priority"] = func.min(contact_t.c.priority, stmt.excluded.priority) if is_sqlite \
        else func.least(contact_t.c.priority, stmt.excluded.priority)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["campaign_id", "phone"], set_=merged), rows)


async def reprioritize(session: AsyncSession, campaign: Campaign) -> None:
    """Recompute queue priorities after the campaign's target list changed."""
    targets = campaign.target_constituencies
    lowered = func.lower(contact_t.c.constituency)
    priority = case({name.casefold(): rank for rank, name in enumerate(targets)},
                    value=lowered, else_=UNTARGETED_PRIORITY) if targets else UNTARGETED_PRIORITY
    await session.execute(update(contact_t).where(contact_t.c.campaign_id == campaign.id)
                          .values(priority=priority))


EXPORT_COLUMNS = ("phone", "first_name", "last_name", "constituency", "commune", "postal_code",
                  "polling_station", "status", "attempts", "last_outcome", "follow_up", "source")


async def export_contacts(db: Database, campaign: Campaign | None, *,
                          actor_id: int | None = None) -> AsyncIterator[list[str]]:
    """Every contact as a CSV row (header first), streamed; the export is audited."""
    async with db.write() as session:
        await write_audit(session, actor_id, "contacts.export",
                          f"campaign={campaign.name if campaign else 'all'}")
    yield list(EXPORT_COLUMNS)
    query = select(*(contact_t.c[name] for name in EXPORT_COLUMNS)).order_by(contact_t.c.id)
    if campaign is not None:
        query = query.where(contact_t.c.campaign_id == campaign.id)
    async with db.read() as session:
        result = await session.stream(query.execution_options(yield_per=2000))
        async for row in result:
            yield ["" if value is None else str(value) for value in row]


def write_rejects(path: Path, rejects: list[Reject]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "reason", "value"])
        for reject in rejects:
            writer.writerow([reject.line, reject.reason, reject.value])
