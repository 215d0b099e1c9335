"""Assembly: the bot, the dispatcher with its routers and middlewares, the scheduler."""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from functools import partial

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import telegram_retry
from bot.config import Settings
from bot.delivery import Deliverer
from bot.jobs import (
    ProgressEditor,
    broadcast_tick,
    expire_leases_tick,
    plan_web_messages_tick,
    proxy_tick,
    shift_reminders_tick,
)
from bot.middlewares import LanguageMiddleware, PersonMiddleware
from bot.session import JsonSession
from handlers import (
    access,
    broadcast,
    callees,
    calling,
    doors,
    errors,
    forget,
    invite,
    me,
    practice,
    proxy,
    relay,
    shifts,
    start,
    stats,
    trust,
    vote_place,
    wall,
    web,
)
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.outbox import check_renderers
from ui.i18n import SUPPORTED, make_i18n

log = logging.getLogger(__name__)


def settle_heap() -> None:
    """Once everything is loaded: what start-up built (aiogram's types, SQLAlchemy's
    metadata, the catalogs: some 300,000 objects) lives as long as the process, and a full
    collection walking it stopped every chat for about a quarter of a second, now and then.
    Frozen, the collector no longer looks at it."""
    gc.collect()
    gc.freeze()


def build_bot(settings: Settings, *, timeout: float = 60.0) -> Bot:
    session = JsonSession(api=TelegramAPIServer.from_base(settings.telegram_api_url),
                          timeout=timeout)
    bot = Bot(settings.bot_token, session=session,
              default=DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True))
    telegram_retry.install(bot)
    return bot


def build_fsm_storage(settings: Settings) -> BaseStorage:
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.redis_url)
    return MemoryStorage()


def build_dispatcher(settings: Settings, db: Database, *, i18n: I18n | None = None,
                     campaigns: CampaignCache | None = None,
                     fsm_storage: BaseStorage | None = None) -> Dispatcher:
    i18n = i18n or make_i18n(settings.default_locale)
    dp = Dispatcher(storage=fsm_storage or build_fsm_storage(settings))
    dp["db"] = db
    dp["settings"] = settings
    # What the handlers need of the settings, as values: handlers never import bot/.
    dp["rejoin_secret"] = settings.rejoin_secret()
    dp["organizer_chat_id"] = settings.organizer_chat_id
    dp["wall_url"] = settings.wall_url()
    dp["campaigns"] = campaigns or CampaignCache(db)
    dp["i18n"] = i18n  # the scheduler's jobs speak too, outside any update
    dp.update.outer_middleware(PersonMiddleware(db))
    LanguageMiddleware(i18n).setup(dp)
    # The phone bank first: most updates are its taps, and each router passed costs a little.
    features = [calling.build_router(), practice.build_router(), start.build_router(),
                access.build_router(), trust.build_router(),
                me.build_router(), forget.build_router(), invite.build_router(),
                proxy.build_router(), shifts.build_router(), broadcast.build_router(),
                stats.build_router(), relay.build_router(), web.build_router(),
                wall.build_router(), callees.build_router(),
                # Last: a menu button or a command in the middle of its step is theirs.
                vote_place.build_router()]
    # Whoever knocks at a door not theirs: the refusal, then the pointer to a private chat
    # (handlers/doors.py), both read from the features' organizer and personal-data routers.
    dp.include_routers(*features, doors.build_refusal_router(features),
                       doors.build_pointer_router(features), start.build_fallback_router(),
                       errors.build_router())
    return dp


def progress_editor(dp: Dispatcher, bot: Bot) -> ProgressEditor:
    """How the broadcast tick moves a progress message: the handlers render it."""
    return partial(broadcast.update_progress, bot, dp["db"], dp["i18n"])


def build_deliverer(dp: Dispatcher, bot: Bot, settings: Settings) -> Deliverer:
    by_feature = {"access": access.make_renderers(dp["db"]), "trust": trust.make_renderers(),
                  "invite": invite.make_renderers(bot, dp["db"]),
                  "proxy": proxy.make_renderers(bot, dp["db"], dp["campaigns"]),
                  "shifts": shifts.make_renderers(dp["db"], dp["campaigns"]),
                  "broadcast": broadcast.make_renderers(dp["db"], dp["campaigns"]),
                  "relay": relay.make_renderers(dp["db"])}
    check_renderers(by_feature)  # a kind with no renderer, or two, fails here, at start
    renderers = {kind: render for feature in by_feature.values()
                 for kind, render in feature.items()}
    return Deliverer(bot, dp["db"], dp["campaigns"], dp["i18n"], renderers,
                     rate=settings.send_rate, paid_broadcasts=settings.allow_paid_broadcast)


