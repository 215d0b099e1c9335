"""`python -m bot` is `toile`."""

from bot.cli import app

app()
