"""`toile sandbox`, and `toile run` without a token: the sandbox from a terminal."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from bot.config import get_settings


def sandbox(
    host: Annotated[str | None, typer.Option(help="Address to listen on (SANDBOX_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SANDBOX_PORT).")] = None,
    fresh: Annotated[bool, typer.Option(help="Start from a new sandbox database.")] = False,
) -> None:
    """Try Toile in a browser, without Telegram: a stand-in Bot API and a chat page for a
    small cast, on the sandbox's own database."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # no line per tick
    settings = get_settings()
    start_sandbox(host or settings.sandbox_host,
                  settings.sandbox_port if port is None else port, fresh=fresh, why="Sandbox")


def start_sandbox(host: str, port: int, *, fresh: bool, why: str) -> None:
    # Imported here: the bot and its web servers are no part of every other command's start.
    from bot.runner import AlreadyRunning
    from bot.sandbox.run import DEFAULT_FILE, SandboxError, run_sandbox

    def listening(url: str) -> None:
        typer.echo(f"{why}: starting the sandbox on {url} — nothing leaves this "
                   "machine.\n"
                   f"Open it in a browser; its data is in {DEFAULT_FILE} (\"Start again\" "
                   "resets it). Ctrl-C stops it. To run the real bot, see .env.example.")

    try:
        asyncio.run(run_sandbox(get_settings(), host=host, port=port, fresh=fresh,
                                listening=listening))
    except (SandboxError, AlreadyRunning) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(3) from None
    except OSError as exc:  # the port is taken, most often
        typer.echo(f"The sandbox cannot listen on {host}:{port}: {exc.strerror}. "
                   "Another one running? Choose another port with SANDBOX_PORT.", err=True)
        raise typer.Exit(3) from None
    except KeyboardInterrupt:
        pass
