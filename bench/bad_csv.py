"""Benchmark: oversized CSV files refused at once, within the memory budget.

    .venv/bin/python bench/bad_csv.py [--mb 100] [--keep]

For each shape of bad file (one 100 MB line, a 100 MB header, a 100 MB row after 12,000
good ones, a row that never ends), imports it with the contacts and the polling-station
importers, each in a fresh (spawned) child process, and prints the seconds to refuse it,
the message, and the child's peak RSS plus that of the number-parsing worker it started.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import multiprocessing
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from bench._common import CAMPAIGN_FILE, peak_rss_mb, sqlite_url, table, verdict

TARGET_RSS_MB = 300.0
TARGET_SECONDS = 5.0
MB = 1024 * 1024
GOOD_ROWS = b"".join(b"06%08d;Ana\n" % n for n in range(12_000))

# name -> (importer, head, filler repeated to the size, tail)
CASES: dict[str, tuple[str, bytes, bytes, bytes]] = {
    "contacts: one line": ("contacts", b"", b"0612345678;", b""),
    "contacts: a header": ("contacts", b"", b"telephone;", b"\n0612345678\n"),
    "contacts: a row after 12,000": ("contacts", b"telephone;prenom\n" + GOOD_ROWS
                                     + b"0612345678;", b"Ana ", b"\n"),
    "contacts: an endless row": ("contacts", b"telephone;prenom\n0612345678;", b'"a\nb";',
                                 b"\n"),
    "stations: one line": ("stations", b"", b"93066;1;", b""),
    "stations: a header": ("stations", b"", b"code_insee;numero;", b"\n93066;1\n"),
}


@dataclass(frozen=True)
class Figures:
    seconds: float
    message: str
    peak_rss_mb: float
    worker_rss_mb: float  # the importer's number-parsing process, if it started

    @property
    def total_rss_mb(self) -> float:
        return self.peak_rss_mb + self.worker_rss_mb


def write_case(path: Path, head: bytes, filler: bytes, tail: bytes, size: int) -> None:
    block = filler * (MB // len(filler))
    with path.open("wb") as out:
        out.write(head)
        for _ in range(size // len(block)):
            out.write(block)
        out.write(tail)


def _child(importer: str, db_path: str, csv_path: str, out: Connection) -> None:
    out.send(asyncio.run(_import(importer, Path(db_path), Path(csv_path))))
    out.close()


async def _import(importer: str, db_path: Path, csv_path: Path) -> Figures:
    from storage.campaigns import load_campaign, parse_campaign_file
    from storage.contacts import ImportFailed, import_contacts
    from storage.database import Database
    from storage.stations import import_stations

    db = Database(sqlite_url(db_path))
    message = "imported (not refused!)"
    try:
        campaign, _ = await load_campaign(db, parse_campaign_file(CAMPAIGN_FILE))
        with csv_path.open("rb") as source:
            start = time.perf_counter()
            try:
                if importer == "contacts":
                    await import_contacts(db, campaign, source)
                else:
                    await import_stations(db, source)
            except ImportFailed as exc:
                message = str(exc)
            seconds = time.perf_counter() - start
    finally:
        await db.dispose()
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    return Figures(seconds, message, peak_rss_mb(), worker)


def run_in_child(importer: str, db_path: Path, csv_path: Path) -> Figures:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: its peak is ours
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(importer, str(db_path), str(csv_path), send))
    child.start()
    send.close()
    try:
        figures: Figures = receive.recv()
    except EOFError:
        child.join()
        raise SystemExit(f"the import child died (exit code {child.exitcode})") from None
    child.join()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="size of each bad file")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()

    from storage.migrate import upgrade  # Alembic logs a few lines at INFO; imported late

    workdir = Path(tempfile.mkdtemp(prefix="toile-bench-bad-csv-"))
    rows = []
    try:
        template = workdir / "template.db"
        upgrade(sqlite_url(template))
        for name, (importer, head, filler, tail) in CASES.items():
            csv_path, db_path = workdir / "bad.csv", workdir / "toile.db"
            size = 8 * MB if "endless" in name else args.mb * MB
            write_case(csv_path, head, filler, tail, size)
            shutil.copy(template, db_path)
            figures = run_in_child(importer, db_path, csv_path)
            ok = figures.total_rss_mb <= TARGET_RSS_MB and figures.seconds <= TARGET_SECONDS
            rows.append((name, f"{csv_path.stat().st_size / MB:.0f} MB",
                         f"{figures.seconds:.2f}", f"{figures.peak_rss_mb:.1f}",
                         f"{figures.worker_rss_mb:.1f}", f"{figures.total_rss_mb:.1f}",
                         verdict(ok), figures.message[:72]))
            csv_path.unlink()
            db_path.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(("file", "size", "seconds", "peak RSS MB", "worker MB", "total MB",
                 f"<= {TARGET_RSS_MB:g} MB, {TARGET_SECONDS:g} s", "message"), rows))
    if args.keep:
        print(f"\nkept {workdir}")


if __name__ == "__main__":
    main()