USER_COMMANDS = ("call", "practice", "shifts", "invite", "proxy", "ask", "me", "help", "stop",
                 "forget")
ORGANIZER_COMMANDS = ("stats", "broadcast", "newshift", "volunteers", "web", "proxies", "wall")


def _descriptions(i18n: I18n, locale: str) -> dict[str, str]:
    with i18n.context(), i18n.use_locale(locale):

        return {
            "call": _("Your next contact to call"),
            "practice": _("A practice call, with a fictional contact"),
            "invite": _("Your link to bring three people"),
            "proxy": _("Vote proxies: give or carry a vote"),
            "shifts": _("Phoning shifts: join one"),
            "ask": _("Ask the organizers a question"),
            "stats": _("Today's counts, with a chart"),
            "broadcast": _("Send a message to an audience"),
            "newshift": _("Open a phoning shift"),
            "proxies": _("Vote proxies: needs, offers, matches"),
            "me": _("Your calls, today and in total"),
            "help": _("What this bot can do"),
            "stop": _("No more campaign messages"),
            "forget": _("Erase my data"),
            "volunteers": _("Volunteers waiting for approval"),
            "web": _("The spider's web: supporters and recruits"),
            "wall": _("The room's screen: today's figures, live"),
        }


async def register_commands(bot: Bot, i18n: I18n, organizer_ids: Sequence[int],
                            former_organizers: Sequence[int] = ()) -> None:
    """setMyCommands in French and English, the organizers' menu in each organizer's chat
    (and no longer in the chats of `former_organizers`). Optional: each failure is logged,
    not fatal."""
    calls = [bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=former))
             for former in former_organizers]
    for locale in (None, *SUPPORTED):
        texts = _descriptions(i18n, locale or i18n.default_locale)
        calls.append(bot.set_my_commands(
            [BotCommand(command=c, description=texts[c]) for c in USER_COMMANDS],
            scope=BotCommandScopeDefault(), language_code=locale))
    texts = _descriptions(i18n, i18n.default_locale)
    for organizer_id in organizer_ids:  # fails for an organizer who never opened the bot
        calls.append(bot.set_my_commands(
            [BotCommand(command=c, description=texts[c])
             for c in (*USER_COMMANDS, *ORGANIZER_COMMANDS)],
            scope=BotCommandScopeChat(chat_id=organizer_id)))
    for call in calls:
        try:
            await call
        except TelegramAPIError as exc:
            log.warning("could not register the bot's commands: %s", exc)


def build_scheduler(dp: Dispatcher, bot: Bot, tick_seconds: float = 60.0) -> AsyncIOScheduler:
    """The scheduler only ticks; what is due lives in the database."""
    scheduler = AsyncIOScheduler()
    scheduler.add_job(expire_leases_tick, "interval", seconds=tick_seconds,
                      args=(dp["db"], dp["campaigns"]),
                      max_instances=1, coalesce=True, id="expire_leases")
    scheduler.add_job(plan_web_messages_tick, "interval", seconds=tick_seconds,
                      args=(dp["db"], dp["campaigns"]),
                      max_instances=1, coalesce=True, id="plan_web_messages")
    scheduler.add_job(proxy_tick, "interval", seconds=tick_seconds,
                      args=(dp["db"], dp["campaigns"]),
                      max_instances=1, coalesce=True, id="proxies")
    scheduler.add_job(shift_reminders_tick, "interval", seconds=tick_seconds,
                      args=(dp["db"], dp["campaigns"]), max_instances=1, coalesce=True,
                      id="shift_reminders")
    # Broadcasts start on time and their progress message moves every few seconds.
    scheduler.add_job(broadcast_tick, "interval", seconds=min(tick_seconds, 3.0),
                      args=(dp["db"], progress_editor(dp, bot)), max_instances=1, coalesce=True,
                      id="broadcasts")
    return scheduler

