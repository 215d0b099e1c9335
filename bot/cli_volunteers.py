"""`toile volunteers`: who may call, and who calls without a limit of cards."""

from __future__ import annotations

import typer

from bot.cli_db import with_db as _with_db
from storage.trust import trust_volunteer
from storage.users import decide_volunteer

volunteers_app = typer.Typer(help="Who may call.", no_args_is_help=True)


@volunteers_app.command("approve")
def volunteers_approve(telegram_id: int) -> None:
    """Let a Telegram user make calls (the running bot tells them)."""
    decision = _with_db(lambda db: decide_volunteer(db, telegram_id, True, actor_id=None))
    if not decision.changed:
        typer.echo(f"{telegram_id} was already approved.")
        return
    # The word to them was queued with the approval; the running bot's deliverer sends it.
    known = decision.user is not None and bool(decision.user.first_name)
    typer.echo(f"{telegram_id} is approved" + (
        "; the bot tells them on Telegram." if known else
        " (not told on Telegram: they have not opened the bot yet)."))


@volunteers_app.command("trust")
def volunteers_trust(telegram_id: int) -> None:
    """Trust a caller: no limit of cards an hour or a day (approved first if need be)."""
    result = _with_db(lambda db: trust_volunteer(db, telegram_id, actor_id=None, approve=True,
                                                 create=True))
    if not result.changed:
        typer.echo(f"{telegram_id} was already trusted.")
        return
    typer.echo(f"{telegram_id} is trusted" + (" and approved" if result.approved else "")
               + "; the running bot tells them on Telegram.")
