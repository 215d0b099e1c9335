"""`toile run`: migrate, then serve updates by long polling (or a webhook when configured)."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiogram import Bot, Dispatcher
from aiohttp import web

from bot.app import (
    build_bot,
    build_deliverer,
    build_dispatcher,
    build_scheduler,
    register_commands,
    settle_heap,
)
from bot.config import Settings
from bot.wall import start_web
from storage import clock
from storage.database import Database
from storage.instances import (
    LEASE_SECONDS,
    RENEW_SECONDS,
    Holder,
    Instance,
    acquire,
    current_holder,
    lease_table_exists,
    release,
    renew,
)
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


ALREADY_RUNNING = """Another Toile instance is running against this database: pid {pid} on {host},
since {since} UTC (its lease renewed {ago:.0f} s ago).

Toile runs one instance at a time: two would each send at SEND_RATE and ignore each
other's Telegram rate limits. Stop the other one first. If it crashed, its lease lapses
at {expires} UTC: start again after that. Other commands (imports, exports) work while
it runs."""

LEASE_LOST = """Another Toile instance (pid {pid} on {host}) took this database over: this one
stalled past its lease ({seconds} s) and stops, so that only one sends."""


class AlreadyRunning(Exception):
    """Another instance holds the database: the message says which."""


class LeaseLost(Exception):
    """Another instance took the database over while this one stalled."""


def _already_running(holder: Holder) -> AlreadyRunning:
    return AlreadyRunning(ALREADY_RUNNING.format(
        pid=holder.pid, host=holder.host, since=f"{holder.started_at:%Y-%m-%d %H:%M:%S}",
        ago=(clock.utcnow() - holder.renewed_at).total_seconds(),
        expires=f"{holder.expires_at:%Y-%m-%d %H:%M:%S}"))


async def serve(settings: Settings) -> None:
    check_token(settings)
    db = Database(settings.database_url)
    me = Instance.here()
    lost = asyncio.Event()
    keeping: asyncio.Task[None] | None = None
    try:
        # The lease first, then the migrations: a second start must not migrate the schema
        # under the running one (a database without the lease table is migrated first). It
        # is renewed from then on, while a long migration runs too.
        if await lease_table_exists(db):
            await _acquire(db, me)
            keeping = asyncio.create_task(_keep_lease(db, me, lost))
        await asyncio.to_thread(upgrade, settings.database_url)
        if keeping is None:
            await _acquire(db, me)
            keeping = asyncio.create_task(_keep_lease(db, me, lost))
        await _serve_claimed(settings, db, lost)
    finally:
        if keeping is not None:
            keeping.cancel()
            await asyncio.gather(keeping, return_exceptions=True)
            if not lost.is_set():
                await _release(db, me)
        await db.dispose()


async def _acquire(db: Database, me: Instance) -> None:
    claim = await acquire(db, me)
    if not claim.acquired:
        raise _already_running(claim.holder)
    if claim.took_over is not None:
        log.warning("took this database over from pid %s on %s, whose lease lapsed at %s UTC "
                    "(it stopped without letting go: a crash?)", claim.took_over.pid,
                    claim.took_over.host, f"{claim.took_over.expires_at:%H:%M:%S}")


async def _keep_lease(db: Database, me: Instance, lost: asyncio.Event) -> None:
    while True:
        await asyncio.sleep(RENEW_SECONDS)
        try:
            held = await renew(db, me)
        except Exception:  # the database away a moment: the lease has time to spare
            log.warning("could not renew the instance lease", exc_info=True)
            continue
        if not held:
            lost.set()
            return


async def _release(db: Database, me: Instance) -> None:
    try:
        await release(db, me)
    except Exception:  # the lease then lapses on its own
        log.warning("could not release the instance lease", exc_info=True)


async def _serve_claimed(settings: Settings, db: Database, lost: asyncio.Event) -> None:
    bot = build_bot(settings)
    dp = build_dispatcher(settings, db)
    scheduler = build_scheduler(dp, bot)
    delivering: asyncio.Task[None] | None = None
    wall: web.AppRunner | None = None
    try:
        await prepare(settings, dp, bot)
        wall = await _start_wall(settings, dp)
        settle_heap()
        scheduler.start()
        delivering = asyncio.create_task(build_deliverer(dp, bot, settings).run())
        if settings.webhook_url:
            serving = asyncio.create_task(_serve_webhook(settings, settings.webhook_url, bot, dp))
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            serving = asyncio.create_task(dp.start_polling(bot, handle_signals=True))
        await _until_done_or_lost(serving, lost, dp, polling=not settings.webhook_url)
    finally:
        if delivering is not None:
            delivering.cancel()  # unstarted rows go back to the queue before we close
            await asyncio.gather(delivering, return_exceptions=True)
        scheduler.shutdown(wait=False)
        if wall is not None:
            await wall.cleanup()  # open screens reconnect when the bot is back
        await bot.session.close()


async def _start_wall(settings: Settings, dp: Dispatcher) -> web.AppRunner | None:
    """The room's screen (/wall), beside the bot; a port already taken costs the wall, not
    the chats."""
    if not settings.web_port:
        return None
    try:
        return await start_web(settings, dp["db"], dp["i18n"])
    except OSError as exc:
        log.error("the wall cannot listen on %s:%s (%s): the bot runs without it",
                  settings.web_host, settings.web_port, exc.strerror or exc)
        # No link then: it would send the screens, token and all, to whatever holds the port.
        dp["wall_url"] = None
        return None


async def _until_done_or_lost(serving: asyncio.Task[None], lost: asyncio.Event,
                              dp: Dispatcher, *, polling: bool) -> None:
    losing = asyncio.create_task(lost.wait())
    try:
        await asyncio.wait({serving, losing}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # stopped from outside (the sandbox's "Start again")
        await _stop_serving(serving, dp, polling=polling)
        raise
    finally:
        losing.cancel()
    if not lost.is_set():
        await serving  # a clean stop, or its error
        return
    await _stop_serving(serving, dp, polling=polling)
    holder = await current_holder(dp["db"])
    raise LeaseLost(LEASE_LOST.format(pid=holder.pid if holder else "?",
                                      host=holder.host if holder else "?",
                                      seconds=LEASE_SECONDS))


async def _stop_serving(serving: asyncio.Task[None], dp: Dispatcher, *, polling: bool) -> None:
    """Polling is stopped, not cancelled: a cancelled start_polling leaves its pollers
    running on a closed session, taking updates nobody answers."""
    if polling and not serving.done():
        try:
            await dp.stop_polling()
        except RuntimeError:  # not started yet: cancelling it is as good
            serving.cancel()
    else:
        serving.cancel()
    await asyncio.gather(serving, return_exceptions=True)


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


async def _serve_webhook(settings: Settings, url: str, bot: Bot, dp: Dispatcher) -> None:
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
    from aiohttp import web

    path = "/telegram"
    await bot.set_webhook(url.rstrip("/") + path, secret_token=settings.webhook_secret)
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot,
                         secret_token=settings.webhook_secret).register(app, path=path)
    setup_application(app, dp, bot=bot)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
    log.info("webhook listening on %s:%s", settings.webhook_host, settings.webhook_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):  # a clean stop releases the lease
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
