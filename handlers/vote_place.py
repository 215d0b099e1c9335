""""Where do you vote?": an optional step, offered in the welcome and in /invite, so that a
need nobody offered for can be asked of the supporters who vote near it (storage.proxies.
asks). The commune, then the polling station, asked and checked as the proxy questions
do; either can be skipped, and skipping blocks nothing. Private chats only: it is the
person's own place."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from handlers.proxy.common import commune_choices, commune_label, error_text, no_commune_text
from storage.communes import commune_by_insee, find_communes
from storage.database import Database
from storage.proxies import ProxyError, VotingPlace, set_voting_place
from storage.users import Person
from ui.filters import PrivateChat
from ui.notify import acknowledge, edit_in_place

DATA = "vote_place"  # the commune picked, under its own key of the FSM data


class VotePlaceStates(StatesGroup):
    commune = State()
    station = State()


class VotePlaceCB(CallbackData, prefix="vp"):
    action: str  # start | skip | no_station


class VoteCommuneCB(CallbackData, prefix="vpc"):
    insee: str


def _skip_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(text=_("Skip"), callback_data=VotePlaceCB(action="skip").pack())


def place_text(place: VotingPlace) -> str:
    label = escape(commune_label(place.commune_insee))
    if place.station is None:
        return label
    return _("polling station {station}, {commune}").format(station=escape(place.station),
                                                             commune=label)


def place_button(place: VotingPlace | None) -> InlineKeyboardButton:
    """/invite's button: where the person said they vote (to change it), or the question."""
    text = (_("🗳 Where do you vote?") if place is None
            else _("🗳 I vote at: {place} (change)").format(place=place_text(place)))
    return InlineKeyboardButton(text=text, callback_data=VotePlaceCB(action="start").pack())


async def ask_where_you_vote(message: Message, state: FSMContext) -> None:
    """The step's first question. Only in a private chat."""
    await state.set_state(VotePlaceStates.commune)
    await state.update_data({DATA: None})
    await message.answer(_(
        "🗳 <b>Where do you vote?</b> (optional)\nIf we know your commune and polling "
        "station, we can ask you when someone near you needs a person to carry their vote. "
        "Write your commune's name or postal code, or skip."),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[_skip_button()]]))


async def start_pressed(query: CallbackQuery, state: FSMContext) -> None:
    await acknowledge(query)
    if isinstance(query.message, Message):
        await ask_where_you_vote(query.message, state)


async def commune_written(message: Message) -> None:
    found = find_communes(message.text or "", limit=8)
    skip = (_("Skip"), VotePlaceCB(action="skip"))
    if not found:
        await message.answer(no_commune_text(message.text or ""), reply_markup=(
            InlineKeyboardMarkup(inline_keyboard=[[_skip_button()]])))
        return
    await message.answer(_("Which one?"), reply_markup=commune_choices(
        found, lambda insee: VoteCommuneCB(insee=insee), skip))


async def commune_picked(query: CallbackQuery, callback_data: VoteCommuneCB,
                         state: FSMContext) -> None:
    if await state.get_state() != VotePlaceStates.commune.state:
        await acknowledge(query, _("Already noted."))  # a second tap, or an old list
        return
    await acknowledge(query)
    if commune_by_insee(callback_data.insee) is None:
        return
    await state.update_data({DATA: callback_data.insee})
    await state.set_state(VotePlaceStates.station)
    await edit_in_place(query.message, _(
        "{commune}: what is your polling station number? It is on the voter card "
        "(« bureau de vote »).").format(commune=escape(commune_label(callback_data.insee))),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=_("I don't know it"),
            callback_data=VotePlaceCB(action="no_station").pack())], [_skip_button()]]))


async def _save(message: Message, state: FSMContext, db: Database, user: Person,
                station: str | None) -> None:
    insee = (await state.get_data()).get(DATA)
    if not insee:
        await state.set_state(None)
        return
    try:
        place = await set_voting_place(db, user.id, insee, station)
    except ProxyError as exc:
        await message.answer(error_text(exc.reason))
        return
    await state.set_state(None)
    await state.update_data({DATA: None})
    await message.answer(_("✅ Noted: you vote at {place}. Thank you! /invite to change "
                           "it.").format(place=place_text(place)))


async def station_written(message: Message, state: FSMContext, db: Database,
                          user: Person) -> None:
    await _save(message, state, db, user, message.text or "")


async def pressed(query: CallbackQuery, callback_data: VotePlaceCB, state: FSMContext,
                  db: Database, user: Person) -> None:
    if callback_data.action == "start":
        await start_pressed(query, state)
        return
    current = await state.get_state()
    if current not in (VotePlaceStates.commune.state, VotePlaceStates.station.state):
        await acknowledge(query, _("Already noted."))
        return
    await acknowledge(query)
    if callback_data.action == "no_station" and current == VotePlaceStates.station.state:
        if isinstance(query.message, Message):
            await _save(query.message, state, db, user, None)
        return
    await state.set_state(None)  # skipped: nothing stored, nothing blocked
    await state.update_data({DATA: None})
    await edit_in_place(query.message, _("All right. You can tell us later from /invite."))


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only. Placed after the
    other features: a menu button or a command pressed in the middle of the step is theirs."""
    router = Router(name="vote_place")
    private = PrivateChat()
    typed = (F.text, ~F.text.startswith("/"), private)
    router.message.register(commune_written, StateFilter(VotePlaceStates.commune), *typed)
    router.message.register(station_written, StateFilter(VotePlaceStates.station), *typed)
    router.callback_query.register(commune_picked, VoteCommuneCB.filter(), private)
    router.callback_query.register(pressed, VotePlaceCB.filter(), private)
    return router
