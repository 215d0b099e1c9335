"""The ask to a supporter near a need nobody offered for (storage.proxies.asks): the message
the deliverer sends, and its answer. "Yes, I can" opens the offer questions with the need's
commune and station filled in (where the holder votes for the giver), and their own place
if they told it; "No" thanks them. A button of an ask whose need moved on opens nothing."""

from __future__ import annotations

from html import escape

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from handlers.proxy.common import DATA, error_text
from handlers.proxy.dialog import ProxyCB, ask_rounds
from storage.campaign_cache import CampaignCache
from storage.communes import commune_by_insee
from storage.database import Database
from storage.outbox import Delivery
from storage.proxies import AskedNeed, asked_need, my_proxy, voting_place
from storage.users import Person
from ui.notify import acknowledge, edit_in_place
from ui.renderers import Rendered


class AskCB(CallbackData, prefix="pxk"):
    need: int
    yes: bool


def _commune(insee: str) -> str:
    commune = commune_by_insee(insee)
    return commune.name if commune else insee


def _when(need: AskedNeed) -> str:
    return escape(", ".join(f"{name} ({day[8:10]}/{day[5:7]})"
                            for name, day in need.round_names()))


async def render_ask(db: Database, delivery: Delivery, user: Person) -> Rendered:
    """Read when it goes: an ask whose need was matched, withdrawn or is past its rounds
    meanwhile is not sent."""
    need = await asked_need(db, int(delivery.params["need"]), user.id)
    if need is None or not need.waiting or not need.round_names():
        return None
    text = _("🗳 {name} votes at polling station {station} in {commune} and cannot go on "
             "{rounds}: could you carry their vote?").format(
        name=escape(need.first_name), station=escape(need.station),
        commune=escape(_commune(need.commune_insee)), rounds=_when(need))
    text += "\n" + _("Nobody has offered yet, and you told us you vote nearby. If you can, "
                     "a few questions and we propose it to you both.")
    text += "\n\n" + _("/stop: no more messages")
    markup = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=_("✅ Yes, I can"),
                             callback_data=AskCB(need=need.id, yes=True).pack()),
        InlineKeyboardButton(text=_("No"), callback_data=AskCB(need=need.id, yes=False).pack()),
    ]])
    return text, {"reply_markup": markup}


def _with(message: Message | None, line: str) -> str:
    """The ask's text with the answer under it (the buttons go)."""
    return (message.html_text + "\n\n" if message is not None and message.html_text
            else "") + line


async def ask_answered(query: CallbackQuery, callback_data: AskCB, state: FSMContext,
                       db: Database, campaigns: CampaignCache, user: Person) -> None:
    await acknowledge(query)
    message = query.message if isinstance(query.message, Message) else None
    if not callback_data.yes:  # nothing to record: the next people asked may say yes
        await edit_in_place(query.message, _with(message, _(
            "Thank you for answering. We will find someone else.")))
        return
    need = await asked_need(db, callback_data.need, user.id)
    if need is None or not need.waiting:
        # Matched, withdrawn or erased since: nothing opens, but a general offer still may.
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=_("🤝 I can carry someone's vote"),
            callback_data=ProxyCB(action="offer").pack())]])
        text = _("Thank you! This person does not need anyone any more. Someone else may: "
                 "you can still offer to carry a vote.")
        if not await edit_in_place(query.message, _with(message, text), reply_markup=markup) \
                and message is not None:
            await message.answer(text, reply_markup=markup)
        return
    if message is None:
        return
    if await my_proxy(db, user.id) is not None:
        await message.answer(error_text("exists"))
        return
    data = {"kind": "offer", "commune": need.commune_insee, "station": need.station}
    own = await voting_place(db, user.id)
    if own is not None and own.station is not None:
        data |= {"own_commune": own.commune_insee, "own_station": own.station}
    # The answers so far are in the dialogue's data before any edit: a refused edit loses
    # nothing, and a second press starts the same questions again.
    await state.set_state(None)
    await state.update_data({DATA: data})
    await edit_in_place(query.message, _with(message, _(
        "✅ Thank you! You would vote for {name} at polling station {station} in "
        "{commune}.").format(name=escape(need.first_name), station=escape(need.station),
                             commune=escape(_commune(need.commune_insee)))))
    await ask_rounds(message, state, db, campaigns, user)
