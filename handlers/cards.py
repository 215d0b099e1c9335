"""How a contact card reads on a volunteer's phone, and the buttons it carries.

Every callback payload stays under 64 bytes."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from functools import lru_cache
from html import escape

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from storage.calling import Card
from storage.models import Campaign, Outcome
from ui.keyboards import outcome_label


def fill_script(script: str, volunteer: str, contact: str) -> str:
    # replace, not str.format: a brace typed in a script must not break the card.
    return script.replace("{volunteer}", volunteer).replace("{contact}", contact)


# A list's fields may reach 1,000 characters (a column mapped by mistake): a card shows
# the beginning of each, so that with the longest script and talking point a campaign may
# load (storage/campaigns.py) it stays within Telegram's 4,096.
NAME_SHOWN = 64
PLACE_SHOWN = 80
SOURCE_SHOWN = 100


def clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length - 1].rstrip() + "…"


def contact_name(first_name: str | None) -> str:
    """The contact's first name as a card or its outcome shows it, escaped."""
    return escape(clip(first_name, NAME_SHOWN)) if first_name else _("(no first name)")


def card_text(card: Card, campaign: Campaign, volunteer_name: str,
              talking_point: int | None = None) -> str:
    lines = [f"👤 <b>{contact_name(card.first_name)}</b>", f"📞 {card.phone}"]
    place = " · ".join(escape(clip(p, PLACE_SHOWN)) for p in (card.constituency, card.commune)
                       if p)
    if place:
        lines.append(f"📍 {place}")
    if card.source:
        lines.append("ℹ️ " + _("Source of this number: {source}").format(
            source=escape(clip(card.source, SOURCE_SHOWN))))
    if card.attempts:
        lines.append("🔁 " + _("Attempt {number}").format(number=card.attempts + 1))
    script = fill_script(campaign.script, clip(volunteer_name, NAME_SHOWN),
                         clip(card.first_name or "", NAME_SHOWN))
    lines += ["", f"<i>{escape(script)}</i>"]
    points = campaign.talking_points
    if talking_point is not None and 0 <= talking_point < len(points):
        point = points[talking_point]
        lines += ["", f"💬 <b>{escape(point['title'])}</b>", escape(point["text"])]
    return "\n".join(lines)


def recorded_text(first_name: str | None, label: str) -> str:
    """The card once recorded: the number is gone from the chat."""
    return _("{name}: {outcome}. Recorded, thank you!").format(name=contact_name(first_name),
                                                               outcome=label)


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


class SendLinkCB(CallbackData, prefix="lnk"):
    """"📨 Send Fabrice the link", on the card and once it is recorded (handlers.callees)."""

    contact_id: int
    seq: int


def send_link_button(contact_id: int, seq: int, first_name: str | None) -> InlineKeyboardButton:
    label = (_("📨 Send {name} the link").format(name=clip(first_name, 24)) if first_name
             else _("📨 Send the link"))
    return InlineKeyboardButton(text=label, callback_data=SendLinkCB(contact_id=contact_id,
                                                                     seq=seq).pack())


class CallFlowCB(CallbackData, prefix="call"):
    action: str  # "next" | "ready" | "ask" | "practice"


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


def card_keyboard(contact_id: int, seq: int, talking_points: list[str],
                  first_name: str | None = None) -> InlineKeyboardMarkup:
    outcome = _last_field_packer(OutcomeCB(contact_id=contact_id, seq=seq,
                                           outcome=Outcome.SKIPPED))
    point = _last_field_packer(TalkingPointCB(contact_id=contact_id, seq=seq, index=0))
    template = _card_template(get_i18n().current_locale, tuple(talking_points))
    rows = [[button.model_copy(update={"callback_data": (point if is_point else outcome)(last)})
             for is_point, last, button in row] for row in template]
    # Above the skip: the link goes before or after the outcome.
    rows.insert(len(rows) - 1, [send_link_button(contact_id, seq, first_name)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


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


def ready_keyboard(practice_first: bool = False) -> InlineKeyboardMarkup:
    """Under the training card: a practice call, and the first real one unless the
    campaign asks for practice first."""
    practice = [InlineKeyboardButton(text=_("🎓 A practice call"),
                                     callback_data=CallFlowCB(action="practice").pack())]
    if practice_first:
        return InlineKeyboardMarkup(inline_keyboard=[practice])
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("I'm ready: give me a contact"), callback_data=CallFlowCB(action="ready").pack())],
        practice])


def ask_to_call_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("🙋 I want to make calls"), callback_data=CallFlowCB(action="ask").pack())]])
