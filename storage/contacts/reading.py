"""Reading a contacts CSV: header names as real exports write them, each row's fields
cleaned (its number still as written), in chunks for the importer's pipeline."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from storage.csv_input import BoundedLines, ImportFailed

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


def sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def rows(text: IO[str], report: ImportReport) -> Iterator[tuple[int, list[str], dict[str, int]]]:
    lines = BoundedLines(text)
    first = lines.header()
    if not first.strip():
        raise ImportFailed("the file is empty or has no header line")
    report.delimiter = sniff_delimiter(first)
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


def size(source: IO[bytes]) -> int:
    position = source.tell()
    size = source.seek(0, io.SEEK_END)
    source.seek(position)
    return size


def open_text(raw: IO[bytes], encoding: str) -> io.TextIOWrapper:
    raw.seek(0)
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")


@dataclass
class Chunk:
    """Rows read from the file, their numbers still as written."""

    lines: list[int] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    raw_phones: list[str] = field(default_factory=list)


def chunks(rows: Iterator[tuple[int, list[str], dict[str, int]]],
            report: ImportReport) -> Iterator[Chunk]:
    chunk = Chunk()
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
            chunk = Chunk()
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


def write_rejects(path: Path, rejects: list[Reject]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "reason", "value"])
        for reject in rejects:
            writer.writerow([reject.line, reject.reason, reject.value])
