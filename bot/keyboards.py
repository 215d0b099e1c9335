"""Callback-data factories and keyboards. Every callback payload stays under 64 bytes."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from functools import lru_cache

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import N_
from storage.models import Outcome


class OutcomeCB(CallbackData, prefix="o"):
    contact_id: int
    seq: int
    outcome: Outcome


class CallBackWhenCB(CallbackData, prefix="cbl"):
    contact_id: int
    seq: int
    when: str  # "1h" | "evening" | "tomorrow" | "back" (to the card)


class TalkingPointCB(CallbackData, prefix="tp"):
    contact_id: int
    seq: int
    index: int


class CallFlowCB(CallbackData, prefix="call"):
    action: str  # "next" | "ready" | "ask"


class VolunteerDecisionCB(CallbackData, prefix="vol"):
    user_id: int
    approve: bool


class DncHoldCB(CallbackData, prefix="dnch"):
    hold: int
    confirm: bool


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


CARD_LAYOUT: tuple[tuple[Outcome, ...], ...] = (
    (Outcome.WILL_VOTE, Outcome.UNDECIDED),
    (Outcome.NOT_INTERESTED, Outcome.OTHER_SIDE),
    (Outcome.NO_ANSWER, Outcome.VOICEMAIL),
    (Outcome.CALL_BACK,),
    (Outcome.NEEDS_PROXY, Outcome.CAN_CARRY_PROXY),
    (Outcome.WANTS_TO_VOLUNTEER,),
    (Outcome.WRONG_NUMBER, Outcome.DO_NOT_CALL),
)


def _last_field_packer(first: CallbackData) -> Callable[[object], str]:
    """Payloads that differ from `first` only in their last field. aiogram packs `first`; the
    others swap that last field, as pack() would write it (an enum by its value, an int as
    is). A card packs seventeen payloads, and pack() builds and dumps a model for each."""
    head = first.pack().rpartition(first.__separator__)[0] + first.__separator__

    def pack(last: object) -> str:
        return head + str(last.value if isinstance(last, Enum) else last)

    return pack


# (a talking point's button?, the last field of its payload, the button with its label)
_CardSlot = tuple[bool, object, InlineKeyboardButton]


@lru_cache(maxsize=64)
def _card_template(locale: str, titles: tuple[str, ...]) -> tuple[tuple[_CardSlot, ...], ...]:
    """A card's buttons, labelled, for one locale and one campaign's talking points. A card
    copies them with its own payloads: building and validating seventeen buttons for each
    card cost more than the rest of the keyboard. `locale` is the key: the labels come in
    the current one."""

    def slot(outcome: Outcome) -> _CardSlot:
        return False, outcome, InlineKeyboardButton(text=outcome_label(outcome), callback_data="")

    rows = [tuple(slot(o) for o in row) for row in CARD_LAYOUT]
    rows += [((True, index, InlineKeyboardButton(text="💬 " + title, callback_data="")),)
             for index, title in enumerate(titles)]
    rows.append((slot(Outcome.SKIPPED),))
    return tuple(rows)


def card_keyboard(contact_id: int, seq: int, talking_points: list[str]) -> InlineKeyboardMarkup:
    outcome = _last_field_packer(OutcomeCB(contact_id=contact_id, seq=seq,
                                           outcome=Outcome.SKIPPED))
    point = _last_field_packer(TalkingPointCB(contact_id=contact_id, seq=seq, index=0))
    template = _card_template(get_i18n().current_locale, tuple(talking_points))
    return InlineKeyboardMarkup(inline_keyboard=[
        [button.model_copy(update={"callback_data": (point if is_point else outcome)(last)})
         for is_point, last, button in row] for row in template])


def call_back_keyboard(contact_id: int, seq: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for when, label in (("1h", _("In 1 hour")), ("evening", _("This evening")),
                        ("tomorrow", _("Tomorrow"))):
        builder.button(text=label, callback_data=CallBackWhenCB(contact_id=contact_id, seq=seq,
                                                                when=when))
    builder.button(text=_("← Back to the card"),
                   callback_data=CallBackWhenCB(contact_id=contact_id, seq=seq, when="back"))
    builder.adjust(3, 1)
    return builder.as_markup()


def next_call_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("📞 Next call"), callback_data=CallFlowCB(action="next").pack())]])


def ready_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("I'm ready: give me a contact"), callback_data=CallFlowCB(action="ready").pack())]])


def ask_to_call_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("🙋 I want to make calls"), callback_data=CallFlowCB(action="ask").pack())]])


def decision_keyboard(user_id: int, resume: bool = False) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("▶️ Resume") if resume else _("✅ Approve"),
                   callback_data=VolunteerDecisionCB(user_id=user_id, approve=True))
    builder.button(text=_("❌ Decline"),
                   callback_data=VolunteerDecisionCB(user_id=user_id, approve=False))
    return builder.as_markup()


def hold_keyboard(hold_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("⛔ Confirm: never call again"),
                   callback_data=DncHoldCB(hold=hold_id, confirm=True))
    builder.button(text=_("↩️ Back to the queue"),
                   callback_data=DncHoldCB(hold=hold_id, confirm=False))
    builder.adjust(1)
    return builder.as_markup()


def main_menu(can_call: bool) -> ReplyKeyboardMarkup:
    first = [KeyboardButton(text=_("📞 Next call"))] if can_call else []
    keyboard = [[*first, KeyboardButton(text=_("👤 My calls"))],
                [KeyboardButton(text=_("🕸 Invite 3 people")),
                 KeyboardButton(text=_("🙋 Ask the organizers"))],
                [KeyboardButton(text=_("❓ Help"))]]
    return ReplyKeyboardMarkup(keyboard=keyboard, resize_keyboard=True, is_persistent=True)
