"""The `toile` command: run the bot and manage the campaign from a terminal."""

from __future__ import annotations

import asyncio
import csv
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.cli_db import with_db as _with_db
from bot.cli_volunteers import volunteers_app
from bot.config import get_settings
from bot.sandbox.command import sandbox, start_sandbox
from storage.audit import audit_entries
from storage.campaigns import (
    CampaignFileError,
    active_campaign,
    campaign_by_name,
    load_campaign,
    parse_campaign_file,
)
from storage.contacts import (
    ImportReport,
    Reject,
    export_contacts,
    import_contacts,
    write_rejects,
)
from storage.csv_input import ImportFailed
from storage.database import Database
from storage.migrate import upgrade
from storage.models import Campaign, Shift
from storage.stations import StationReport, import_stations
from storage.users import get_user, set_organizer

app = typer.Typer(help="Toile: a Telegram bot for volunteer election campaigns.",
                  no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
campaign_app = typer.Typer(help="Campaigns: name, calling hours, script, targets.",
                           no_args_is_help=True)
contacts_app = typer.Typer(help="The contact list.", no_args_is_help=True)
organizers_app = typer.Typer(help="Who organizes.", no_args_is_help=True)
web_app = typer.Typer(help="The spider's web: supporters and who brought whom.",
                      no_args_is_help=True)
proxies_app = typer.Typer(help="Vote proxies: needs, offers, matches.", no_args_is_help=True)
stations_app = typer.Typer(help="Polling stations: each commune's official list.",
                           no_args_is_help=True)
shifts_app = typer.Typer(help="Phoning shifts.", no_args_is_help=True)
app.command()(sandbox)
for sub, name in ((db_app, "db"), (campaign_app, "campaign"), (contacts_app, "contacts"),
                  (organizers_app, "organizers"), (volunteers_app, "volunteers"),
                  (web_app, "web"), (proxies_app, "proxies"), (stations_app, "stations"),
                  (shifts_app, "shifts")):
    app.add_typer(sub, name=name)

T = TypeVar("T")


@app.command()
def run() -> None:
    """Run the bot (long polling, or a webhook when WEBHOOK_URL is set); without BOT_TOKEN,
    the sandbox."""
    from bot.runner import AlreadyRunning, LeaseLost, MissingToken, serve

    _log_to_console()
    settings = get_settings()
    if not settings.bot_token.strip():
        start_sandbox(settings.sandbox_host, settings.sandbox_port, fresh=False,
                      why="No BOT_TOKEN")
        return
    try:
        asyncio.run(serve(settings))
    except MissingToken as exc:
        print(exc.code, file=sys.stderr)
        raise typer.Exit(2) from None
    except (AlreadyRunning, LeaseLost) as exc:
        print(exc, file=sys.stderr)
        raise typer.Exit(3) from None
    except KeyboardInterrupt:
        pass


def _log_to_console() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Every tick's "Running job"/"executed successfully" would bury what matters.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations."""
    upgrade(get_settings().database_url)
    typer.echo("Database schema is up to date.")


@campaign_app.command("load")
def campaign_load(file: Annotated[Path, typer.Argument(help="The campaign's TOML file.")]) -> None:
    """Create or update a campaign from its TOML file and make it the active one."""
    try:
        fields = parse_campaign_file(file, default_timezone=get_settings().timezone)
    except CampaignFileError as exc:
        typer.echo(f"Cannot load the campaign: {exc}", err=True)
        raise typer.Exit(1) from None
    campaign, created = _with_db(lambda db: load_campaign(db, fields))
    verb = "Created" if created else "Updated"
    typer.echo(f"{verb} campaign {campaign.name!r}: calling {campaign.calling_start}–"
               f"{campaign.calling_end} ({campaign.timezone}), "
               f"{len(campaign.talking_points)} talking points, "
               f"{len(campaign.target_constituencies)} target constituencies.")


async def _campaign(db: Database, name: str | None) -> Campaign:
    campaign = await (campaign_by_name(db, name) if name else active_campaign(db))
    if campaign is None:
        typer.echo(f"No campaign named {name!r}." if name else
                   "No campaign yet: load one first with `toile campaign load FILE.toml`.",
                   err=True)
        raise typer.Exit(1)
    return campaign


CampaignOption = Annotated[str | None, typer.Option(help="Campaign name (default: active).")]


@contacts_app.command("import")
def contacts_import(
    file: Annotated[Path, typer.Argument(help="CSV: comma or semicolon, UTF-8 or Windows-1252.")],
    campaign: CampaignOption = None,
    source: Annotated[str | None, typer.Option(help="Where the numbers come from.")] = None,
    rejects: Annotated[Path | None, typer.Option(help="Write the rejected rows here.")] = None,
) -> None:
    """Import contacts; unusable rows are skipped and reported, duplicates merged."""

    async def work(db: Database) -> ImportReport:
        target = await _campaign(db, campaign)
        with Progress(TextColumn("Importing"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("import", total=file.stat().st_size)
            with file.open("rb") as raw:
                return await import_contacts(
                    db, target, raw, source_label=source,
                    progress=lambda _rows: bar.update(task, completed=raw.tell()))

    report = _import_file(file, work)
    typer.echo(f"{report.rows} rows read ({report.encoding}, '{report.delimiter}' separated): "
               f"{report.imported} new contacts, {report.merged} merged with a known number, "
               f"{report.do_not_call} on the do-not-call list, {len(report.rejects)} rejected.")
    _show_rejects(report.rejects, rejects)


def _import_file(file: Path, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run an importer over `file`. A missing file, or one refused whole, stops here with
    a clear message: the importers write nothing then."""
    if not file.is_file():
        typer.echo(f"No such file: {file}", err=True)
        raise typer.Exit(1)
    try:
        return _with_db(work)
    except ImportFailed as exc:
        typer.echo(f"Import failed, nothing was written: {exc}", err=True)
        raise typer.Exit(1) from None


def _show_rejects(found: list[Reject], path: Path | None) -> None:
    """The first rejected rows on screen, all of them in `path` when given."""
    for reject in found[:20]:
        typer.echo(f"  line {reject.line}: {reject.reason} {reject.value!r}")
    if len(found) > 20:
        typer.echo(f"  ... and {len(found) - 20} more (use --rejects FILE)")
    if path is not None:
        write_rejects(path, found)
        typer.echo(f"Rejected rows written to {path}.")


@contacts_app.command("export")
def contacts_export(
    output: Annotated[Path | None, typer.Option(help="CSV file (default: stdout).")] = None,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign.")] = None,
) -> None:
    """Write every contact as CSV. Exports are recorded in the audit log."""

    async def work(db: Database) -> int:
        target = await _campaign(db, campaign) if campaign else None
        out = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
        count = -1
        try:
            writer = csv.writer(out)
            async for row in export_contacts(db, target):
                writer.writerow(row)
                count += 1
        finally:
            if output:
                out.close()
        return count

    count = _with_db(work)
    typer.echo(f"{count} contacts exported.", err=True)


@organizers_app.command("add")
def organizers_add(telegram_id: int) -> None:
    """Make a Telegram user an organizer, until `toile organizers remove` (whatever
    ORGANIZER_IDS says)."""
    _with_db(lambda db: set_organizer(db, telegram_id, True, actor_id=None))
    typer.echo(f"{telegram_id} is an organizer.")


@organizers_app.command("remove")
def organizers_remove(telegram_id: int) -> None:
    """Take away the organizer role given by `toile organizers add` (an id ORGANIZER_IDS
    lists keeps it until the bot starts without it there)."""

    async def work(db: Database) -> bool:
        await set_organizer(db, telegram_id, False, actor_id=None)
        user = await get_user(db, telegram_id)
        return user is not None and user.is_organizer

    if _with_db(work):
        typer.echo(f"{telegram_id} stays an organizer: ORGANIZER_IDS lists them. Take them "
                   "out of it and restart the bot.")
        return
    typer.echo(f"{telegram_id} is no longer an organizer.")


@app.command("audit")
def audit(limit: Annotated[int, typer.Option(help="How many entries, newest last.")] = 200) -> None:
    """Print the audit log: who did what to the campaign's data."""
    for entry in _with_db(lambda db: audit_entries(db, limit)):
        who = entry.actor_id if entry.actor_id is not None else "cli"
        typer.echo(f"{entry.created_at:%Y-%m-%d %H:%M:%S} {who} {entry.action} {entry.detail}")


@web_app.command("stats")
def web_stats_command(
    chart: Annotated[Path | None, typer.Option(
        help="Also draw joins per day by generation into this PNG file.")] = None,
) -> None:
    """The same figures as /web: supporters, recruits, generations, growth, top recruiters."""
    from storage.web import WebStats, web_stats
    from ui.charts import web_growth_png

    async def work(db: Database) -> WebStats:
        return await web_stats(db, await _campaign(db, None))

    stats = _with_db(work)
    typer.echo(f"Supporters: {stats.supporters} ({stats.today} joined today)")
    typer.echo(f"Came through a link: {stats.recruited}; "
               f"recruits per supporter: {stats.branching:.2f}")
    typer.echo(f"Brought their three: {stats.reached_goal}")
    typer.echo(f"Generations: {stats.depth}")
    for day, generations in stats.by_day_generation.items():
        detail = ", ".join(f"gen {g}: {n}" for g, n in sorted(generations.items()))
        typer.echo(f"  {day:%Y-%m-%d}  {sum(generations.values()):>7}  ({detail})")
    if stats.top:
        typer.echo("Top recruiters: " + ", ".join(f"{name} ({n})" for name, n in stats.top))
    if chart is not None:
        png = asyncio.run(web_growth_png(stats, "Joins per day, by generation",
                                         "generation {n}", "supporters in total"))
        chart.write_bytes(png)
        typer.echo(f"Chart written to {chart}.")


def _write_csv(rows: list[list[str]], output: Path | None) -> None:
    out = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        csv.writer(out).writerows(rows)
    finally:
        if output:
            out.close()


@proxies_app.command("export")
def proxies_export(
    output: Annotated[Path | None, typer.Option(help="CSV file (default: stdout).")] = None,
) -> None:
    """Every need and offer with its match, as CSV (never voter numbers). Audited."""
    from storage.proxies import export_requests

    async def work(db: Database) -> list[list[str]]:
        return await export_requests(db, await _campaign(db, None))

    rows = _with_db(work)
    _write_csv(rows, output)
    typer.echo(f"{len(rows) - 1} proxy requests exported.", err=True)


@stations_app.command("import")
def stations_import(
    file: Annotated[Path, typer.Argument(
        help="CSV: INSEE code, station number, name, address; comma or semicolon, UTF-8 or "
             "Windows-1252.")],
    rejects: Annotated[Path | None, typer.Option(help="Write the rejected rows here.")] = None,
) -> None:
    """Import polling stations; re-importing a list changes nothing, a newer one updates it."""

    async def work(db: Database) -> StationReport:
        with file.open("rb") as raw:
            return await import_stations(db, raw)

    report = _import_file(file, work)
    typer.echo(f"{report.rows} rows read ({report.encoding}, '{report.delimiter}' separated): "
               f"{report.new} new, {report.updated} updated, {report.unchanged} unchanged "
               f"stations in {report.communes} commune{'s' * (report.communes != 1)}; "
               f"{report.duplicates} repeated lines merged, {len(report.rejects)} rejected.")
    _show_rejects(report.rejects, rejects)


@shifts_app.command("add")
def shifts_add(
    room: Annotated[str, typer.Option(help='The room, or "remote".')],
    start: Annotated[str, typer.Option(help="Start, campaign time: 2024-06-18 14:00.")],
    end: Annotated[str, typer.Option(help="End, campaign time: 2024-06-18 17:00.")],
    capacity: Annotated[int, typer.Option(help="Places.")],
    address: Annotated[str, typer.Option(help="Where.")] = "",
    note: Annotated[str, typer.Option(help="A note for volunteers.")] = "",
) -> None:
    """Open a phoning shift (audited)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from storage.shifts import ShiftError, add_shift

    async def work(db: Database) -> Shift:
        campaign = await _campaign(db, None)
        tz = ZoneInfo(campaign.timezone)
        try:
            starts = datetime.fromisoformat(start).replace(tzinfo=tz)
            ends = datetime.fromisoformat(end).replace(tzinfo=tz)
        except ValueError:
            typer.echo("Dates look like 2024-06-18 14:00.", err=True)
            raise typer.Exit(1) from None
        try:
            return await add_shift(db, room=room, address=address, starts_at=starts,
                                   ends_at=ends, capacity=capacity, note=note)
        except ShiftError as exc:
            typer.echo({"past": "That time has already passed.",
                        "order": "The end must come after the start (16 hours at most).",
                        "capacity": "Capacity is a whole number from 1 to 1000.",
                        "text": "A room is needed, and texts are 300 characters at most."}
                       .get(exc.reason, exc.reason), err=True)
            raise typer.Exit(1) from None

    shift = _with_db(work)
    typer.echo(f"Shift {shift.id} opened: {shift.room}, {capacity} places.")


@shifts_app.command("export")
def shifts_export(
    output: Annotated[Path | None, typer.Option(help="CSV file (default: stdout).")] = None,
) -> None:
    """Every shift with its roster, as CSV. Audited."""
    from storage.shifts import export_shifts

    rows = _with_db(export_shifts)
    _write_csv(rows, output)
    typer.echo(f"{len(rows) - 1} roster lines exported.", err=True)
