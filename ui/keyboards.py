"""Keyboards and labels more than one feature draws: the outcome labels, the main menu."""

from __future__ import annotations

from aiogram.types import KeyboardButton, ReplyKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from storage.models import Outcome
from ui.i18n import N_

# Message ids, translated one at a time: a card draws fifteen labels, and translating the
# whole table for each would cost two hundred lookups a card.
OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.WILL_VOTE: N_("✅ Will vote"),
    Outcome.UNDECIDED: N_("🤔 Undecided"),
    Outcome.NOT_INTERESTED: N_("🙅 Not interested"),
    Outcome.OTHER_SIDE: N_("↔️ Votes for another side"),
    Outcome.NO_ANSWER: N_("📵 No answer"),
    Outcome.VOICEMAIL: N_("📼 Voicemail"),
    Outcome.CALL_BACK: N_("⏰ Call back later"),
    Outcome.NEEDS_PROXY: N_("🗳 Needs a vote proxy"),
    Outcome.CAN_CARRY_PROXY: N_("🤝 Can carry a vote proxy"),
    Outcome.WANTS_TO_VOLUNTEER: N_("🙋 Wants to volunteer"),
    Outcome.WRONG_NUMBER: N_("❌ Wrong number"),
    Outcome.DO_NOT_CALL: N_("⛔ Do not call again"),
    Outcome.SKIPPED: N_("⏭ Skip this contact"),
    Outcome.ABANDONED: N_("Abandoned"),
}


def outcome_label(outcome: Outcome) -> str:
    return _(OUTCOME_LABELS[outcome])


def main_menu(can_call: bool) -> ReplyKeyboardMarkup:
    first = [KeyboardButton(text=_("📞 Next call"))] if can_call else []
    keyboard = [[*first, KeyboardButton(text=_("👤 My calls"))],
                [KeyboardButton(text=_("🕸 Invite 3 people")),
                 KeyboardButton(text=_("🙋 Ask the organizers"))],
                [KeyboardButton(text=_("❓ Help"))]]
    return ReplyKeyboardMarkup(keyboard=keyboard, resize_keyboard=True, is_persistent=True)
