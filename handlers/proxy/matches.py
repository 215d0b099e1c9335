"""A match, from both sides: the answers to a proposal, the holder's voter details, the
giver's "registered", a withdrawal. Each storage operation queues the messages its change
implies; what a handler shows after the commit is best effort (`show`): a refused edit
loses nothing."""

from __future__ import annotations

import logging
from html import escape

from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from handlers.proxy.common import DATA, ProxyDialog, error_text
from handlers.proxy.dialog import ProxyCB
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.models import ProxyMatchStatus
from storage.proxies import (
    ProxyError,
    answer,
    cancel_request,
    give_holder_details,
    keep_voter_number,
    mark_registered,
    match_view,
    my_proxy,
)
from storage.users import Person
from ui.notify import acknowledge, not_modified

log = logging.getLogger(__name__)


class AnswerCB(CallbackData, prefix="pxa"):
    match: int
    side: str  # need | offer
    yes: bool


class MatchActionCB(CallbackData, prefix="pxm"):
    match: int
    action: str  # details | registered | cancel


class OrganizerAnswerCB(AnswerCB, prefix="pxoa"):
    """An organizer's, on a follow-up: the answer of a side who is not on Telegram."""


class OrganizerMatchCB(MatchActionCB, prefix="pxom"):
    """An organizer's, on a follow-up: a step for a side who is not on Telegram."""


async def show(query: CallbackQuery, edited: str, fallback: str) -> None:
    """The pressed message shows the outcome; if it cannot be edited (too old, a 429, a
    timeout), a new message says it; if that fails too, the change and its messages stand."""
    if isinstance(query.message, Message):
        try:
            await query.message.edit_text(edited)
            return
        except TelegramAPIError as exc:
            if not_modified(exc):  # a second tap: the message says it already
                return
            log.info("could not edit proxy message %s: %s", query.message.message_id, exc)
    if query.bot is None:
        return
    try:
        await query.bot.send_message(query.from_user.id, fallback)
    except TelegramAPIError as exc:
        log.info("could not tell %s either: %s", query.from_user.id, exc)


async def answered(query: CallbackQuery, callback_data: AnswerCB, db: Database,
                   user: Person) -> None:
    view = await match_view(db, callback_data.match)
    side = view.need if view and callback_data.side == "need" else view.offer if view else None
    # Only that side, or an organizer (their button) for a side who is not on Telegram.
    for_off_telegram = isinstance(callback_data, OrganizerAnswerCB)
    if view is None or side is None or not (
            side.user_id == user.id or (side.user_id is None and for_off_telegram)):
        await acknowledge(query, _("This is not yours to answer."), show_alert=True)
        return
    result = await answer(db, callback_data.match, callback_data.side, callback_data.yes)
    if not result.changed:
        await acknowledge(query, error_text("state"))
        return
    await acknowledge(query)
    said = _("✅ Accepted.") if callback_data.yes else _("❌ Declined.")
    shown = query.message.html_text if isinstance(query.message, Message) else ""
    await show(query, shown + "\n\n" + said, said)


async def match_action(query: CallbackQuery, callback_data: MatchActionCB, db: Database,
                       user: Person, state: FSMContext) -> None:
    view = await match_view(db, callback_data.match)
    for_off_telegram = isinstance(callback_data, OrganizerMatchCB)  # an organizer's button
    if view is None:
        await acknowledge(query, error_text("state"))
        return
    mine = {view.need.user_id: "need", view.offer.user_id: "offer"}.get(user.id)
    if callback_data.action == "details" and (
            mine == "offer" or (view.offer.user_id is None and for_off_telegram)):
        if view.status is not ProxyMatchStatus.ACCEPTED:
            await acknowledge(query, error_text("state"))
            return
        await acknowledge(query)
        # Only the match's id: the number itself is kept on the match, never in FSM data.
        await state.update_data({DATA: {"match": view.id}})
        await state.set_state(ProxyDialog.voter_number)
        if isinstance(query.message, Message):
            await query.message.answer(_(
                "Your national voter number (8 or 9 digits, on the voter card, « numéro "
                "national d'électeur »). It goes to {name} only, to make the proxy "
                "official, and is erased after the election.").format(
                name=escape(view.need.first_name)))
        return
    if callback_data.action == "registered" and (
            mine == "need" or (view.need.user_id is None and for_off_telegram)):
        result = await mark_registered(db, view.id)
        await acknowledge(query, _("Thank you! Your vote will count.") if result.changed
                          else error_text("state"))
        return
    if callback_data.action == "cancel" and mine is not None:
        request_id = view.need.request_id if mine == "need" else view.offer.request_id
        await _withdraw(query, db, request_id)
        return
    await acknowledge(query, _("This is not yours to answer."), show_alert=True)


async def withdraw_mine(query: CallbackQuery, callback_data: ProxyCB, db: Database,
                        user: Person) -> None:
    mine = await my_proxy(db, user.id)
    if mine is None or str(mine.request_id) != callback_data.value:
        await acknowledge(query, error_text("state"))
        return
    await _withdraw(query, db, mine.request_id)


async def _withdraw(query: CallbackQuery, db: Database, request_id: int) -> None:
    # The other side's word and their next proposals are queued with the withdrawal.
    await cancel_request(db, request_id)
    await acknowledge(query, _("Withdrawn."))
    text = _("Your proxy request is withdrawn.")
    await show(query, text, text)


async def voter_number_written(message: Message, state: FSMContext, db: Database) -> None:
    data = (await state.get_data()).get(DATA, {})
    if "match" not in data:
        await state.set_state(None)
        return
    try:
        kept = await keep_voter_number(db, int(data["match"]), message.text or "")
    except ProxyError as exc:
        await message.answer(error_text(exc.reason))
        return
    if not kept.changed:
        await state.set_state(None)
        await state.update_data({DATA: {}})
        await message.answer(error_text("state"))
        return
    await state.set_state(ProxyDialog.birth_date)
    await message.answer(_("And the date of birth (DD/MM/YYYY)?"))


async def birth_date_written(message: Message, state: FSMContext, db: Database,
                             campaigns: CampaignCache) -> None:
    campaign = await campaigns.get()
    data = (await state.get_data()).get(DATA, {})
    if campaign is None or "match" not in data:
        await state.set_state(None)
        return
    try:
        result = await give_holder_details(db, campaign, int(data["match"]), None,
                                           message.text or "")
    except ProxyError as exc:
        await message.answer(error_text(exc.reason))
        if exc.reason == "voter_number":
            await state.set_state(ProxyDialog.voter_number)
        return
    await state.set_state(None)
    await state.update_data({DATA: {}})
    if not result.changed:
        await message.answer(error_text("state"))
        return
    # The giver's instructions and the holder's thanks were queued with the details.
    await message.answer(_("✅ Thank you: the details went to the person giving the proxy. "
                           "They are erased after the election."))

