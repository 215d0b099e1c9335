"""The contacts importer on both databases: real exports in, garbage refused whole."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from storage.contacts import ImportFailed, export_contacts, import_contacts
from storage.models import AuditLog, Contact


async def contacts(db) -> list[Contact]:
    async with db.read() as s:
        return list((await s.execute(select(Contact).order_by(Contact.id))).scalars())


async def count(db) -> int:
    async with db.read() as s:
        return (await s.execute(select(func.count()).select_from(Contact))).scalar_one()


async def test_excel_french_export_in_windows_1252_with_semicolons(db, campaign):
    data = ("Prénom;Nom;Téléphone;Circonscription;Commune;Code postal;Bureau de vote\r\n"
            "Élodie;Bernard;06 12 34 56 78;Rhône 3;Lyon;69003;305\r\n"
            "Zoé;Müller;07.81.23.45.67;Rhône 3;Lyon;69003;306\r\n").encode("cp1252")
    report = await import_contacts(db, campaign, io.BytesIO(data))
    assert (report.encoding, report.delimiter, report.imported) == ("cp1252", ";", 2)
    first, second = await contacts(db)
    assert (first.first_name, first.phone, first.polling_station) == ("Élodie", "+33612345678", "305")
    assert (second.last_name, second.phone) == ("Müller", "+33781234567")


async def test_utf8_with_bom_english_headers_and_commas(db, campaign):
    data = "\ufefffirst_name,last_name,phone,constituency,postal_code,tags\nAïcha,Diallo,+33698765432,Seine-Saint-Denis 6,93500,\"primaire,2022\"\n"
    report = await import_contacts(db, campaign, io.BytesIO(data.encode("utf-8")))
    assert report.imported == 1 and report.delimiter == ","
    (contact,) = await contacts(db)
    assert contact.first_name == "Aïcha" and contact.tags == "primaire,2022"
    assert contact.priority == 3  # fourth target constituency of the example campaign


async def test_overseas_numbers_follow_their_postal_code(db, campaign):
    data = (b"tel;cp\n0690 12 34 56;97139\n0696 12 34 56;97200\n0694 12 34 56;97300\n"
            b"0692 12 34 56;97400\n0639 01 23 45;97600\n")
    report = await import_contacts(db, campaign, io.BytesIO(data))
    assert report.imported == 5, report.rejects
    assert [c.phone for c in await contacts(db)] == [
        "+590690123456", "+596696123456", "+594694123456", "+262692123456", "+262639012345"]


async def test_unusable_rows_are_reported_with_their_line(db, campaign):
    data = ("telephone;prenom\n0612345678;Ok\n;Sans numéro\n01 23;Trop court\n\n"
            "not a number;Texte\n").encode()
    report = await import_contacts(db, campaign, io.BytesIO(data))
    assert report.imported == 1
    assert [(r.line, r.reason) for r in report.rejects] == [
        (3, "no phone number"), (4, "invalid phone number"), (6, "invalid phone number")]


async def test_duplicates_merge_and_reimport_changes_nothing(db, campaign):
    data = ("telephone;prenom;commune\n0612345678;Fabrice;\n+33 6 12 34 56 78;;Saint-Denis\n"
            "0781234567;Élodie;Lyon\n").encode()
    first = await import_contacts(db, campaign, io.BytesIO(data), source_label="Primaire")
    assert (first.imported, first.merged) == (2, 1)
    fabrice = (await contacts(db))[0]
    assert (fabrice.first_name, fabrice.commune, fabrice.source) == ("Fabrice", "Saint-Denis", "Primaire")
    before = [c.model_dump() for c in await contacts(db)]
    again = await import_contacts(db, campaign, io.BytesIO(data), source_label="Autre source")
    assert (again.imported, again.merged) == (0, 3)
    assert [c.model_dump() for c in await contacts(db)] == before


@pytest.mark.parametrize("payload, reason", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary data"),
    (b"name,email\nA,a@b.c\n", "no phone column"),
    (b"", "empty"),
    (b"telephone;prenom\n0612345678;A\n\"0698765432;unterminated\x00quote\n", "CSV"),
])
async def test_a_file_that_is_not_a_contacts_csv_writes_nothing(db, campaign, payload, reason):
    with pytest.raises(ImportFailed, match=reason):
        await import_contacts(db, campaign, io.BytesIO(payload))
    assert await count(db) == 0


async def test_export_lists_every_contact_and_is_audited(db, campaign):
    await import_contacts(db, campaign, io.BytesIO(b"telephone;prenom\n0612345678;Fabrice\n"))
    rows = [row async for row in export_contacts(db, campaign, actor_id=900)]
    assert rows[0][:2] == ["phone", "first_name"]
    assert rows[1][:2] == ["+33612345678", "Fabrice"] and "open" in rows[1]
    async with db.read() as s:
        actions = (await s.execute(select(AuditLog.action, AuditLog.actor_id))).all()
    assert ("contacts.export", 900) in actions


csv_garbage = st.one_of(
    st.binary(max_size=400),
    st.lists(st.lists(st.text(max_size=12), max_size=5), max_size=8).map(
        lambda rows: "\n".join(";".join(r) for r in [["telephone", "prenom"], *rows]).encode()),
    st.lists(st.sampled_from(["0612345678", "06 98 76 54 32", "+33", "abc", '"', ";", ",", "\n",
                              "\x00", "\r", "é", "\ufeff", "telephone", "prénom"]),
             max_size=30).map(lambda parts: "".join(parts).encode("utf-8")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=csv_garbage)
async def test_garbage_never_crashes_and_never_half_imports(db, payload):
    from tests.conftest import load_example_campaign

    campaign = await load_example_campaign(db)
    before = await count(db)
    try:
        report = await import_contacts(db, campaign, io.BytesIO(payload))
    except ImportFailed:
        assert await count(db) == before  # refused whole: nothing written
        return
    valid = report.rows - len(report.rejects) - report.do_not_call
    assert report.imported + report.merged == valid
    assert await count(db) == before + report.imported


async def test_numbers_parsed_in_a_worker_process_give_the_same_result(db, campaign):
    lines = ["telephone;prenom;code_postal"] + [f"0{612_000_000 + i};P{i};93200"
                                                for i in range(12_000)]
    lines += ["0690 12 34 56;Lucas;97139", "pas un numéro;X;93200", "+33612000005;Double;93200"]
    report = await import_contacts(db, campaign, io.BytesIO("\n".join(lines).encode()),
                                   parallel=True)
    assert report.imported == 12_001 and report.merged == 1
    assert [(r.line, r.reason) for r in report.rejects] == [(12_003, "invalid phone number")]
    async with db.read() as s:
        lucas = (await s.execute(select(Contact).where(Contact.first_name == "Lucas"))).scalar_one()
    assert lucas.phone == "+590690123456"
