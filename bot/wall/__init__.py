"""The wall's web server, served by the bot's own process (`start_web`)."""

from bot.wall.server import start_web

__all__ = ["start_web"]
