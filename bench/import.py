"""Benchmark: the CSV importer against bare phonenumbers parsing of the same rows.

    .venv/bin/python bench/import.py [--rows 500000] [--seed 42] [--keep]

Generates a realistic French contacts file, times phonenumbers alone on its numbers, then
imports it with storage.contacts.import_contacts into a fresh migrated SQLite file, in a
child process so that the peak RSS measured is the import's alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import csv
import multiprocessing
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import phonenumbers

from bench._common import (
    CAMPAIGN_FILE,
    current_rss_mb,
    peak_rss_mb,
    sqlite_url,
    table,
    verdict,
    write_contacts_csv,
)
from storage.phones import OVERSEAS_POSTAL_PREFIXES

TARGET_SECONDS = 30.0
TARGET_RSS_MB = 300.0
TARGET_RATIO = 1.5


@dataclass(frozen=True)
class ImportFigures:
    seconds: float
    rows: int
    imported: int
    rejected: int
    baseline_rss_mb: float  # the child after its imports, before reading a row
    peak_rss_mb: float
    worker_rss_mb: float  # the importer's number-parsing process, reaped when it ends

    @property
    def total_rss_mb(self) -> float:
        return self.peak_rss_mb + self.worker_rss_mb


def _import_child(db_path: str, csv_path: str, out: Connection) -> None:
    """Runs in a fresh (spawned) interpreter: its VmHWM is the import's peak and nothing else."""
    out.send(asyncio.run(_import(Path(db_path), Path(csv_path))))
    out.close()


async def _import(db_path: Path, csv_path: Path) -> ImportFigures:
    from storage.campaigns import load_campaign, parse_campaign_file
    from storage.contacts import import_contacts
    from storage.database import Database

    db = Database(sqlite_url(db_path))
    try:
        campaign, _ = await load_campaign(db, parse_campaign_file(CAMPAIGN_FILE))
        baseline = current_rss_mb()
        with csv_path.open("rb") as source:
            start = time.perf_counter()
            report = await import_contacts(db, campaign, source, source_label="bench")
            seconds = time.perf_counter() - start
    finally:
        await db.dispose()
    # ru_maxrss of reaped children (KiB on Linux): the importer's worker process, if it ran.
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return ImportFigures(seconds, report.rows, report.imported, len(report.rejects), baseline,
                         peak_rss_mb(), worker)


def run_import_in_child(db_path: Path, csv_path: Path) -> ImportFigures:
    # spawn, not fork: a forked child would start with the parent's pages (the CSV rows).
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_import_child, args=(str(db_path), str(csv_path), send))
    child.start()
    send.close()
    try:
        figures: ImportFigures = receive.recv()
    except EOFError:
        child.join()
        raise SystemExit(f"the import child died (exit code {child.exitcode})") from None
    child.join()
    return figures


def read_numbers(csv_path: Path) -> list[tuple[str, str]]:
    """(number as written, phonenumbers region) for every row, ready for the bare loop."""
    with csv_path.open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source, delimiter=";")
        header = next(reader)
        phone, postal = header.index("telephone"), header.index("code_postal")
        return [(row[phone], OVERSEAS_POSTAL_PREFIXES.get(row[postal][:3], "FR"))
                for row in reader]


def bare_phonenumbers(numbers: list[tuple[str, str]]) -> tuple[float, int]:
    """What storage.phones.to_e164 does for each row, calling phonenumbers directly."""
    parse, is_valid, format_number = (phonenumbers.parse, phonenumbers.is_valid_number,
                                      phonenumbers.format_number)
    e164 = phonenumbers.PhoneNumberFormat.E164
    valid = 0
    start = time.perf_counter()
    for raw, region in numbers:
        try:
            number = parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if is_valid(number):
            format_number(number, e164)
            valid += 1
    return time.perf_counter() - start, valid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000, help="contacts in the file")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (CSV, database)")
    args = parser.parse_args()

    from storage.migrate import upgrade  # Alembic logs a few lines at INFO; imported late

    workdir = Path(tempfile.mkdtemp(prefix="toile-bench-import-"))
    try:
        csv_path, db_path = workdir / "contacts.csv", workdir / "toile.db"
        start = time.perf_counter()
        write_contacts_csv(csv_path, args.rows, args.seed)
        print(f"generated {args.rows:,} rows ({csv_path.stat().st_size / 1e6:.1f} MB) "
              f"in {time.perf_counter() - start:.1f} s: {csv_path}")

        numbers = read_numbers(csv_path)
        parsed = len(numbers)
        bare_seconds, valid = bare_phonenumbers(numbers)
        del numbers

        upgrade(sqlite_url(db_path))
        figures = run_import_in_child(db_path, csv_path)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    ratio = figures.seconds / bare_seconds
    print()
    print(table(("figure", "value", "target", "verdict"), [
        ("rows in file", f"{figures.rows:,}", "", ""),
        ("valid numbers (bare)", f"{valid:,}", f"{parsed:,}", verdict(valid == parsed)),
        ("imported / rejected", f"{figures.imported:,} / {figures.rejected:,}", "", ""),
        ("import seconds", f"{figures.seconds:.2f}", f"<= {TARGET_SECONDS:g} s",
         verdict(figures.seconds <= TARGET_SECONDS)),
        ("import rows/s", f"{figures.rows / figures.seconds:,.0f}", "", ""),
        ("peak RSS MB, import + its worker", f"{figures.total_rss_mb:.1f}",
         f"<= {TARGET_RSS_MB:g} MB", verdict(figures.total_rss_mb <= TARGET_RSS_MB)),
        ("  import process", f"{figures.peak_rss_mb:.1f}", "", ""),
        ("    of which before the import", f"{figures.baseline_rss_mb:.1f}", "", ""),
        ("  number-parsing worker", f"{figures.worker_rss_mb:.1f}", "", ""),
        ("bare phonenumbers seconds", f"{bare_seconds:.2f}", "", ""),
        ("bare phonenumbers rows/s", f"{parsed / bare_seconds:,.0f}", "", ""),
        ("ratio import / bare", f"{ratio:.2f}x", f"<= {TARGET_RATIO:g}x",
         verdict(ratio <= TARGET_RATIO)),
    ]))
    if args.keep:
        print(f"\nkept {workdir}")


if __name__ == "__main__":
    main()
