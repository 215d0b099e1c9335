"""The floor aiogram + aiohttp + the fake Bot API impose on Toile's "/call + outcome" round
trip, independent of Toile's own work (DB, middlewares, i18n middleware, FSM).

    .venv/bin/python bench/updates_floor.py [--phases toile,card,card6,echo]
        [--volunteers 50] [--seconds 15] [--warmup 3]

Phases, in one process, against one WatchedTelegram (as bench/updates.py does):
  toile : the real bot, built exactly as bench/updates.py builds it.
  card  : "card-shaped echo": bare Dispatcher (aiogram defaults only), Toile's Bot object
          (parse_mode HTML, link previews off, telegram_retry session middlewares).
          /call -> sendMessage(card_text(...) ~ a real card, card_keyboard(...) = the real keyboard)
          outcome press (OutcomeCB.filter()) -> query.answer() ; message.edit_text(recorded
          text, reply_markup=next_call_keyboard()).  No DB, no FSM use, no i18n middleware
          (labels come from handlers.cards inside a bare `with i18n.context()` block).
  card6 : same, but the card keyboard has only the first 6 outcome buttons (3 rows).
  cardraw: same as card but the Bot has no telegram_retry middlewares (plain aiogram session).
  echo  : bench/updates.py's bare echo bot.
  echokeep: the bare echo bot + Toile's KeepResponseTypes session middleware.
  Phases other than toile may repeat (e.g. card,echo,card6,card,echo) to interleave.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import itertools
import logging
import random
import shutil
import tempfile
from types import SimpleNamespace

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

import storage.clock
from bench._common import CAMPAIGN_FILE, contact_rows, percentile, table
from bench.updates import (
    ECHO_BASE,
    FROZEN_NOW,
    VOLUNTEER_BASE,
    ErrorCount,
    InProcess,
    WatchedTelegram,
    build_echo,
    echo_loop,
    prepare_database,
    run_phase,
    volunteer_loop,
)
from bot import telegram_retry
from bot.app import build_bot, build_dispatcher
from bot.config import Settings
from handlers.cards import OutcomeCB, card_keyboard, card_text, next_call_keyboard, recorded_text
from storage.campaign_cache import CampaignCache
from storage.campaigns import parse_campaign_file
from storage.users import sync_organizers
from tests.conversation import ORGANIZER_ID
from ui.i18n import make_i18n
from ui.keyboards import outcome_label

CARD_BASE = 300_000


def build_card_bot(fake: WatchedTelegram, timeout: float, i18n, *, buttons: int | None,
                   retry_middlewares: bool = True) -> tuple[Bot, Dispatcher, dict]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.url), timeout=timeout)
    bot = Bot("44:CARD", session=session,
              default=DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True))
    if retry_middlewares:
        telegram_retry.install(bot)
    fields = parse_campaign_file(CAMPAIGN_FILE)
    campaign = SimpleNamespace(script=fields["script"], talking_points=fields["talking_points"])
    titles = [p["title"] for p in campaign.talking_points]
    people = [SimpleNamespace(contact_id=0, lease_seq=1, phone="+33612345678", first_name=r[0],
                              last_name=r[1], constituency=r[3], commune=r[4],
                              source="Primaire populaire 2022", attempts=0)
              for r in contact_rows(64, seed=5)]
    ids = itertools.count(1)
    names: dict[int, str] = {}
    shape: dict = {}

    def keyboard(contact_id: int) -> InlineKeyboardMarkup:
        full = card_keyboard(contact_id, 1, titles)
        if buttons is None:
            return full
        flat = [b for row in full.inline_keyboard for b in row][:buttons]
        return InlineKeyboardMarkup(inline_keyboard=[flat[i:i + 2] for i in range(0, len(flat), 2)])

    router = Router(name="card")

    @router.message(Command("call"))
    async def call(message: Message, bot: Bot) -> None:
        contact_id = next(ids)
        person = people[contact_id % len(people)]
        names[contact_id] = person.first_name
        with i18n.context(), i18n.use_locale("fr"):
            text = card_text(person, campaign, message.from_user.first_name)
            markup = keyboard(contact_id)
        if not shape:
            shape.update(text_chars=len(text), buttons=sum(len(r) for r in markup.inline_keyboard),
                         markup_json=len(markup.model_dump_json(exclude_none=True)))
        await bot.send_message(message.chat.id, text, reply_markup=markup)

    @router.callback_query(OutcomeCB.filter())
    async def outcome(query: CallbackQuery, callback_data: OutcomeCB) -> None:
        await query.answer()
        with i18n.context(), i18n.use_locale("fr"):
            text = recorded_text(names.pop(callback_data.contact_id, None),
                                 outcome_label(callback_data.outcome))
            markup = next_call_keyboard()
        await query.message.edit_text(text, reply_markup=markup)

    dp = Dispatcher()
    dp.include_router(router)
    return bot, dp, shape


class CardCapture(WatchedTelegram):
    """Also keeps the first real card Toile sent, to compare shapes."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.first_card: dict | None = None

    async def api_sendMessage(self, params):
        if self.first_card is None and "o:" in str(params.get("reply_markup")):
            self.first_card = dict(params)
        return await super().api_sendMessage(params)


