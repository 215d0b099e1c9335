"""/me: a volunteer's own calls, the campaign's day, and today's callers (opt-out)."""

from __future__ import annotations

from dataclasses import replace
from html import escape

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal

from handlers.calling import may_call
from handlers.invite import rankings_note
from storage.campaign_cache import CampaignCache
from storage.contacts.links import my_calls_joined
from storage.database import Database
from storage.models import CALL_OUTCOMES, Campaign
from storage.stats import callers_today, calling_streak, volunteer_counts
from storage.users import Person
from storage.web import set_leaderboard_opt_out
from ui.filters import MenuButton
from ui.keyboards import outcome_label
from ui.notify import acknowledge, edit_in_place

RANKING_SIZE = 10


class RankingCB(CallbackData, prefix="rank"):
    action: str  # show | hide | unhide


async def me(message: Message, db: Database, campaigns: CampaignCache, user: Person,
             is_organizer: bool, i18n: I18n) -> None:
    campaign = await campaigns.get()
    if campaign is None:
        await message.answer(_("No campaign is running yet. Come back soon!"))
        return
    counts = await volunteer_counts(db, campaign, user.id)
    lines = [_("<b>Your calls</b>: {today} today, {total} in total.").format(
        today=counts.today_calls, total=counts.total_calls)]
    for outcome in CALL_OUTCOMES:
        if counts.total.get(outcome.value):
            lines.append(_("{label}: {today} today, {total} in total").format(
                label=outcome_label(outcome), today=counts.today.get(outcome.value, 0),
                total=counts.total[outcome.value]))
    joined = await my_calls_joined(db, user.id)
    if joined:
        lines.append(_("🕸 {n} of your calls joined on Telegram.").format(n=joined))
    streak = await calling_streak(db, campaign, user.id)
    if streak >= 2:
        lines.append(_("🔥 {days} days in a row of calls. Thank you!").format(days=streak))
    locale = i18n.current_locale
    lines += ["", _("📣 The campaign: {today} calls today, {morning} this morning.").format(
        today=format_decimal(counts.campaign_today, locale=locale),
        morning=format_decimal(counts.campaign_morning, locale=locale))]
    ranking = None
    if may_call(user, is_organizer):
        ranking = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=_("🏆 Today's callers"), callback_data=RankingCB(action="show").pack())]])
    await message.answer("\n".join(lines), reply_markup=ranking)


async def ranking_screen(db: Database, campaign: Campaign,
                         user: Person) -> tuple[str, InlineKeyboardMarkup]:
    """Today's top callers by first name, where the volunteer stands, and the way out of
    the rankings (or back in): the same choice as for the recruiters' rankings."""
    ranking = await callers_today(db, campaign, user.id, RANKING_SIZE)
    lines = [_("🏆 <b>Today's callers</b>")]
    medals = {1: "🥇", 2: "🥈", 3: "🥉"}
    lines += [f"{medals.get(place, f'{place}.')} {escape(name)}: {calls}"
              for place, name, calls in ranking.top]
    if not ranking.top:
        lines.append(_("Nobody has called yet today: the first place is yours to take!"))
    lines.append("")
    if user.leaderboard_opt_out:
        lines.append(_("You are left out of the rankings."))
    elif ranking.my_rank is None:
        lines.append(_("Your first call of the day puts you in."))
    else:
        lines.append(_("You are number {rank} today, calls made: {calls}. Thank you!").format(
            rank=ranking.my_rank, calls=ranking.my_calls))
    toggle = RankingCB(action="unhide" if user.leaderboard_opt_out else "hide")
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("👀 Show me in the rankings") if user.leaderboard_opt_out
        else _("🙈 Leave me out of the rankings"), callback_data=toggle.pack())]])
    return "\n".join(lines), keyboard


async def ranking_pressed(query: CallbackQuery, callback_data: RankingCB, db: Database,
                          campaigns: CampaignCache, user: Person, is_organizer: bool) -> None:
    campaign = await campaigns.get()
    if not may_call(user, is_organizer) or campaign is None:
        await acknowledge(query, _("The rankings are for the campaign's callers."))
        return
    if callback_data.action == "show":
        await acknowledge(query)
        if isinstance(query.message, Message):
            text, keyboard = await ranking_screen(db, campaign, user)
            await query.message.answer(text, reply_markup=keyboard)
        return
    opt_out = callback_data.action == "hide"
    changed = await set_leaderboard_opt_out(db, user.id, opt_out)
    await acknowledge(query, rankings_note(opt_out, changed))
    text, keyboard = await ranking_screen(
        db, campaign, replace(user, leaderboard_opt_out=opt_out))
    await edit_in_place(query.message, text, reply_markup=keyboard)



def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="me")
    router.message.register(me, Command("me"))
    router.message.register(me, MenuButton("👤 My calls"))
    router.callback_query.register(ranking_pressed, RankingCB.filter(F.action.in_(
        {"show", "hide", "unhide"})))
    return router
