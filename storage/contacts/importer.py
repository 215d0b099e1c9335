"""The CSV importer: a file's contacts merged into the campaign's, in one transaction.

A file that turns out not to be a contacts CSV half-way (bad bytes, no phone column, a
broken quote) leaves the database exactly as it was. Rows that merely cannot be used (no
number, invalid number) are skipped and reported with their line.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable
from typing import IO, Any

from storage import clock
from storage.audit import write_audit_in
from storage.contacts.priorities import priority, target_priorities
from storage.contacts.reading import (
    FIELDS,
    Chunk,
    ImportReport,
    Reject,
    chunks,
    open_text,
    rows,
    size,
)
from storage.csv_input import ImportFailed
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import EPOCH, Campaign, ContactStatus
from storage.phones import CAMPAIGN_ZONE, Parsed, PhoneNormaliser

ALL_DO_NOT_CALL = SQL.of("SELECT phone FROM do_not_call")
COUNT = SQL.of("SELECT count(*) FROM contact WHERE campaign_id = :campaign_id")
# Merge: what the database knows stays; what it lacked is filled in. Re-importing the same
# file therefore changes nothing. A duplicate keeps the better (smaller) priority.
# A known number keeps its zone (zone is not in the update list).
_UPSERTED = ("campaign_id", *FIELDS, "priority", "source", "due_at", "zone")
UPSERT = SQL.of(
    f"INSERT INTO contact ({', '.join(_UPSERTED)}, status, attempts, lease_seq) "
    f"VALUES ({', '.join(':' + name for name in _UPSERTED)}, '{ContactStatus.OPEN}', 0, 0) "
    "ON CONFLICT (campaign_id, phone) DO UPDATE SET "
    + ", ".join(f"{name} = COALESCE(contact.{name}, excluded.{name})"
                for name in (*FIELDS[1:], "source"))
    + ", priority = {least}(contact.priority, excluded.priority)")
PARALLEL_FROM_BYTES = 4 * 1024 * 1024


async def import_contacts(
    db: Database, campaign: Campaign, source: IO[bytes], *, source_label: str | None = None,
    actor_id: int | None = None, progress: Callable[[int], None] | None = None,
    parallel: bool | None = None,
) -> ImportReport:
    """Import a CSV (bytes) into the campaign. Raises ImportFailed and writes nothing if the
    file is not a usable contacts CSV. `parallel` parses numbers in a second process; by
    default for files over a few megabytes, where it pays for the process's start."""
    if parallel is None:
        parallel = size(source) > PARALLEL_FROM_BYTES
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


class _Merger:
    """Turns normalised rows into the next batch to upsert: do-not-call filtered out,
    duplicates (in the file, or already known) merged, queue priority set."""

    def __init__(self, report: ImportReport, targets: dict[str, int], do_not_call: set[str],
                 campaign_zone: str):
        self.report, self.targets, self.do_not_call = report, targets, do_not_call
        self.campaign_zone = campaign_zone
        self.seen: set[str] = set()

    def batch(self, chunk: Chunk, parsed: list[Parsed]) -> dict[str, dict[str, Any]]:
        batch: dict[str, dict[str, Any]] = {}
        for line, record, raw, number in zip(chunk.lines, chunk.records, chunk.raw_phones,
                                             parsed, strict=True):
            if number is None:
                self.report.rejects.append(Reject(line, "invalid phone number", raw[:40]))
                continue
            phone, zone = number
            # The campaign's own zone is stored as such: it follows the campaign file.
            record["zone"] = CAMPAIGN_ZONE if zone == self.campaign_zone else zone
            if phone in self.do_not_call:
                self.report.do_not_call += 1
                continue
            record["phone"] = phone
            record["priority"] = priority(self.targets, record["constituency"])
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
    text = open_text(source, encoding)
    try:
        # On the driver (storage.driver): half a million rows through the ORM's parameter
        # processing cost more than parsing them.
        async with db.fast_write(long=True) as tx, PhoneNormaliser(parallel) as normaliser:
            do_not_call = {phone for (phone,) in await tx.all(ALL_DO_NOT_CALL)}
            before = await _count(tx, campaign)
            merger = _Merger(report, target_priorities(campaign), do_not_call,
                             campaign.timezone)
            every_row = {"campaign_id": campaign.id, "source": source_label,
                         "due_at": tx.value(EPOCH)}

            async def flush(chunk: Chunk, phones: asyncio.Future[list[Parsed]]) -> None:
                batch = merger.batch(chunk, await phones)
                if batch:
                    await tx.many(UPSERT, [record | every_row for record in batch.values()])
                if progress:
                    progress(report.rows)

            # A pipeline: while the numbers of one chunk are parsed (in a second process for
            # big files), the previous chunk is written and the next one read.
            waiting: tuple[Chunk, asyncio.Future[list[Parsed]]] | None = None
            try:
                for chunk in chunks(rows(text, report), report):
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
            await write_audit_in(tx, actor_id, "contacts.import",
                                 f"campaign={campaign.name} rows={report.rows} "
                                 f"new={report.imported} rejected={len(report.rejects)}",
                                 clock.utcnow())
    finally:
        text.detach()
    db.zone_cache.clear()  # new zones in the queue: the next claim reads them
    return report


def _merge_into(target: dict[str, Any] | None, extra: dict[str, Any]) -> None:
    if target is None:
        return
    for key, value in extra.items():
        if target.get(key) is None and value is not None:
            target[key] = value


async def _count(tx: Tx, campaign: Campaign) -> int:
    row = await tx.one(COUNT, campaign_id=campaign.id)
    assert row is not None  # an aggregate always answers
    (count,) = row
    return int(count)
