"""`toile run`: migrate, then serve updates by long polling (or a webhook when configured)."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, Dispatcher

from bot.app import (
    build_bot,
    build_deliverer,
    build_dispatcher,
    build_scheduler,
    register_commands,
    settle_heap,
)
from bot.config import Settings
from storage.database import Database
from storage.migrate import upgrade
from storage.users import organizers, sync_organizers

log = logging.getLogger(__name__)

NO_TOKEN = """BOT_TOKEN is not set.

Toile needs a Telegram bot token:
  1. In Telegram, open @BotFather and send /newbot; follow its two questions.
  2. It answers with a token such as 123456789:AAE...; copy it.
  3. Put it in a file named .env next to the Makefile:  BOT_TOKEN=123456789:AAE...
     (see .env.example for every setting), or export BOT_TOKEN in your shell.
Then run `make run` again."""


class MissingToken(SystemExit):
    pass


NO_WEBHOOK_SECRET = """WEBHOOK_URL is set but WEBHOOK_SECRET is not.

Without the secret, anyone who learns the webhook's address could send the bot forged
updates in a volunteer's name. Put a long random WEBHOOK_SECRET in .env
(letters, digits, _ and -), or remove WEBHOOK_URL to use long polling."""


def check_token(settings: Settings) -> None:
    if not settings.bot_token.strip():
        raise MissingToken(NO_TOKEN)
    if settings.webhook_url and not settings.webhook_secret:
        raise MissingToken(NO_WEBHOOK_SECRET)


async def serve(settings: Settings) -> None:
    check_token(settings)
    await asyncio.to_thread(upgrade, settings.database_url)
    db = Database(settings.database_url)
    bot = build_bot(settings)
    dp = build_dispatcher(settings, db)
    scheduler = build_scheduler(dp, bot)
    delivering: asyncio.Task[None] | None = None
    try:
        await prepare(settings, dp, bot)
        settle_heap()
        scheduler.start()
        delivering = asyncio.create_task(build_deliverer(dp, bot, settings).run())
        if settings.webhook_url:
            await _serve_webhook(settings, bot, dp)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            await dp.start_polling(bot, handle_signals=True)
    finally:
        if delivering is not None:
            delivering.cancel()  # unstarted rows go back to the queue before we close
            await asyncio.gather(delivering, return_exceptions=True)
        scheduler.shutdown(wait=False)
        await bot.session.close()
        await db.dispose()


async def prepare(settings: Settings, dp: Dispatcher, bot: Bot) -> None:
    """What each start settles before the first update: who organizes is who ORGANIZER_IDS
    says (and whom `toile organizers add` named), and their chats' command menus agree."""
    db: Database = dp["db"]
    sync = await sync_organizers(db, settings.organizer_ids)
    for user_id in sync.removed:
        log.warning("%s is no longer an organizer: ORGANIZER_IDS does not list them "
                    "(`toile organizers add %s` keeps them one)", user_id, user_id)
    current = [o.id for o in await organizers(db)]
    await register_commands(bot, dp["i18n"], current, sync.removed)


async def _serve_webhook(settings: Settings, bot: Bot, dp: Dispatcher) -> None:
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
    from aiohttp import web

    path = "/telegram"
    await bot.set_webhook(settings.webhook_url.rstrip("/") + path,  # type: ignore[union-attr]
                          secret_token=settings.webhook_secret)
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot,
                         secret_token=settings.webhook_secret).register(app, path=path)
    setup_application(app, dp, bot=bot)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
    log.info("webhook listening on %s:%s", settings.webhook_host, settings.webhook_port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
