"""Contacts in and out: the CSV importer, the export, and queue priorities.

An import is one transaction: a file that turns out not to be a contacts CSV half-way (bad
bytes, no phone column, a broken quote) leaves the database exactly as it was. Rows that
merely cannot be used (no number, invalid number) are skipped and reported with their line.
"""

from __future__ import annotations

import asyncio
import csv
import io
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import clock
from storage.audit import write_audit
from storage.csv_input import BoundedLines, ImportFailed
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import EPOCH, UNTARGETED_PRIORITY, Campaign, Contact
from storage.phones import PhoneNormaliser

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
ALL_DO_NOT_CALL = SQL.of("SELECT phone FROM do_not_call")
COUNT = SQL.of("SELECT count(*) FROM contact WHERE campaign_id = ?")
# Merge: what the database knows stays; what it lacked is filled in. Re-importing the same
# file therefore changes nothing. A duplicate keeps the better (smaller) priority.
UPSERT = SQL.of(
    f"INSERT INTO contact (campaign_id, {', '.join(FIELDS)}, priority, source, due_at, "
    "status, attempts, lease_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', 0, 0) "
    "ON CONFLICT (campaign_id, phone) DO UPDATE SET "
    + ", ".join(f"{name} = COALESCE(contact.{name}, excluded.{name})"
                for name in (*FIELDS[1:], "source"))
    + ", priority = {least}(contact.priority, excluded.priority)")
INSERT_AUDIT = SQL.of(
    "INSERT INTO audit_log (actor_id, action, detail, created_at) VALUES (?, ?, ?, ?)")
_UPSERT_FIELDS = itemgetter(*FIELDS, "priority")  # a row's values for UPSERT, at C speed
PARALLEL_FROM_BYTES = 4 * 1024 * 1024
MAX_FIELD = 1000  # longer than any real name or tag list: the row is refused


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
    lines = BoundedLines(text)
    first = lines.header()
    if not first.strip():
        raise ImportFailed("the file is empty or has no header line")
    report.delimiter = _sniff_delimiter(first)
    header = next(csv.reader([first], delimiter=report.delimiter))
    mapping = map_header(header)
    if "phone" not in mapping:
        raise ImportFailed(
            "not a contacts CSV: no phone column in the header (expected one of: "
            + ", ".join(HEADER_ALIASES["phone"]) + ")")
    reader = csv.reader(lines, delimiter=report.delimiter)
    for row in reader:
        yield lines.line, row, mapping  # the row's last line, as before
        lines.next_row()


def _size(source: IO[bytes]) -> int:
    position = source.tell()
    size = source.seek(0, io.SEEK_END)
    source.seek(position)
    return size


def _open_text(raw: IO[bytes], encoding: str) -> IO[str]:
    raw.seek(0)
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")


async def import_contacts(
    db: Database, campaign: Campaign, source: IO[bytes], *, source_label: str | None = None,
    actor_id: int | None = None, progress: Callable[[int], None] | None = None,
    parallel: bool | None = None,
) -> ImportReport:
    """Import a CSV (bytes) into the campaign. Raises ImportFailed and writes nothing if the
    file is not a usable contacts CSV. `parallel` parses numbers in a second process; by
    default for files over a few megabytes, where it pays for the process's start."""
    if parallel is None:
        parallel = _size(source) > PARALLEL_FROM_BYTES
    source.seek(0)
    if b"\x00" in source.read(8192):
        raise ImportFailed("not a CSV: the file holds binary data (a spreadsheet or an image?)")
    last_error: UnicodeDecodeError | None = None
    # UTF-8 (with or without BOM) first; Windows-1252 is what Excel writes in France.
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return await _import_once(db, campaign, source, encoding, source_label, actor_id,
                                      progress, parallel)
        except UnicodeDecodeError as exc:
            last_error = exc
    raise ImportFailed(f"the file is neither UTF-8 nor Windows-1252 text ({last_error})")


@dataclass
class _Chunk:
    """Rows read from the file, their numbers still as written."""

    lines: list[int] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    raw_phones: list[str] = field(default_factory=list)


class _Merger:
    """Turns normalised rows into the next batch to upsert: do-not-call filtered out,
    duplicates (in the file, or already known) merged, queue priority set."""

    def __init__(self, report: ImportReport, targets: dict[str, int], do_not_call: set[str]):
        self.report, self.targets, self.do_not_call = report, targets, do_not_call
        self.seen: set[str] = set()

    def batch(self, chunk: _Chunk, phones: list[str | None]) -> dict[str, dict[str, Any]]:
        batch: dict[str, dict[str, Any]] = {}
        for line, record, raw, phone in zip(chunk.lines, chunk.records, chunk.raw_phones, phones,
                                            strict=True):
            if phone is None:
                self.report.rejects.append(Reject(line, "invalid phone number", raw[:40]))
                continue
            if phone in self.do_not_call:
                self.report.do_not_call += 1
                continue
            record["phone"] = phone
            record["priority"] = _priority(self.targets, record["constituency"])
            if phone in self.seen:
                self.report.merged += 1
                if phone in batch:
                    _merge_into(batch[phone], record)
                    continue
            self.seen.add(phone)
            batch[phone] = record  # a duplicate in a later batch merges in UPSERT
        return batch


