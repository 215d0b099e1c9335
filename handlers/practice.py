"""Practice calls: before a new volunteer's first real card, and any time with /practice.

A practice card is the real card (the campaign's script, its talking points, every button)
with a fictional contact whose number is in a block ARCEP reserves for fiction, so it can
never reach anyone. Its buttons carry no contact: they never touch the queue, the call log,
counts, rankings, streaks, milestones, the wall or the web. Each outcome says what it does
in the real queue, by the campaign's own rules, then offers another practice or the first
real call. Only the person's number of practice cards is kept (storage.practice).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from handlers.calling import may_call
from handlers.cards import CARD_LAYOUT, CallFlowCB, card_text
from storage.calling import Card, QueueRules
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.models import Campaign, Outcome, VolunteerStatus
from storage.practice import record_practice
from storage.users import Person
from ui.filters import PrivateChat
from ui.keyboards import outcome_label
from ui.notify import acknowledge

# ARCEP's block 01 99 00 xx xx is reserved for fiction (films, books, tests): no line has
# such a number. Its mobile block 06 39 98 is one phonenumbers calls invalid.
FICTION_PREFIX = "+3319900"
# Fictional callees, names given to either sex, so that any script reads naturally.
FICTION_NAMES = ("Camille", "Dominique", "Claude", "Sacha", "Alix", "Maxime", "Charlie")


class PracticeCB(CallbackData, prefix="pr"):
    seen: int  # practice cards done when this one was shown: a second press counts nothing
    outcome: Outcome


class PracticePointCB(CallbackData, prefix="prp"):
    seen: int
    index: int  # a talking point; -1 back to the card from the call-back menu


class PracticeWhenCB(CallbackData, prefix="prw"):
    seen: int
    when: str  # "1h" | "evening" | "tomorrow"


def fictional_card(user_id: int, seen: int) -> Card:
    serial = (user_id * 7919 + seen * 131) % 10000
    return Card(contact_id=0, lease_seq=seen, phone=f"{FICTION_PREFIX}{serial:04d}",
                first_name=FICTION_NAMES[(user_id + seen) % len(FICTION_NAMES)],
                last_name=None, constituency=None, commune=None,
                source=_("a practice card: the number is reserved for fiction and "
                         "rings nowhere"),
                attempts=0, lease_expires_at=datetime.now(UTC))


def practice_text(campaign: Campaign, user: Person, seen: int,
                  talking_point: int | None = None) -> str:
    banner = _("🎓 <b>Practice call</b>: a fictional contact. Try every button: nothing "
               "is recorded, and each one tells what it does in the real queue.")
    card = fictional_card(user.id, seen)
    return banner + "\n\n" + card_text(card, campaign, user.first_name, talking_point)


def practice_keyboard(seen: int, titles: list[str]) -> InlineKeyboardMarkup:
    def button(outcome: Outcome) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=outcome_label(outcome), callback_data=PracticeCB(
            seen=seen, outcome=outcome).pack())

    rows = [[button(o) for o in row] for row in CARD_LAYOUT]
    rows += [[InlineKeyboardButton(text="💬 " + title, callback_data=PracticePointCB(
        seen=seen, index=index).pack())] for index, title in enumerate(titles)]
    rows.append([button(Outcome.SKIPPED)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _when_keyboard(seen: int) -> InlineKeyboardMarkup:
    choices = [InlineKeyboardButton(text=label, callback_data=PracticeWhenCB(
        seen=seen, when=when).pack()) for when, label in (
        ("1h", _("In 1 hour")), ("evening", _("This evening")), ("tomorrow", _("Tomorrow")))]
    back = InlineKeyboardButton(text=_("← Back to the card"), callback_data=PracticePointCB(
        seen=seen, index=-1).pack())
    return InlineKeyboardMarkup(inline_keyboard=[choices, [back]])


def _duration(minutes: int) -> str:
    if minutes == 60:
        return _("1 hour")
    if minutes % 60 == 0:
        return _("{n} hours").format(n=minutes // 60)
    return _("1 minute") if minutes == 1 else _("{n} minutes").format(n=minutes)


def what_it_does(outcome: Outcome, rules: QueueRules) -> str:
    """What the outcome does in the real queue, from the campaign's own rules."""
    if outcome in (Outcome.NO_ANSWER, Outcome.VOICEMAIL):
        if rules.max_attempts == 1:
            return _("Not called again: this campaign tries each number once.")
        return _("Back in the queue in {delay}, {n} tries at most.").format(
            delay=_duration(rules.retry_delay_minutes), n=rules.max_attempts)
    if outcome is Outcome.CALL_BACK:
        return _("The contact comes back at the time you choose, for whoever calls then.")
    if outcome is Outcome.DO_NOT_CALL:
        return _("Never called again, in every campaign: the number goes on the do-not-call "
                 "list. Pressed seconds after the card came, it waits for an organizer.")
    if outcome is Outcome.SKIPPED:
        return _("The contact goes back to the queue for someone else. Give back {n} cards "
                 "in an hour and your calling is paused.").format(n=rules.skip_limit_per_hour)
    if outcome in (Outcome.NEEDS_PROXY, Outcome.CAN_CARRY_PROXY):
        return _("Recorded, and the bot then asks you a few questions about the proxy, so "
                 "that it can be matched. The contact is not called again.")
    if outcome is Outcome.WANTS_TO_VOLUNTEER:
        return _("Recorded for the organizers, who get back to the contact. The contact is "
                 "not called again.")
    if outcome is Outcome.WRONG_NUMBER:
        return _("Not called again in this campaign.")
    return _("Counted in the day's figures, and the contact is not called again in this "
             "campaign.")


