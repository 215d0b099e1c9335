"""CSV input is bounded: a file that is one 100 MB line, a 100 MB header, a row that never
ends (a quote left open) fails at once with the line to look at, and writes nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.contacts import ImportFailed, import_contacts
from storage.csv_input import MAX_ROW
from storage.models import AuditLog, Contact, PollingStation
from storage.stations import import_stations

MB = 1024 * 1024
TOO_LONG = f"is longer than {MAX_ROW:,} characters"


@pytest.fixture
def big_file(tmp_path: Path) -> Iterator:
    """Writes head, then `size` bytes of `filler` repeated, then tail; removed after the
    test (a kept temporary directory would hold hundreds of megabytes)."""
    path = tmp_path / "big.csv"

    def write(head: bytes, filler: bytes, size: int = 100 * MB, tail: bytes = b"") -> Path:
        block = filler * (MB // len(filler))
        with path.open("wb") as out:
            out.write(head)
            for _ in range(size // len(block)):
                out.write(block)
            out.write(tail)
        return path

    yield write
    path.unlink(missing_ok=True)


async def written(db) -> tuple[int, int, list[str]]:
    async with db.read() as s:
        contacts = (await s.execute(select(func.count()).select_from(Contact))).scalar_one()
        stations = (await s.execute(select(func.count()).select_from(PollingStation))
                    ).scalar_one()
        actions = list((await s.execute(select(AuditLog.action))).scalars())
    return contacts, stations, [a for a in actions if a.endswith(".import")]


CONTACTS = {
    "one line": (b"", b"0612345678;", b"", "line 1 " + TOO_LONG),
    "a header": (b"", b"telephone;", b"\n0612345678\n", "line 1 " + TOO_LONG),
    "a long row": (b"telephone;prenom\n0612345678;Fabrice\n0612345679;", b"Fabrice ", b"\n",
                   "line 3 " + TOO_LONG),
    # Each line short, the row never ends: quoted fields that hold the line breaks.
    "an endless row": (b"telephone;prenom\n0612345678;", b'"a\nb";', b"\n",
                       "the row from line 2 " + TOO_LONG),
    # Far enough down for the numbers of the first rows to be parsing in the worker process.
    "a long row after 12,000": (
        b"telephone;prenom\n" + b"".join(b"06%08d;Ana\n" % n for n in range(12_000))
        + b"0612345678;", b"Ana ", b"\n", "line 12002 " + TOO_LONG),
}


@pytest.mark.parametrize("case", CONTACTS)
async def test_an_oversized_contacts_file_fails_at_once_and_writes_nothing(
        db, campaign, big_file, case):
    head, filler, tail, message = CONTACTS[case]
    path = big_file(head, filler, 8 * MB if case == "an endless row" else 100 * MB, tail)
    start = time.monotonic()
    with path.open("rb") as source, pytest.raises(ImportFailed) as failed:
        await import_contacts(db, campaign, source)
    assert time.monotonic() - start < 10  # a megabyte read, not a hundred
    assert message in str(failed.value)
    assert await written(db) == (0, 0, [])


STATIONS = {
    "one line": (b"", b"93066;1;", b"", "line 1 " + TOO_LONG),
    "a header": (b"", b"code_insee;numero;", b"\n93066;1\n", "line 1 " + TOO_LONG),
    "a long row": (b"insee;numero;nom\n93066;1;Ecole\n93066;2;", b"Ecole ", b"\n",
                   "line 3 " + TOO_LONG),
    "an endless row": (b"insee;numero;nom\n93066;1;", b'"a\nb";', b"\n",
                       "the row from line 2 " + TOO_LONG),
}


@pytest.mark.parametrize("case", STATIONS)
async def test_an_oversized_stations_file_fails_at_once_and_writes_nothing(db, big_file, case):
    head, filler, tail, message = STATIONS[case]
    path = big_file(head, filler, 8 * MB if case == "an endless row" else 100 * MB, tail)
    start = time.monotonic()
    with path.open("rb") as source, pytest.raises(ImportFailed) as failed:
        await import_stations(db, source)
    assert time.monotonic() - start < 10
    assert message in str(failed.value)
    assert await written(db) == (0, 0, [])
