"""The organizer's terminal: `toile ...` commands, as typed."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import get_settings
from tests.conftest import ROOT

runner = CliRunner()


@pytest.fixture
def toile(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env; the database file lands here
    for name in ("BOT_TOKEN", "ORGANIZER_IDS", "TELEGRAM_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'toile.db'}")
    get_settings.cache_clear()

    def invoke(*args: str):
        result = runner.invoke(app, list(args))
        return result

    yield invoke
    get_settings.cache_clear()


def test_the_sandbox_never_runs_on_the_real_database(toile, tmp_path, monkeypatch):
    # "Start again" deletes the sandbox's file: a DATABASE_URL naming it is refused.
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'toile-sandbox.db'}")
    get_settings.cache_clear()
    result = toile("run")
    assert result.exit_code == 3
    assert "never runs on the real database" in result.output


def test_campaign_import_export_round_trip(toile, tmp_path):
    loaded = toile("campaign", "load", str(ROOT / "examples" / "campaign.toml"))
    assert loaded.exit_code == 0, loaded.output
    assert "Created campaign 'Législatives 2024'" in loaded.output
    rejects = tmp_path / "rejects.csv"
    imported = toile("contacts", "import", str(ROOT / "examples" / "contacts.csv"),
                     "--source", "Primaire populaire 2022", "--rejects", str(rejects))
    assert imported.exit_code == 0, imported.output
    assert "7 new contacts, 1 merged" in imported.output and "2 rejected" in imported.output
    assert "line 8: invalid phone number" in imported.output
    assert rejects.read_text().splitlines()[1:] == ["7,no phone number,", "8,invalid phone number,01 23"]
    out = tmp_path / "export.csv"
    exported = toile("contacts", "export", "--output", str(out))
    assert exported.exit_code == 0, exported.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 8 and lines[1].startswith("+33612345678,Fabrice,Martin")
    assert toile("campaign", "load", str(ROOT / "examples" / "campaign.toml")).exit_code == 0
    audit = toile("audit").output
    assert "campaign.create" in audit and "campaign.update" in audit
    assert "contacts.import" in audit and "contacts.export" in audit


def test_a_non_csv_file_fails_clearly_and_writes_nothing(toile, tmp_path):
    toile("campaign", "load", str(ROOT / "examples" / "campaign.toml"))
    picture = tmp_path / "liste.xlsx"
    picture.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(300))
    result = toile("contacts", "import", str(picture))
    assert result.exit_code == 1
    assert "Import failed, nothing was written" in result.output
    exported = toile("contacts", "export")
    assert exported.stderr.strip() == "0 contacts exported."
    assert exported.stdout.strip().startswith("phone,first_name")  # the header, no row


def test_import_before_any_campaign_says_what_to_do(toile):
    result = toile("contacts", "import", str(ROOT / "examples" / "contacts.csv"))
    assert result.exit_code == 1 and "toile campaign load" in result.output


def test_a_broken_campaign_file_is_explained(toile, tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text('[campaign]\nname = "X"\n[calling_hours]\nstart = "21:00"\nend = "09:00"\n')
    result = toile("campaign", "load", str(bad))
    assert result.exit_code == 1 and "must come before" in result.output


def test_organizers_and_volunteers_from_the_terminal(toile, tmp_path):
    from storage.database import Database
    from storage.users import get_user

    assert toile("organizers", "add", "900").exit_code == 0
    assert "already approved" not in toile("volunteers", "approve", "101").output
    assert "already approved" in toile("volunteers", "approve", "101").output

    async def check():
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'toile.db'}")
        try:
            return await get_user(db, 900), await get_user(db, 101)
        finally:
            await db.dispose()

    organizer, volunteer = asyncio.run(check())
    assert organizer.is_organizer and volunteer.volunteer_status == "approved"
    assert "volunteers.approve" in toile("audit").output


def test_trusting_from_the_terminal_approves_first_and_is_audited(toile, tmp_path):
    from storage.database import Database
    from storage.users import get_user

    result = toile("volunteers", "trust", "101")
    assert "101 is trusted and approved" in result.output, result.output
    assert "already trusted" in toile("volunteers", "trust", "101").output

    async def check():
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'toile.db'}")
        try:
            return await get_user(db, 101)
        finally:
            await db.dispose()

    volunteer = asyncio.run(check())
    assert volunteer.trusted and volunteer.volunteer_status == "approved"
    assert "volunteers.trust user=101" in toile("audit").output


def test_every_command_has_help(toile):
    for args in (["--help"], ["run", "--help"], ["db", "upgrade", "--help"],
                 ["campaign", "load", "--help"], ["contacts", "import", "--help"],
                 ["contacts", "export", "--help"], ["organizers", "add", "--help"],
                 ["volunteers", "approve", "--help"], ["volunteers", "trust", "--help"],
                 ["stations", "import", "--help"]):
        result = toile(*args)
        assert result.exit_code == 0 and "Usage" in result.output, args


def test_webhook_mode_refuses_to_run_without_a_secret(toile, monkeypatch):
    monkeypatch.setenv("BOT_TOKEN", "42:TEST")
    monkeypatch.setenv("WEBHOOK_URL", "https://toile.example.org")
    get_settings.cache_clear()
    result = toile("run")
    assert result.exit_code == 2 and "WEBHOOK_SECRET" in result.output


@pytest.mark.parametrize("content, complaint", [
    ('name = "X"\nscript = "Bonjour"\n', "needs a name"),
    ('[campaign]\nname = "X"\nscript = "Bonjour"\n', "needs a script"),
    ('talking_points = ["a"]\n[campaign]\nname = "X"\n[script]\ntext = "B"\n', "talking point 1"),
    ('[campaign]\nname = "X"\n[script]\ntext = "B"\n[queue]\nmax_attempts = "3"\n', "positive whole number"),
    ('[campaign]\nname = "X"\ntimezone = "Mars/Olympus"\n', "unknown time zone"),
    ('campaign = 3\n', "must be a table"),
    ('[campaign\n', "not valid TOML"),
])
def test_campaign_file_mistakes_are_explained(toile, tmp_path, content, complaint):
    bad = tmp_path / "c.toml"
    bad.write_text(content)
    result = toile("campaign", "load", str(bad))
    assert result.exit_code == 1 and complaint in result.output, result.output


def test_approving_from_the_terminal_queues_the_word_to_the_person(toile, tmp_path):
    """The running bot tells them (tests/test_access_conversation.py follows it to their
    chat); the terminal needs no token for that, and says whether they can be told."""
    from sqlalchemy import select

    from storage.database import Database
    from storage.models import Outbox
    from storage.users import Profile, ensure_user

    assert toile("db", "upgrade").exit_code == 0

    async def arrive_then_read(user_id: int | None) -> list[tuple[str, int]]:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'toile.db'}")
        try:
            if user_id is not None:
                await ensure_user(db, Profile(user_id, "Lisa"))
            async with db.read() as session:
                return [tuple(r) for r in (await session.execute(
                    select(Outbox.kind, Outbox.chat_id))).all()]
        finally:
            await db.dispose()

    asyncio.run(arrive_then_read(101))
    result = toile("volunteers", "approve", "101")
    assert "101 is approved; the bot tells them on Telegram." in result.output, result.output
    assert "not told" in toile("volunteers", "approve", "102").output  # never opened the bot
    assert asyncio.run(arrive_then_read(None)) == [("volunteer_decision", 101)]


def test_web_stats_from_the_terminal(toile, tmp_path):
    toile("campaign", "load", str(ROOT / "examples" / "campaign.toml"))

    async def grow() -> None:
        from storage.database import Database
        from storage.users import Profile, ensure_user
        from storage.web import attribute_referral, invite_code

        db = Database(get_settings().database_url)
        try:
            await ensure_user(db, Profile(1, "Camille"))
            code = await invite_code(db, 1)
            for uid, name in ((2, "Fabrice"), (3, "Élodie")):
                await ensure_user(db, Profile(uid, name))
                await attribute_referral(db, uid, code)
        finally:
            await db.dispose()

    asyncio.run(grow())
    result = toile("web", "stats", "--chart", str(tmp_path / "web.png"))
    assert result.exit_code == 0, result.output
    assert "Supporters: 3 (3 joined today)" in result.output
    assert "Came through a link: 2; recruits per supporter: 0.67" in result.output
    assert "Generations: 1" in result.output
    assert "Top recruiters: Camille (2)" in result.output
    assert (tmp_path / "web.png").read_bytes()[:4] == b"\x89PNG"


def test_proxies_export_is_audited_and_holds_no_voter_number(toile, tmp_path):
    toile("campaign", "load", str(ROOT / "examples" / "campaign.toml"))

    async def make() -> None:
        from storage.campaigns import active_campaign
        from storage.database import Database
        from storage.models import ProxyKind
        from storage.proxies import (
            Place,
            Requester,
            answer,
            create_request,
            give_holder_details,
            match_need,
        )

        db = Database(get_settings().database_url)
        try:
            campaign = await active_campaign(db)
            place = Place("93066", "93", "12")
            await create_request(db, campaign, ProxyKind.OFFER, Requester("Samir", user_id=1),
                                 place, ["2024-06-30"])
            need = await create_request(db, campaign, ProxyKind.NEED,
                                        Requester("Nadia", user_id=2), place, ["2024-06-30"])
            match = await match_need(db, campaign, need)
            await answer(db, match, "need", True)
            await answer(db, match, "offer", True)
            await give_holder_details(db, campaign, match, "12345678", "01/02/1980")
        finally:
            await db.dispose()

    asyncio.run(make())
    result = toile("proxies", "export", "--output", str(tmp_path / "p.csv"))
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0].startswith("request,kind,status,first_name")
    # Samir's one place is Nadia's: his offer is matched, as her need is.
    assert lines[1].startswith("1,offer,matched,Samir") and lines[1].endswith("confirmed,Nadia")
    assert lines[2].startswith("2,need,matched,Nadia") and lines[2].endswith("confirmed,Samir")
    assert "12345678" not in (tmp_path / "p.csv").read_text()
    assert "proxies.export" in toile("audit").output


def test_polling_stations_from_the_terminal(toile, tmp_path):
    example = str(ROOT / "examples" / "stations.csv")
    first = toile("stations", "import", example)
    assert first.exit_code == 0, first.output
    assert ("12 rows read (utf-8, ';' separated): 12 new, 0 updated, 0 unchanged stations "
            "in 2 communes; 0 repeated lines merged, 0 rejected.") in first.output
    again = toile("stations", "import", example)
    assert "0 new, 0 updated, 12 unchanged stations in 2 communes" in again.output

    sloppy = tmp_path / "bureaux.csv"
    sloppy.write_bytes("Code INSEE;Numéro;Libellé\r\n93066;0007;École Jules-Vallès\r\n"
                       "99999;1;Nulle part\r\n93066;;Sans numéro\r\n".encode("cp1252"))
    rejects = tmp_path / "rejects.csv"
    result = toile("stations", "import", str(sloppy), "--rejects", str(rejects))
    assert result.exit_code == 0, result.output
    assert ("3 rows read (cp1252, ';' separated): 1 new, 0 updated, 0 unchanged stations in "
            "1 commune; 0 repeated lines merged, 2 rejected.") in result.output
    assert "line 3: unknown INSEE code '99999'" in result.output
    assert rejects.read_text().splitlines() == [
        "line,reason,value", "3,unknown INSEE code,99999", "4,no station number,"]
    assert toile("audit").output.count("stations.import") == 3

    async def check():
        from storage.database import Database
        from storage.stations import station_check, stations_of

        db = Database(get_settings().database_url)
        try:
            return ([s.number for s in await stations_of(db, "93066")],
                    await station_check(db, "69383", "0302"))
        finally:
            await db.dispose()

    assert asyncio.run(check()) == (["1", "2", "3", "4", "5", "6", "7"], True)


def test_a_non_csv_station_list_fails_clearly_and_writes_nothing(toile, tmp_path):
    picture = tmp_path / "bureaux.xlsx"
    picture.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(300))
    result = toile("stations", "import", str(picture))
    assert result.exit_code == 1
    assert "Import failed, nothing was written: not a CSV" in result.output
    assert "stations.import" not in toile("audit").output
    missing = toile("stations", "import", str(tmp_path / "nowhere.csv"))
    assert missing.exit_code == 1 and "No such file" in missing.output


def test_shifts_from_the_terminal(toile, tmp_path):
    toile("campaign", "load", str(ROOT / "examples" / "campaign.toml"))
    past = toile("shifts", "add", "--room", "Lyon", "--start", "2020-06-18 14:00",
                 "--end", "2020-06-18 17:00", "--capacity", "10")
    assert past.exit_code == 1 and "already passed" in past.output
    opened = toile("shifts", "add", "--room", "Lyon", "--start", "2099-06-18 14:00",
                   "--end", "2099-06-18 17:00", "--capacity", "10", "--address", "Place Bellecour")
    assert opened.exit_code == 0 and "Shift 1 opened: Lyon, 10 places." in opened.output
    exported = toile("shifts", "export", "--output", str(tmp_path / "s.csv"))
    assert exported.exit_code == 0
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0].startswith("shift,room,address") and lines[1].startswith("1,Lyon,Place Bellecour")
    audit = toile("audit").output
    assert "shifts.add" in audit and "shifts.export" in audit


def test_organizers_removed_from_the_terminal_unless_the_configuration_lists_them(toile, tmp_path):
    from storage.database import Database
    from storage.users import sync_organizers

    assert toile("db", "upgrade").exit_code == 0

    async def start_with(ids):
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'toile.db'}")
        try:
            await sync_organizers(db, ids)
        finally:
            await db.dispose()

    asyncio.run(start_with([900]))
    assert toile("organizers", "add", "902").exit_code == 0
    asyncio.run(start_with([900]))
    listed = toile("organizers", "remove", "900")
    assert listed.exit_code == 0
    assert "900 stays an organizer: ORGANIZER_IDS lists them" in listed.output
    assert "902 is no longer an organizer." in toile("organizers", "remove", "902").output
    audit = toile("audit").output
    assert "organizers.add_from_config user=900" in audit
    assert "organizers.add user=902" in audit and "organizers.remove user=902" in audit


def test_a_file_that_is_one_huge_line_is_refused_with_the_line_to_look_at(toile, tmp_path):
    toile("campaign", "load", str(ROOT / "examples" / "campaign.toml"))
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as out:  # 100 MB, not one line break
        for _ in range(100):
            out.write(b"0612345678;" * (1024 * 1024 // 11))
    try:
        for command in ("contacts", "stations"):
            result = toile(command, "import", str(huge))
            assert result.exit_code == 1, result.output
            assert ("Import failed, nothing was written: line 1 is longer than 1,000,000 "
                    "characters") in result.output
    finally:
        huge.unlink()
    exported = toile("contacts", "export")
    assert exported.stderr.strip() == "0 contacts exported."
    assert "import" not in toile("audit").output