def _after_keyboard(trained: bool) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(text=_("🎓 Another practice call"),
                                  callback_data=CallFlowCB(action="practice").pack())]]
    if trained:
        rows.append([InlineKeyboardButton(text=_("📞 My first real call"),
                                          callback_data=CallFlowCB(action="next").pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def may_practice(user: Person, is_organizer: bool) -> bool:
    """Callers, and those waiting for an organizer's answer: practice reaches nobody."""
    return may_call(user, is_organizer) or user.volunteer_status is VolunteerStatus.PENDING


async def send_practice_card(bot: Bot, chat_id: int, campaign: Campaign, user: Person) -> None:
    seen = user.practice_calls
    await bot.send_message(chat_id, practice_text(campaign, user, seen),
                           reply_markup=practice_keyboard(
                               seen, [p["title"] for p in campaign.talking_points]))


async def practice_command(message: Message, bot: Bot, campaigns: CampaignCache, user: Person,
                           is_organizer: bool) -> None:
    await _practice(bot, message.chat.id, campaigns, user, is_organizer)


async def practice_button(query: CallbackQuery, bot: Bot, campaigns: CampaignCache,
                          user: Person, is_organizer: bool) -> None:
    await acknowledge(query)
    if isinstance(query.message, Message):
        with suppress(TelegramAPIError):
            await query.message.edit_reply_markup(reply_markup=None)
    await _practice(bot, query.from_user.id, campaigns, user, is_organizer)


async def _practice(bot: Bot, chat_id: int, campaigns: CampaignCache, user: Person,
                    is_organizer: bool) -> None:
    campaign = await campaigns.get()
    if campaign is None:
        await bot.send_message(chat_id, _("No campaign is running yet. Come back soon!"))
        return
    if not may_practice(user, is_organizer):
        await bot.send_message(chat_id, _(
            "Practice calls are for the campaign's callers. Tap 📞 Next call to join them."))
        return
    await send_practice_card(bot, chat_id, campaign, user)


async def practice_outcome(query: CallbackQuery, callback_data: PracticeCB, db: Database,
                           campaigns: CampaignCache, user: Person, is_organizer: bool) -> None:
    await acknowledge(query)
    if callback_data.outcome is Outcome.CALL_BACK:
        await _redraw(query, reply_markup=_when_keyboard(callback_data.seen))
        return
    await _explain(query, callback_data.seen, callback_data.outcome, db, campaigns, user,
                   is_organizer)


async def practice_when(query: CallbackQuery, callback_data: PracticeWhenCB, db: Database,
                        campaigns: CampaignCache, user: Person, is_organizer: bool) -> None:
    await acknowledge(query)
    await _explain(query, callback_data.seen, Outcome.CALL_BACK, db, campaigns, user,
                   is_organizer)


async def _explain(query: CallbackQuery, seen: int, outcome: Outcome, db: Database,
                   campaigns: CampaignCache, user: Person, is_organizer: bool) -> None:
    campaign = await campaigns.get()
    if campaign is None:
        return
    practiced = await record_practice(db, user.id, seen, campaign.practice_calls_required)
    ready = practiced.trained and may_call(user, is_organizer)
    lines = [_("🎓 Practice: {outcome}").format(outcome=outcome_label(outcome)),
             _("In the real queue: {what}").format(what=what_it_does(
                 outcome, QueueRules.of(campaign))),
             _("On a real card, the number leaves the chat once you tap the outcome.")]
    if not practiced.trained:
        left = campaign.practice_calls_required - practiced.done
        lines.append(_("One more practice call before your first real one.") if left == 1
                     else _("{n} more practice calls before your first real one.").format(n=left))
    elif not ready:
        lines.append(_("You're ready: you can make real calls once an organizer approves you."))
    await _redraw(query, "\n\n".join(lines), reply_markup=_after_keyboard(ready))


async def practice_point(query: CallbackQuery, callback_data: PracticePointCB,
                         campaigns: CampaignCache, user: Person) -> None:
    await acknowledge(query)
    campaign = await campaigns.get()
    if campaign is None:
        return
    index = callback_data.index if callback_data.index >= 0 else None
    await _redraw(query, practice_text(campaign, user, callback_data.seen, index),
                  reply_markup=practice_keyboard(
                      callback_data.seen, [p["title"] for p in campaign.talking_points]))


async def _redraw(query: CallbackQuery, text: str | None = None, *,
                  reply_markup: InlineKeyboardMarkup) -> None:
    if not isinstance(query.message, Message):
        return
    with suppress(TelegramAPIError):  # a second tap on the same card: it says so already
        if text is None:
            await query.message.edit_reply_markup(reply_markup=reply_markup)
        else:
            await query.message.edit_text(text, reply_markup=reply_markup)


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="practice")
    router.message.filter(PrivateChat())
    router.callback_query.filter(PrivateChat())
    router.message.register(practice_command, Command("practice"))
    router.callback_query.register(practice_button, CallFlowCB.filter(F.action == "practice"))
    router.callback_query.register(practice_outcome, PracticeCB.filter())
    router.callback_query.register(practice_when, PracticeWhenCB.filter())
    router.callback_query.register(practice_point, PracticePointCB.filter())
    return router
