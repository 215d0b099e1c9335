"""Polling stations: each commune's official list, imported from a CSV, and the check made
when someone names their station (a vote proxy is made for one polling station).

A commune whose list was never imported accepts any station number: organizers import the
lists they have, and nobody is turned away for a missing file. The import reads and checks
the whole file before it writes, then writes in one transaction: a file that is not a
polling-station CSV leaves the database as it was.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from storage import clock
from storage.audit import write_audit_in
from storage.communes import commune_by_insee
from storage.contacts import Reject, normalise_header, sniff_delimiter
from storage.csv_input import BoundedLines, ImportFailed
from storage.database import Database
from storage.driver import SQL, Tx
from storage.models import PollingStation
from storage.rows import columns, reader

# Header names seen in official and hand-made lists, compared without accents or case.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "insee": ("code_insee", "insee", "code_commune", "code_commune_insee", "code_insee_commune"),
    "number": ("numero", "numero_bureau", "bureau", "number", "station", "numero_de_bureau",
               "numero_du_bureau", "code_bureau", "code_bv", "num_bureau", "station_number"),
    "name": ("nom", "libelle", "name", "nom_bureau", "nom_du_bureau", "libelle_bureau",
             "libelle_bv"),
    "address": ("adresse", "address", "adresse_bureau", "adresse_du_bureau", "adresse_bv"),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}
MAX_NUMBER = 8  # the column's width
MAX_FIELD = 1000  # longer than any real name or address: the row is refused
_LEADING_DIGITS = re.compile(r"(\d*)")
# Digits and letters ("12", "12B", "A"), as the proxy forms accept them: anything else is
# a slipped column or quote, not a number.
_NUMBER = re.compile(r"[0-9A-Z]+")
IN_CHUNK = 500  # INSEE codes per IN (...) list, well under both drivers' parameter limits


@dataclass
class StationReport:
    rows: int = 0
    new: int = 0
    updated: int = 0  # known stations whose name or address changed
    unchanged: int = 0
    duplicates: int = 0  # lines repeating a station already read: merged into the first
    communes: int = 0  # communes with at least one station in the file
    rejects: list[Reject] = field(default_factory=list)
    encoding: str = "utf-8"
    delimiter: str = ","


def normalise_number(raw: str) -> str:
    """A station number as stored: no spaces, upper case, no leading zeros when it is all
    digits ("007" and "7" are one station; "A01" stays "A01"). May exceed MAX_NUMBER."""
    number = "".join(raw.split()).upper()
    if number.isascii() and number.isdigit():
        number = number.lstrip("0") or "0"
    return number


def normalise_insee(raw: str) -> str:
    """An INSEE code as written in the list: upper case (2a004), and the leading zero that
    a spreadsheet drops from numbers given back (1001 → 01001)."""
    code = raw.strip().upper()
    if len(code) == 4 and code.isascii() and code.isdigit():
        code = "0" + code
    return code


def _parse_file(file: BinaryIO) -> tuple[Stations, StationReport]:
    """Read and check the whole file, streaming (each row bounded), before anything is
    written."""
    file.seek(0)
    if b"\x00" in file.read(8192):
        raise ImportFailed("not a CSV: the file holds binary data (a spreadsheet or an image?)")
    # UTF-8 (with or without BOM) first; Windows-1252 is what Excel writes in France.
    for encoding in ("utf-8-sig", "cp1252"):
        file.seek(0)
        text = io.TextIOWrapper(file, encoding=encoding, errors="strict", newline="")
        report = StationReport(encoding=encoding.removesuffix("-sig"))
        try:
            return _parse(text, report), report
        except UnicodeDecodeError:
            continue
        finally:
            text.detach()  # the caller's file stays open
    raise ImportFailed("the file is neither UTF-8 nor Windows-1252 text")


def _map_header(header: list[str]) -> dict[str, int]:
    mapping: dict[str, int] = {}
    for index, name in enumerate(header):
        field_name = _ALIAS_TO_FIELD.get(normalise_header(name))
        if field_name and field_name not in mapping:
            mapping[field_name] = index
    for needed, what in (("insee", "INSEE code"), ("number", "station number")):
        if needed not in mapping:
            raise ImportFailed(
                f"not a polling-station CSV: no {what} column in the header (expected one "
                "of: " + ", ".join(HEADER_ALIASES[needed]) + ")")
    return mapping


Stations = dict[tuple[str, str], list[str]]  # (insee, number) -> [name, address]


def _parse(text: IO[str], report: StationReport) -> Stations:
    lines = BoundedLines(text)
    first = lines.header()
    if not first.strip():
        raise ImportFailed("the file is empty or has no header line")
    report.delimiter = sniff_delimiter(first)
    mapping = _map_header(next(csv.reader([first], delimiter=report.delimiter)))
    stations: Stations = {}
    reader = csv.reader(lines, delimiter=report.delimiter)
    try:
        for row in reader:
            line = lines.row_start
            lines.next_row()
            if not any(cell.strip() for cell in row):
                continue  # a blank line is not a row
            report.rows += 1
            _take(line, row, mapping, stations, report)
    except csv.Error as exc:
        raise ImportFailed(f"not a readable CSV: {exc}") from exc
    return stations


def _take(line: int, row: list[str], mapping: dict[str, int], stations: Stations,
          report: StationReport) -> None:
    def cell(name: str) -> str:
        index = mapping.get(name)
        return row[index].strip() if index is not None and index < len(row) else ""

    insee, raw_number = normalise_insee(cell("insee")), cell("number")
    name, address = cell("name"), cell("address")
    number = normalise_number(raw_number)
    reason = (
        "no INSEE code" if not insee else
        "unknown INSEE code" if commune_by_insee(insee) is None else
        "no station number" if not number else
        f"station number longer than {MAX_NUMBER} characters" if len(number) > MAX_NUMBER else
        "not a station number" if not _NUMBER.fullmatch(number) else
        "a field is too long" if max(len(name), len(address)) > MAX_FIELD else None)
    if reason is not None:
        value = insee if reason.endswith("INSEE code") else raw_number
        report.rejects.append(Reject(line, reason, value[:40]))
        return
    known = stations.get((insee, number))
    if known is None:
        stations[(insee, number)] = [name, address]
        return
    # Official lists repeat a station on every address it serves: one station, the first
    # name and address given.
    report.duplicates += 1
    known[0], known[1] = known[0] or name, known[1] or address


@dataclass(frozen=True)
class _Check:
    found: bool  # the station is on the commune's list
    listed: bool  # the commune has a list


_CODES = [f"code{i}" for i in range(IN_CHUNK)]
# Always IN_CHUNK codes, the last chunk padded with its last code: one statement for all.
KNOWN_STATIONS = SQL.of(
    f"SELECT {columns(PollingStation)} FROM polling_station "
    f"WHERE insee IN ({', '.join(':' + code for code in _CODES)})")
# An upsert rather than insert-or-update from what was read: another import running at the
# same time cannot make this one fail on the primary key.
UPSERT_STATION = SQL.of(
    "INSERT INTO polling_station (insee, number, name, address) "
    "VALUES (:insee, :number, :name, :address) ON CONFLICT (insee, number) "
    "DO UPDATE SET name = excluded.name, address = excluded.address")
STATION_CHECK = SQL.of(
    f"SELECT {columns(_Check)} FROM (SELECT "
    "EXISTS (SELECT 1 FROM polling_station WHERE insee = :insee AND number = :number) "
    "AS found, EXISTS (SELECT 1 FROM polling_station WHERE insee = :insee) AS listed) AS c")
STATIONS_OF = SQL.of(
    f"SELECT {columns(PollingStation)} FROM polling_station WHERE insee = :insee")
_read_station = reader(PollingStation)
_read_check = reader(_Check)


async def import_stations(db: Database, file: BinaryIO, *,
                          actor_id: int | None = None) -> StationReport:
    """Add or update the polling stations listed in a CSV (bytes): INSEE code, number,
    name, address. Stations already known and not in the file stay, and so do their name
    and address where the file leaves them blank. Raises ImportFailed, writing nothing,
    when the file is not a polling-station CSV."""
    stations, report = _parse_file(file)
    communes = sorted({insee for insee, _ in stations})
    report.communes = len(communes)
    async with db.fast_write(long=True) as tx:
        changed = _changes(stations, await _known(tx, communes), report)
        if changed:
            await tx.many(UPSERT_STATION, changed)
        await write_audit_in(tx, actor_id, "stations.import",
                             f"rows={report.rows} new={report.new} updated={report.updated} "
                             f"unchanged={report.unchanged} rejected={len(report.rejects)} "
                             f"communes={report.communes}", clock.utcnow())
    return report


async def _known(tx: Tx, communes: list[str]) -> dict[tuple[str, str], tuple[str, str]]:
    """The stations already known in these communes: (insee, number) -> (name, address)."""
    known: dict[tuple[str, str], tuple[str, str]] = {}
    for start in range(0, len(communes), IN_CHUNK):
        chunk = communes[start:start + IN_CHUNK]
        chunk += [chunk[-1]] * (IN_CHUNK - len(chunk))
        for row in await tx.all(KNOWN_STATIONS, **dict(zip(_CODES, chunk, strict=True))):
            station = _read_station(row)
            known[(station.insee, station.number)] = (station.name, station.address)
    return known


def _changes(stations: Stations, known: dict[tuple[str, str], tuple[str, str]],
             report: StationReport) -> list[dict[str, str]]:
    """The rows to write, counted as new, updated or unchanged."""
    changed = []
    for (insee, number), (name, address) in stations.items():
        before = known.get((insee, number))
        if before is not None:
            # A blank cell, or a list with numbers only, does not erase what is known.
            name, address = name or before[0], address or before[1]
            if before == (name, address):
                report.unchanged += 1
                continue
            report.updated += 1
        else:
            report.new += 1
        changed.append({"insee": insee, "number": number, "name": name, "address": address})
    return changed


async def station_check(db: Database, insee: str, number: str) -> bool | None:
    """Whether `number` is one of the commune's polling stations; None when no list was
    imported for the commune (then any number is accepted)."""
    insee, number = normalise_insee(insee), normalise_number(number)
    async with db.fast_read() as tx:
        row = await tx.one(STATION_CHECK, insee=insee, number=number)
    check = _read_check(row) if row is not None else _Check(False, False)
    return check.found if check.listed else None


async def stations_of(db: Database, insee: str) -> list[PollingStation]:
    """The commune's polling stations, numbers in natural order (2 before 10)."""
    async with db.fast_read() as tx:
        rows = await tx.all(STATIONS_OF, insee=normalise_insee(insee))
    return sorted((_read_station(row) for row in rows), key=_natural)


def _natural(station: PollingStation) -> tuple[int, str]:
    match = _LEADING_DIGITS.match(station.number)
    digits = match.group(1) if match else ""
    # Numbers without leading digits ("A01") come after the numbered ones.
    return (int(digits) if digits else 10**MAX_NUMBER, station.number[len(digits):])