async def main_async(args: argparse.Namespace) -> None:
    phases = args.phases.split(",")
    errors = ErrorCount()
    logging.getLogger().addHandler(errors)
    workdir = Path(tempfile.mkdtemp(prefix="floor-"))
    fake = CardCapture()
    fake.record = False
    real_utcnow = storage.clock.utcnow
    storage.clock.utcnow = lambda: FROZEN_NOW
    db = None
    results = []
    shapes = {}
    bots: list[Bot] = []
    i18n = make_i18n("fr")
    try:
        await fake.start()
        for position, name in enumerate(phases):
            if name == "toile":
                volunteers = [VOLUNTEER_BASE + i for i in range(args.volunteers)]
                db = await prepare_database(workdir / "toile.db", args.contacts, volunteers)
                settings = Settings(bot_token="42:TEST", telegram_api_url=fake.url,
                                    organizer_ids=[ORGANIZER_ID], database_url=str(db.url),
                                    _env_file=None)  # type: ignore[call-arg]
                await sync_organizers(db, settings.organizer_ids)
                bot = build_bot(settings, timeout=args.timeout)
                dp = build_dispatcher(settings, db, campaigns=CampaignCache(db, ttl=30.0))
                rngs = {u: random.Random(u) for u in volunteers}
                bots.append(bot)
                results.append(await run_phase(
                    "toile (real bot)", fake, InProcess(bot, dp),
                    lambda w, t, rngs=rngs, volunteers=volunteers: [
                        volunteer_loop(fake, u, w, t, rngs[u]) for u in volunteers],
                    args.warmup, args.seconds, args.timeout))
                if fake.first_card:
                    mk = fake.first_card.get("reply_markup") or {}
                    shapes["toile"] = dict(
                        text_chars=len(fake.first_card["text"]),
                        buttons=sum(len(r) for r in mk.get("inline_keyboard", [])))
            elif name in ("card", "card6", "cardraw"):
                base = CARD_BASE + 10_000 * position
                bot, dp, shape = build_card_bot(fake, args.timeout, i18n,
                                                buttons=6 if name == "card6" else None,
                                                retry_middlewares=name != "cardraw")
                people = [base + i for i in range(args.volunteers)]
                rngs = {u: random.Random(u) for u in people}
                bots.append(bot)
                label = {"card": "card-shaped echo", "card6": "card-shaped echo, 6 buttons",
                         "cardraw": "card-shaped echo, no retry mw"}[name]
                results.append(await run_phase(
                    label, fake, InProcess(bot, dp),
                    lambda w, t, rngs=rngs, people=people: [
                        # A bare card bot sends no congratulations.
                        volunteer_loop(fake, u, w, t, rngs[u], milestones=())
                        for u in people],
                    args.warmup, args.seconds, args.timeout))
                shapes[name] = shape
            elif name in ("echo", "echokeep"):
                bot, dp = build_echo(fake.url, args.timeout)
                if name == "echokeep":  # + Toile's KeepResponseTypes session middleware
                    bot.session.middleware(telegram_retry.KeepResponseTypes())
                bots.append(bot)
                base = ECHO_BASE + 10_000 * position
                results.append(await run_phase(
                    "bare echo" if name == "echo" else "bare echo + KeepResponseTypes",
                    fake, InProcess(bot, dp),
                    lambda w, t, base=base: [echo_loop(fake, base + i, w, t)
                                             for i in range(args.volunteers)],
                    args.warmup, args.seconds, args.timeout))
            else:
                raise SystemExit(f"unknown phase {name}")
    finally:
        storage.clock.utcnow = real_utcnow
        for bot in bots:
            await bot.session.close()
        if db is not None:
            await db.dispose()
        await fake.stop()
        logging.getLogger().removeHandler(errors)
        shutil.rmtree(workdir, ignore_errors=True)

    print(table(("phase", "updates", "updates/s", "p50 ms", "p99 ms", "timeouts", "surprises"), [
        (r.name, f"{r.updates:,}", f"{r.rate:,.1f}", f"{percentile(r.latency_ms, 50):.1f}",
         f"{percentile(r.latency_ms, 99):.1f}", r.timeouts, len(r.surprises)) for r in results]))
    print("shapes:", shapes)
    print("errors logged:", len(errors.messages), errors.messages[:3])
    for r in results:
        for s in r.surprises[:2]:
            print("  surprise", r.name, s)
    names = [f"{i}:{r.name}" for i, r in enumerate(results)]
    rate = {n: r.rate for n, r in zip(names, results, strict=True)}
    print("ratios:")
    for a, b in itertools.combinations(names, 2):
        print(f"  {a} / {b} = {rate[a] / rate[b]:.1%}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--phases", default="toile,card,card6,echo")
    p.add_argument("--volunteers", type=int, default=50)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--contacts", type=int, default=5000)
    p.add_argument("--timeout", type=float, default=10.0)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
