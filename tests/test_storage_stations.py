"""Polling-station lists on both databases: real exports in, garbage refused whole."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from storage import stations as stations_module
from storage.contacts import ImportFailed
from storage.models import AuditLog, PollingStation
from storage.stations import (
    import_stations,
    normalise_number,
    station_check,
    stations_of,
)
from tests.conftest import ROOT


async def all_stations(db) -> list[tuple[str, str, str, str]]:
    async with db.read() as s:
        rows = (await s.execute(select(PollingStation).order_by(
            PollingStation.insee, PollingStation.number))).scalars()
        return [(p.insee, p.number, p.name, p.address) for p in rows]


async def count(db) -> int:
    async with db.read() as s:
        return (await s.execute(select(func.count()).select_from(PollingStation))).scalar_one()


async def test_the_example_file(db):
    with (ROOT / "examples" / "stations.csv").open("rb") as raw:
        report = await import_stations(db, raw)
    assert (report.rows, report.new, report.communes, report.rejects) == (12, 12, 2, [])
    assert (report.encoding, report.delimiter) == ("utf-8", ";")
    saint_denis = await stations_of(db, "93066")
    assert [s.number for s in saint_denis] == ["1", "2", "3", "4", "5", "6"]  # "001" → "1"
    assert saint_denis[0].name == "Hôtel de ville"
    assert saint_denis[0].address == "2 place Victor-Hugo, 93200 Saint-Denis"
    assert [s.number for s in await stations_of(db, "69383")] == [
        "301", "302", "303", "304", "305", "306"]


async def test_check_a_station_number(db):
    await import_stations(db, io.BytesIO(b"insee,bureau\n93066,1\n93066,2\n93066,12B\n"))
    assert await station_check(db, "93066", "1") is True
    assert await station_check(db, "93066", "0001") is True  # as the voter card may print it
    assert await station_check(db, "93066", " 12 b ") is True
    assert await station_check(db, "93066", "3") is False
    assert await station_check(db, "93066", "") is False
    assert await station_check(db, "93066", "123456789") is False
    # No list for Lyon 3e: any number goes.
    assert await station_check(db, "69383", "3") is None
    assert await stations_of(db, "69383") == []


async def test_excel_french_export_in_windows_1252_with_semicolons(db):
    data = ("Code INSEE;Numéro du bureau;Libellé;Adresse\r\n"
            "93066;01;École Pierre-Sémard;11 rue Pierre-Sémard\r\n"
            "2a004;1;Hôtel de ville;Avenue Antoine-Serafini\r\n").encode("cp1252")
    report = await import_stations(db, io.BytesIO(data))
    assert (report.encoding, report.delimiter, report.new) == ("cp1252", ";", 2)
    assert await all_stations(db) == [
        ("2A004", "1", "Hôtel de ville", "Avenue Antoine-Serafini"),
        ("93066", "1", "École Pierre-Sémard", "11 rue Pierre-Sémard")]


async def test_utf8_with_bom_english_headers_and_commas(db):
    data = ('\ufeffaddress,name,number,insee\n"215 rue Duguesclin, 69003 Lyon",Mairie du 3e,'
            '0301,69383\n').encode("utf-8")
    report = await import_stations(db, io.BytesIO(data))
    assert (report.encoding, report.delimiter, report.new) == ("utf-8", ",", 1)
    assert await all_stations(db) == [
        ("69383", "301", "Mairie du 3e", "215 rue Duguesclin, 69003 Lyon")]


async def test_a_spreadsheet_that_dropped_the_leading_zero_still_finds_the_commune(db):
    report = await import_stations(db, io.BytesIO(b"code_commune;numero\n1004;1\n"))
    assert report.rejects == [] and await station_check(db, "01004", "1") is True


async def test_unusable_rows_are_reported_with_their_line(db):
    data = ("code_insee;numero;nom\n"
            "93066;1;Hôtel de ville\n"
            "99999;1;Nulle part\n"
            ";2;Sans commune\n"
            "93066;;Sans numéro\n"
            "\n"
            "93066;123456789;Trop long\n"
            "69383;   ;Blanc\n"
            "93066;2\n"
            "93066;1;2\n"
            "93066;n°3;Mairie\n"
            "93066;1/2;Fraction\n"
            '93066;"4;Mairie\n'
            "93066;5;Swallowed by the quote\n").encode()
    report = await import_stations(db, io.BytesIO(data))
    assert (report.rows, report.new, report.duplicates) == (11, 2, 1)
    assert [(r.line, r.reason, r.value) for r in report.rejects] == [
        (3, "unknown INSEE code", "99999"),
        (4, "no INSEE code", ""),
        (5, "no station number", ""),
        (7, "station number longer than 8 characters", "123456789"),
        (8, "no station number", ""),
        (11, "not a station number", "n°3"),
        (12, "not a station number", "1/2"),  # the proxy forms would refuse it
        # An unclosed quote swallows what follows; the row is reported where it starts.
        (13, "station number longer than 8 characters", "4;Mairie\n93066;5;Swallowed by the quote")]
    assert await all_stations(db) == [("93066", "1", "Hôtel de ville", ""), ("93066", "2", "", "")]


async def test_reimport_changes_nothing_and_a_new_version_updates(db):
    data = b"insee;numero;nom;adresse\n93066;1;Mairie;Place\n93066;2;Ecole;Rue\n"
    first = await import_stations(db, io.BytesIO(data))
    before = await all_stations(db)
    again = await import_stations(db, io.BytesIO(data))
    assert (first.new, again.new, again.updated, again.unchanged) == (2, 0, 0, 2)
    assert await all_stations(db) == before
    newer = "insee;numero;nom;adresse\n93066;001;Mairie;Place\n93066;2;Ecole Vallès;Rue\n93066;3;X;Y\n"
    report = await import_stations(db, io.BytesIO(newer.encode()))
    assert (report.new, report.updated, report.unchanged) == (1, 1, 1)
    assert await all_stations(db) == [("93066", "1", "Mairie", "Place"),
                                      ("93066", "2", "Ecole Vallès", "Rue"),
                                      ("93066", "3", "X", "Y")]
    numbers_only = await import_stations(db, io.BytesIO(b"insee;numero;nom\n93066;1;\n93066;2;\n"))
    assert (numbers_only.updated, numbers_only.unchanged) == (0, 2)
    assert (await all_stations(db))[0] == ("93066", "1", "Mairie", "Place")  # blanks erase nothing


async def test_a_station_repeated_on_every_address_it_serves_is_one_station(db):
    data = (b"insee;bureau;nom;adresse\n93066;1;;\n93066;01;Mairie;Place Victor-Hugo\n"
            b"93066;1;Autre;Ailleurs\n")
    report = await import_stations(db, io.BytesIO(data))
    assert (report.rows, report.new, report.duplicates) == (3, 1, 2)
    # The first value given wins, blanks filled in by later lines.
    assert await all_stations(db) == [("93066", "1", "Mairie", "Place Victor-Hugo")]


async def test_the_import_is_audited(db):
    await import_stations(db, io.BytesIO(b"insee;numero\n93066;1\n"), actor_id=900)
    async with db.read() as s:
        (entry,) = (await s.execute(select(AuditLog))).scalars()
    assert (entry.actor_id, entry.action) == (900, "stations.import")
    assert "new=1" in entry.detail and "communes=1" in entry.detail


@pytest.mark.parametrize("payload, reason", [
    (b"PK\x03\x04\x14\x00\x06\x00" + bytes(300), "binary data"),
    (b"insee;nom\n93066;Mairie\n", "no station number column"),
    (b"numero;nom\n1;Mairie\n", "no INSEE code column"),
    (b"telephone;prenom\n0612345678;A\n", "no INSEE code column"),
    (b"", "empty"),
    (b"\n\n", "empty"),
    (b"insee;numero\n93066;1\n\"93066;2\x00\n", "binary data"),
    (b'insee;numero\n93066;1\n93066;"' + b"x" * 200_000, "field larger than field limit"),
    (b"insee;numero\n93066;\x81\x8d\x8f\x90\x9d\xff\n", "neither UTF-8 nor Windows-1252"),
])
async def test_a_file_that_is_not_a_station_csv_writes_nothing(db, payload, reason):
    await import_stations(db, io.BytesIO(b"insee;numero;nom\n69383;301;Mairie du 3e\n"))
    before = await all_stations(db)
    with pytest.raises(ImportFailed, match=reason):
        await import_stations(db, io.BytesIO(payload))
    assert await all_stations(db) == before


async def test_one_transaction_a_failure_while_writing_leaves_nothing(db, monkeypatch):
    async def broken_audit(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(stations_module, "write_audit_in", broken_audit)
    with pytest.raises(RuntimeError, match="disk full"):
        await import_stations(db, io.BytesIO(b"insee;numero\n93066;1\n93066;2\n"))
    assert await count(db) == 0


@pytest.mark.parametrize("raw, number", [
    ("1", "1"), ("001", "1"), ("0", "0"), ("000", "0"), (" 12 ", "12"), ("12b", "12B"),
    ("A01", "A01"), ("1 2", "12"), ("", ""), ("²", "²"),
])
def test_station_numbers_are_normalised(raw, number):
    assert normalise_number(raw) == number


async def test_stations_come_in_natural_order(db):
    await import_stations(db, io.BytesIO(b"insee;numero\n93066;10\n93066;2\n93066;A1\n"
                                         b"93066;2B\n93066;1\n"))
    assert [s.number for s in await stations_of(db, "93066")] == ["1", "2", "2B", "10", "A1"]
