"""A stand-in for the Bot API, on this machine: Toile runs against it, unchanged, in the
sandbox (with a web chat page) and in the tests. It refuses what Telegram refuses, with
Telegram's descriptions, and keeps each chat as its person sees it.

    standin = StandIn(username="toile_sandbox_bot")
    standin.install(app)          # the API at /bot{token}/{method} of an aiohttp app
    await standin.start()         # or alone on host:port (standin.url)
    standin.deliver(update)       # an update for the bot's next getUpdates
    standin.say(user, "/start")   # a person writes (shown in their chat, delivered)
    standin.press(user, shown, data)
    async with standin.watching() as events: ...   # every change, as Event
    standin.reset()               # every chat forgotten
"""

from bot.standin.chats import BOT_ID, ShownMessage, StoredFile, chat_of
from bot.standin.methods import Event
from bot.standin.server import StandIn

__all__ = ["BOT_ID", "Event", "ShownMessage", "StandIn", "StoredFile", "chat_of"]