async def _import_once(db: Database, campaign: Campaign, source: IO[bytes], encoding: str,
                       source_label: str | None, actor_id: int | None,
                       progress: Callable[[int], None] | None,
                       parallel: bool) -> ImportReport:
    report = ImportReport(encoding=encoding.removesuffix("-sig"))
    text = _open_text(source, encoding)
    try:
        # On the driver (storage.driver): half a million rows through the ORM's parameter
        # processing cost more than parsing them.
        async with db.fast_write(long=True) as tx, PhoneNormaliser(parallel) as normaliser:
            do_not_call = {row[0] for row in await tx.all(ALL_DO_NOT_CALL)}
            before = await _count(tx, campaign)
            merger = _Merger(report, _target_priorities(campaign), do_not_call)
            epoch = tx.value(EPOCH)

            async def flush(chunk: _Chunk, phones: asyncio.Future[list[str | None]]) -> None:
                batch = merger.batch(chunk, await phones)
                if batch:
                    await tx.many(UPSERT, [(campaign.id, *_UPSERT_FIELDS(r), source_label, epoch)
                                           for r in batch.values()])
                if progress:
                    progress(report.rows)

            # A pipeline: while the numbers of one chunk are parsed (in a second process for
            # big files), the previous chunk is written and the next one read.
            waiting: tuple[_Chunk, asyncio.Future[list[str | None]]] | None = None
            try:
                for chunk in _chunks(_rows(text, report), report):
                    parsing = normaliser.submit(chunk.raw_phones, chunk.records)
                    if waiting is not None:
                        await flush(*waiting)
                    waiting = (chunk, parsing)
            except csv.Error as exc:
                raise ImportFailed(f"not a readable CSV: {exc}") from exc
            if waiting is not None:
                await flush(*waiting)
            report.imported = await _count(tx, campaign) - before
            report.merged = len(merger.seen) - report.imported + report.merged
            await tx.run(INSERT_AUDIT, actor_id, "contacts.import",
                         f"campaign={campaign.name} rows={report.rows} "
                         f"new={report.imported} rejected={len(report.rejects)}",
                         clock.utcnow())
    finally:
        text.detach()
    return report


def _chunks(rows: Iterator[tuple[int, list[str], dict[str, int]]],
            report: ImportReport) -> Iterator[_Chunk]:
    chunk = _Chunk()
    for line, row, mapping in rows:
        report.rows += 1
        record = _record(line, row, mapping, report)
        if record is None:
            continue
        chunk.lines.append(line)
        chunk.raw_phones.append(record["phone"])
        chunk.records.append(record)
        if len(chunk.lines) >= BATCH:
            yield chunk
            chunk = _Chunk()
    if chunk.lines:
        yield chunk


_EMPTY = dict.fromkeys(FIELDS)


def _record(line: int, row: list[str], mapping: dict[str, int],
            report: ImportReport) -> dict[str, Any] | None:
    """The row's fields, cleaned, its phone still raw; None (and reported) if unusable."""
    record = dict(_EMPTY)
    width = len(row)
    too_long = False
    for name, index in mapping.items():
        if index < width:
            value = row[index].strip()
            if value:
                record[name] = value
                too_long = too_long or len(value) > MAX_FIELD
    raw_phone = record["phone"]
    if not raw_phone:
        if any(value is not None for value in record.values()) or any(c.strip() for c in row):
            report.rejects.append(Reject(line, "no phone number", ""))
        else:
            report.rows -= 1  # a blank line is not a row
        return None
    if too_long:
        report.rejects.append(Reject(line, "a field is too long", raw_phone[:40]))
        return None
    return record


def _merge_into(target: dict[str, Any] | None, extra: dict[str, Any]) -> None:
    if target is None:
        return
    for key, value in extra.items():
        if target.get(key) is None and value is not None:
            target[key] = value


async def _count(tx: Tx, campaign: Campaign) -> int:
    row = await tx.one(COUNT, campaign.id)
    return int(row[0]) if row else 0


async def reprioritize(session: AsyncSession, campaign: Campaign) -> None:
    """Recompute queue priorities after the campaign's target list changed.

    Matched in Python with casefold(), as the importer does: SQLite's lower() knows ASCII
    only, and "BOUCHES-DU-RHÔNE 4" would no longer match its target."""
    targets = _target_priorities(campaign)
    names = (await session.execute(
        select(contact_t.c.constituency).where(contact_t.c.campaign_id == campaign.id)
        .distinct())).scalars().all()
    for name in names:
        await session.execute(
            update(contact_t).where(contact_t.c.campaign_id == campaign.id,
                                    contact_t.c.constituency == name)
            .values(priority=_priority(targets, name)))
    await session.execute(
        update(contact_t).where(contact_t.c.campaign_id == campaign.id,
                                contact_t.c.constituency.is_(None))
        .values(priority=UNTARGETED_PRIORITY))


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
