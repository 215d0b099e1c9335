"""/proxy: people who cannot vote meet people who can carry their vote.

The questions (commune, polling station, rounds; for a holder also where they vote) are
the same for a supporter on Telegram and for a volunteer filling them in for the person on
the phone. Proposals, answers and reminders reach people through the outbox (see
`make_renderers`), so a burst of matches is paced and survives a restart.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.doors import organizer_router, personal_data_router
from storage.campaign_cache import CampaignCache
from storage.communes import commune_by_insee, find_communes
from storage.database import Database
from storage.models import ProxyKind
from storage.outbox import Delivery, NoticeKind
from storage.proxies import (
    MatchView,
    Place,
    ProxyError,
    Requester,
    answer,
    called_person,
    cancel_request,
    check_station,
    create_request,
    give_holder_details,
    keep_voter_number,
    mark_registered,
    match_need,
    match_offer,
    match_view,
    my_proxy,
    overview,
    waiting_on_organizers,
)
from storage.users import Person, get_user
from ui.filters import PrivateChat, active_campaign
from ui.notify import acknowledge, edit_in_place, not_modified
from ui.renderers import Renderers

log = logging.getLogger(__name__)

MAPROCURATION = "https://www.maprocuration.gouv.fr"
DATA = "proxy"  # the dialogue's answers, under one key of the FSM data (a card's stay)


class ProxyCB(CallbackData, prefix="px"):
    action: str  # need | offer | same | cancel_dialog | mine_cancel
    value: str = ""


class CommuneCB(CallbackData, prefix="pxc"):
    insee: str


class RoundCB(CallbackData, prefix="pxr"):
    choice: str  # a round's index, or "all"


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


class ProxyDialog(StatesGroup):
    commune = State()
    station = State()
    own_commune = State()
    own_station = State()
    voter_number = State()
    birth_date = State()


def _error(reason: str) -> str:
    return {
        "round": _("That round is not one of this campaign's."),
        "station": _("A polling station number is a few digits or letters, such as 12 or "
                     "4B: it is on the voter card."),
        "station_unknown": _("This commune has no polling station with that number in the "
                             "official list. Check the voter card and try again."),
        "exists": _("There is already a proxy request in progress: /proxy shows it."),
        "voter_number": _("The national voter number has 8 or 9 digits: it is on the voter "
                          "card, under « numéro national d'électeur »."),
        "birth_date": _("Please write the date of birth as DD/MM/YYYY, such as 14/07/1985."),
        "minor": _("A proxy holder must be of age (18) on the day of the vote."),
        "state": _("This proxy has moved on meanwhile: nothing was changed."),
    }[reason]


def _commune_label(insee: str) -> str:
    commune = commune_by_insee(insee)
    return f"{commune.name} ({commune.department})" if commune else insee


# ---- starting: a supporter, or a volunteer for the person on the phone -------------------

async def proxy_command(message: Message,
                        db: Database, user: Person, state: FSMContext) -> None:
    mine = await my_proxy(db, user.id)
    if mine is not None:
        kind = _("you need someone to vote for you") if mine.kind == "need" else _(
            "you offered to carry a vote")
        status = _("we are looking for a match") if mine.match_id is None else {
            "proposed": _("a match is proposed: see the message with Accept / Decline"),
            "accepted": _("both sides accepted; waiting for the holder's voter details"),
            "confirmed": _("confirmed: the proxy can be made official"),
            "registered": _("registered. Thank you!"),
        }.get(mine.match_status or "", "")
        builder = InlineKeyboardBuilder()
        builder.button(text=_("Withdraw my request"),
                       callback_data=ProxyCB(action="mine_cancel", value=str(mine.request_id)))
        text = _("🗳 Vote proxy: {kind}; {status}.").format(kind=kind, status=status)
        if mine.kind == "offer":  # the rule, for a holder who would take a second one
            text += "\n" + _("A holder may carry one proxy established in France per round: "
                             "this one is yours.")
        await message.answer(text, reply_markup=builder.as_markup())
        return
    await state.update_data({DATA: {}})
    builder = InlineKeyboardBuilder()
    builder.button(text=_("🙋 I can't vote, I need someone"), callback_data=ProxyCB(action="need"))
    builder.button(text=_("🤝 I can carry someone's vote"), callback_data=ProxyCB(action="offer"))
    builder.adjust(1)
    await message.answer(_(
        "🗳 <b>Vote proxies</b>\nSomeone who cannot go to vote can give a proxy to a person "
        "who votes in their place, at their polling station. We put you in touch."),
        reply_markup=builder.as_markup())


async def start_for_contact(message: Message, state: FSMContext, db: Database, user: Person,
                            contact_id: int, kind: ProxyKind) -> None:
    """After "needs a vote proxy" / "can carry a vote proxy" on a card: the same questions,
    asked of the volunteer for the person on the phone."""
    person = await called_person(db, contact_id, user.id)
    if person is None:
        return
    await state.update_data({DATA: {"kind": kind.value, "contact_id": contact_id}})
    await state.set_state(ProxyDialog.commune)
    await message.answer(_(
        "🗳 Let's record {name}'s proxy request while you are on the phone (or later). "
        "In which commune is their polling station? Write its name or postal code.").format(
        name=escape(person.first_name)),
        reply_markup=_commune_hint(person.postal_code or person.commune))


def _commune_hint(known: str | None) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for commune in find_communes(known, limit=3) if known else []:
        builder.button(text=f"{commune.name} ({commune.department})",
                       callback_data=CommuneCB(insee=commune.insee))
    builder.button(text=_("Cancel"), callback_data=ProxyCB(action="cancel_dialog"))
    builder.adjust(1)
    return builder.as_markup()


async def kind_chosen(query: CallbackQuery, callback_data: ProxyCB, state: FSMContext) -> None:
    await acknowledge(query)
    await state.update_data({DATA: {"kind": callback_data.action}})
    await state.set_state(ProxyDialog.commune)
    if isinstance(query.message, Message):
        await query.message.answer(
            _("In which commune is your polling station? Write its name or postal code.")
            if callback_data.action == "need" else
            _("In which commune can you go and vote for someone? Write its name or postal "
              "code."), reply_markup=_commune_hint(None))


async def commune_written(message: Message, state: FSMContext) -> None:
    found = find_communes(message.text or "", limit=8)
    if not found:
        await message.answer(_("No commune found for «{text}». Try its postal code, such as "
                               "93200.").format(text=escape((message.text or "")[:50])))
        return
    builder = InlineKeyboardBuilder()
    for commune in found:
        builder.button(text=f"{commune.name} ({commune.department}, "
                            f"{commune.postal_codes[0] if commune.postal_codes else ''})",
                       callback_data=CommuneCB(insee=commune.insee))
    builder.button(text=_("Cancel"), callback_data=ProxyCB(action="cancel_dialog"))
    builder.adjust(1)
    await message.answer(_("Which one?"), reply_markup=builder.as_markup())


async def commune_picked(query: CallbackQuery, callback_data: CommuneCB,
                         state: FSMContext) -> None:
    current = await state.get_state()
    if current not in (ProxyDialog.commune.state, ProxyDialog.own_commune.state):
        # A second tap on the same list (or an old one): the commune was taken already,
        # and must not become the answer of the step the dialogue is at now.
        await acknowledge(query, _("Already noted."))
        return
    await acknowledge(query)
    if commune_by_insee(callback_data.insee) is None:
        return
    data = (await state.get_data()).get(DATA, {})
    own = current == ProxyDialog.own_commune.state
    data["own_commune" if own else "commune"] = callback_data.insee
    await state.update_data({DATA: data})
    await state.set_state(ProxyDialog.own_station if own else ProxyDialog.station)
    await edit_in_place(query.message, _(
        "{commune}: what is the polling station number? It is on the voter card "
        "(« bureau de vote »).").format(commune=escape(_commune_label(callback_data.insee))))


async def station_written(message: Message, state: FSMContext, db: Database,
                          campaigns: CampaignCache, user: Person) -> None:
    own = await state.get_state() == ProxyDialog.own_station.state
    data = (await state.get_data()).get(DATA, {})
    insee = data.get("own_commune" if own else "commune")
    if not insee:
        await state.set_state(None)
        return
    try:
        station = await check_station(db, insee, message.text or "")
    except ProxyError as exc:
        await message.answer(_error(exc.reason))
        return
    data["own_station" if own else "station"] = station
    await state.update_data({DATA: data})
    if own:
        await _finish(message, state, db, campaigns, user)
        return
    campaign = await campaigns.get()
    if campaign is None:
        await state.set_state(None)
        return
    if len(campaign.rounds or []) > 1:
        builder = InlineKeyboardBuilder()
        for index, election_round in enumerate(campaign.rounds):
            builder.button(text=election_round["name"], callback_data=RoundCB(choice=str(index)))
        builder.button(text=_("Both rounds"), callback_data=RoundCB(choice="all"))
        builder.adjust(1)
        await message.answer(_("For which round?"), reply_markup=builder.as_markup())
        return
    data["rounds"] = [r["date"] for r in campaign.rounds or []]
    await state.update_data({DATA: data})
    await _ask_own_place_or_finish(message, state, db, campaigns, user)


async def round_chosen(query: CallbackQuery, callback_data: RoundCB, state: FSMContext,
                       db: Database, campaigns: CampaignCache, user: Person) -> None:
    await acknowledge(query)
    campaign = await campaigns.get()
    data = (await state.get_data()).get(DATA, {})
    if campaign is None or "station" not in data or not isinstance(query.message, Message):
        return
    dates = [r["date"] for r in campaign.rounds or []]
    if callback_data.choice == "all":
        data["rounds"] = dates
    elif callback_data.choice.isdigit() and int(callback_data.choice) < len(dates):
        data["rounds"] = [dates[int(callback_data.choice)]]
    else:
        return
    await state.update_data({DATA: data})
    await _ask_own_place_or_finish(query.message, state, db, campaigns, user)


async def _ask_own_place_or_finish(message: Message, state: FSMContext, db: Database,
                                   campaigns: CampaignCache, user: Person) -> None:
    data = (await state.get_data()).get(DATA, {})
    if data.get("kind") != "offer":
        await _finish(message, state, db, campaigns, user)
        return
    await state.set_state(ProxyDialog.own_commune)
    builder = InlineKeyboardBuilder()
    builder.button(text=_("At that same polling station"), callback_data=ProxyCB(action="same"))
    builder.button(text=_("Cancel"), callback_data=ProxyCB(action="cancel_dialog"))
    builder.adjust(1)
    await message.answer(_("And where do you vote yourself? Write the commune, or:"),
                         reply_markup=builder.as_markup())


async def same_place(query: CallbackQuery, state: FSMContext, db: Database,
                     campaigns: CampaignCache, user: Person) -> None:
    await acknowledge(query)
    data = (await state.get_data()).get(DATA, {})
    if "station" not in data or not isinstance(query.message, Message):
        return
    data["own_commune"], data["own_station"] = data["commune"], data["station"]
    await state.update_data({DATA: data})
    await _finish(query.message, state, db, campaigns, user)


async def cancel_dialog(query: CallbackQuery, state: FSMContext) -> None:
    await acknowledge(query)
    await state.set_state(None)  # set_state, not clear: a card on screen keeps its data
    await state.update_data({DATA: {}})
    await edit_in_place(query.message, _("All right, nothing was recorded."))


def _place(insee: str, station: str, constituency: str | None = None) -> Place:
    commune = commune_by_insee(insee)
    return Place(insee, commune.department if commune else insee[:2], station, constituency)


async def _finish(message: Message, state: FSMContext, db: Database, campaigns: CampaignCache,
                  user: Person) -> None:
    campaign = await campaigns.get()
    data = (await state.get_data()).get(DATA, {})
    await state.set_state(None)
    await state.update_data({DATA: {}})
    if campaign is None or not {"kind", "commune", "station", "rounds"} <= data.keys():
        await message.answer(_("Something was missing: please start again with /proxy."))
        return
    kind = ProxyKind(data["kind"])
    called = None
    if data.get("contact_id"):
        called = await called_person(db, int(data["contact_id"]), user.id)
        if called is None:
            return
        person = Requester(called.first_name, contact_id=called.contact_id, phone=called.phone)
    else:
        person = Requester(user.first_name, user_id=user.id)
    own = (_place(data["own_commune"], data["own_station"])
           if data.get("own_commune") and data.get("own_station") else None)
    try:
        request_id = await create_request(
            db, campaign, kind, person,
            _place(data["commune"], data["station"], called.constituency if called else None),
            data["rounds"], own_place=own, recorded_by=user.id if called else None)
    except ProxyError as exc:
        await message.answer(_error(exc.reason))
        return
    who = escape(person.first_name)
    await message.answer(
        (_("✅ Recorded: {name} needs someone to vote for them.") if kind is ProxyKind.NEED
         else _("✅ Recorded: {name} can carry someone's vote.")).format(name=who)
        if called else
        (_("✅ Recorded. We are looking for someone who can vote for you; you will get a "
           "message here.") if kind is ProxyKind.NEED else
         _("✅ Recorded. Thank you! We are looking for someone whose vote you can carry; "
           "you will get a message here.")))
    # The match and its proposals are queued in one transaction; a crash before it leaves
    # an open request, which the periodic pass matches.
    if kind is ProxyKind.NEED:
        await match_need(db, campaign, request_id)
    else:
        await match_offer(db, campaign, request_id)


# ---- proposals, answers, details ------------------------------------------------------------
# Each storage operation queues the messages its change implies; what a handler shows after
# the commit is best effort (`_show`): a refused edit loses nothing.

async def _show(query: CallbackQuery, edited: str, fallback: str) -> None:
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
        await acknowledge(query, _error("state"))
        return
    await acknowledge(query)
    said = _("✅ Accepted.") if callback_data.yes else _("❌ Declined.")
    shown = query.message.html_text if isinstance(query.message, Message) else ""
    await _show(query, shown + "\n\n" + said, said)


async def match_action(query: CallbackQuery, callback_data: MatchActionCB, db: Database,
                       user: Person, state: FSMContext) -> None:
    view = await match_view(db, callback_data.match)
    for_off_telegram = isinstance(callback_data, OrganizerMatchCB)  # an organizer's button
    if view is None:
        await acknowledge(query, _error("state"))
        return
    mine = {view.need.user_id: "need", view.offer.user_id: "offer"}.get(user.id)
    if callback_data.action == "details" and (
            mine == "offer" or (view.offer.user_id is None and for_off_telegram)):
        if view.status != "accepted":
            await acknowledge(query, _error("state"))
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
                          else _error("state"))
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
        await acknowledge(query, _error("state"))
        return
    await _withdraw(query, db, mine.request_id)


async def _withdraw(query: CallbackQuery, db: Database, request_id: int) -> None:
    # The other side's word and their next proposals are queued with the withdrawal.
    await cancel_request(db, request_id)
    await acknowledge(query, _("Withdrawn."))
    text = _("Your proxy request is withdrawn.")
    await _show(query, text, text)


async def voter_number_written(message: Message, state: FSMContext, db: Database) -> None:
    data = (await state.get_data()).get(DATA, {})
    if "match" not in data:
        await state.set_state(None)
        return
    try:
        kept = await keep_voter_number(db, int(data["match"]), message.text or "")
    except ProxyError as exc:
        await message.answer(_error(exc.reason))
        return
    if not kept.changed:
        await state.set_state(None)
        await state.update_data({DATA: {}})
        await message.answer(_error("state"))
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
        await message.answer(_error(exc.reason))
        if exc.reason == "voter_number":
            await state.set_state(ProxyDialog.voter_number)
        return
    await state.set_state(None)
    await state.update_data({DATA: {}})
    if not result.changed:
        await message.answer(_error("state"))
        return
    # The giver's instructions and the holder's thanks were queued with the details.
    await message.answer(_("✅ Thank you: the details went to the person giving the proxy. "
                           "They are erased after the election."))


# ---- organizers ----------------------------------------------------------------------------

async def proxies_command(message: Message, db: Database, campaigns: CampaignCache) -> None:
    campaign = await active_campaign(message, campaigns)
    if campaign is None:
        return
    view = await overview(db, campaign)
    c = view.counts
    lines = [_("🗳 <b>Vote proxies</b>"),
             _("Open needs: {needs} · open offers: {offers}").format(
                 needs=c["open_needs"], offers=c["open_offers"]),
             _("Proposed: {p} · accepted: {a} · registered: {r}").format(
                 p=c["proposed"], a=c["accepted"], r=c["registered"])]
    if view.by_place:
        lines.append(_("<b>By commune</b> (needs without a holder first):"))
        for insee, constituency, needs, offers, matched in view.by_place:
            where = escape(_commune_label(insee)) + (
                f" · {escape(constituency)}" if constituency else "")
            lines.append(_("{where}: {needs} waiting, {offers} offers, {matched} matched").format(
                where=where, needs=needs, offers=offers, matched=matched))
    await message.answer("\n".join(lines))
    for match in await waiting_on_organizers(db):
        text, kwargs = followup_message(match)
        await message.answer(text, **kwargs)


def followup_message(view: MatchView) -> tuple[str, dict[str, Any]]:
    """A match an organizer must move forward by phone, with the buttons to record it."""
    def who(side: Any) -> str:
        return escape(side.first_name) + (f" ({side.phone})" if side.user_id is None else "")

    place = escape(_commune_label(view.need.commune_insee)) + " · " + _(
        "station {n}").format(n=escape(view.need.station))
    text = _("🗳 Proxy to follow up: {need} needs someone, {offer} can carry a vote. "
             "{place}.").format(need=who(view.need), offer=who(view.offer), place=place)
    builder = InlineKeyboardBuilder()
    if view.status == "proposed":
        for side_name, side, answer_given in (("need", view.need, view.need_answer),
                                              ("offer", view.offer, view.offer_answer)):
            if side.user_id is None and answer_given is None:
                builder.button(text=_("{name} accepts").format(name=side.first_name),
                               callback_data=OrganizerAnswerCB(match=view.id, side=side_name,
                                                               yes=True))
                builder.button(text=_("{name} declines").format(name=side.first_name),
                               callback_data=OrganizerAnswerCB(match=view.id, side=side_name,
                                                               yes=False))
    elif view.status == "accepted":
        text += "\n" + _("Both accepted: ask {offer} for their voter number and date of "
                         "birth.").format(offer=who(view.offer))
        builder.button(text=_("Record {name}'s voter details").format(name=view.offer.first_name),
                       callback_data=OrganizerMatchCB(match=view.id, action="details"))
    elif view.status == "confirmed" and view.voter_number:
        text += "\n" + _("Call {need} to pass on {offer}'s voter number {number} and date of "
                         "birth {born}, and help with {site}.").format(
            need=who(view.need), offer=escape(view.offer.first_name),
            number=view.voter_number, born=f"{view.birth_date:%d/%m/%Y}", site=MAPROCURATION)
        builder.button(text=_("{name}'s proxy is registered").format(name=view.need.first_name),
                       callback_data=OrganizerMatchCB(match=view.id, action="registered"))
    builder.adjust(2)
    return text, {"reply_markup": builder.as_markup()}


# ---- what the deliverer sends ---------------------------------------------------------------

def make_renderers(bot: Bot, db: Database, campaigns: CampaignCache) -> Renderers:
    del bot  # the messages need no bot call of their own

    async def view_of(delivery: Delivery) -> MatchView | None:
        return await match_view(db, int(delivery.params["match"]))

    def rounds_text(view: MatchView) -> str:
        return escape(", ".join(view.round_names))  # the rounds of the match's own campaign

    async def reach(side: Any) -> str:
        if side.user_id is None:
            return escape(side.phone or "")
        person = await get_user(db, side.user_id)
        if person is not None and person.username:
            return "@" + escape(person.username)
        return _("through the organizers (no Telegram username)")

    async def proposal(delivery: Delivery,
                       _user: Person) -> tuple[str, dict[str, Any]] | None:
        found = await view_of(delivery)
        if found is None or found.status != "proposed":
            return None
        view = found
        side = delivery.params["side"]
        place = escape(_commune_label(view.need.commune_insee))
        if side == "need":
            text = _("🗳 Good news: {name} can vote for you ({rounds}) at your polling station "
                     "{station}, {place}. Do you accept? If you do, your first names and a way "
                     "to reach each other are shared.").format(
                name=escape(view.offer.first_name), rounds=rounds_text(view),
                station=escape(view.need.station), place=place)
        else:
            text = _("🗳 {name} needs someone to vote for them ({rounds}) at polling station "
                     "{station}, {place}. Will you carry their vote? If you do, your first "
                     "names and a way to reach each other are shared.").format(
                name=escape(view.need.first_name), rounds=rounds_text(view),
                station=escape(view.need.station), place=place)
        text += "\n" + _("Please answer within 24 hours.")
        markup = InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text=_("✅ Accept"), callback_data=AnswerCB(
                match=view.id, side=side, yes=True).pack()),
            InlineKeyboardButton(text=_("❌ Decline"), callback_data=AnswerCB(
                match=view.id, side=side, yes=False).pack())]])
        return text, {"reply_markup": markup}

    async def declined(delivery: Delivery,
                       _user: Person) -> tuple[str, dict[str, Any]] | None:
        return _("🗳 That proxy match did not go ahead. If you are waiting for one, we keep "
                 "looking."), {}

    async def cancelled(delivery: Delivery,
                        _user: Person) -> tuple[str, dict[str, Any]] | None:
        return _("🗳 The other person withdrew from your proxy. We are looking for someone "
                 "else and will write to you."), {}

    async def accepted(delivery: Delivery, _user: Person) -> tuple[str, dict[str, Any]] | None:
        found = await view_of(delivery)
        if found is None or found.status != "accepted":
            return None
        return _("🗳 {name} accepted too. As soon as they give their voter details, you will "
                 "get here the last steps to make the proxy official.").format(
            name=escape(found.offer.first_name)), {}

    async def withdrawn(delivery: Delivery, _user: Person) -> tuple[str, dict[str, Any]] | None:
        """To organizers, for a side off Telegram whose match the other side left."""
        found = await view_of(delivery)
        if found is None:
            return None
        view = found
        left = view.need if view.need.user_id is not None else view.offer
        stays = view.offer if left is view.need else view.need
        return _("🗳 {left} withdrew from the proxy with {name} ({phone}). Please let {name} "
                 "know: we are looking for someone else.").format(
            left=escape(left.first_name), name=escape(stays.first_name),
            phone=escape(stays.phone or "")), {}

    async def details_request(delivery: Delivery,
                              _user: Person) -> tuple[str, dict[str, Any]] | None:
        found = await view_of(delivery)
        if found is None or found.status != "accepted":
            return None
        view = found
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=_("Give my voter details"),
            callback_data=MatchActionCB(match=view.id, action="details").pack())]])
        return _("🗳 {name} accepted too. To make the proxy official, {name} needs your "
                 "national voter number and your date of birth.").format(
            name=escape(view.need.first_name)), {"reply_markup": markup}

    async def confirmed(delivery: Delivery,
                        _user: Person) -> tuple[str, dict[str, Any]] | None:
        found = await view_of(delivery)
        if found is None or found.status != "confirmed" or not found.voter_number:
            return None
        view = found
        text = _(
            "🗳 <b>Your proxy: the last step</b>\n"
            "{name} will vote for you (reach them: {reach}).\n"
            "1. Go to {site} and sign in with FranceConnect.\n"
            "2. Give {name}'s national voter number <b>{number}</b> and date of birth "
            "<b>{born}</b>.\n"
            "3. Choose the rounds, then confirm.\n"
            "4. Go to a police station or gendarmerie with your ID to validate it (or fill in "
            "the paper form there).").format(
            name=escape(view.offer.first_name), reach=await reach(view.offer),
            site=MAPROCURATION, number=view.voter_number, born=f"{view.birth_date:%d/%m/%Y}")
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=_("✅ Done, my proxy is registered"),
            callback_data=MatchActionCB(match=view.id, action="registered").pack())], [
            InlineKeyboardButton(text=_("Cancel this proxy"), callback_data=MatchActionCB(
                match=view.id, action="cancel").pack())]])
        return text, {"reply_markup": markup}

    async def confirmed_holder(delivery: Delivery,
                               _user: Person) -> tuple[str, dict[str, Any]] | None:
        found = await view_of(delivery)
        if found is None or found.status not in ("confirmed", "registered"):
            return None
        view = found
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=_("Cancel this proxy"),
            callback_data=MatchActionCB(match=view.id, action="cancel").pack())]])
        return _("🗳 Thank you! You will vote for {name} (reach them: {reach}) at polling "
                 "station {station}, {place}. We will remind you the day before.").format(
            name=escape(view.need.first_name), reach=await reach(view.need),
            station=escape(view.need.station),
            place=escape(_commune_label(view.need.commune_insee))), {"reply_markup": markup}

    async def registered(delivery: Delivery,
                         _user: Person) -> tuple[str, dict[str, Any]] | None:
        found = await view_of(delivery)
        if found is None:
            return None
        return _("🗳 {name}'s proxy is registered. Thank you for carrying their vote!").format(
            name=escape(found.need.first_name)), {}

    async def register_reminder(delivery: Delivery,
                                _user: Person) -> tuple[str, dict[str, Any]] | None:
        found = await view_of(delivery)
        if found is None or found.status != "confirmed":
            return None
        return await confirmed(delivery, _user)

    async def eve(delivery: Delivery, _user: Person) -> tuple[str, dict[str, Any]] | None:
        found = await view_of(delivery)
        if found is None or found.status not in ("confirmed", "registered"):
            return None
        view = found
        return _("🗳 Tomorrow you vote for {name}: polling station {station}, {place}. Bring "
                 "your own ID. Thank you!").format(
            name=escape(view.need.first_name), station=escape(view.need.station),
            place=escape(_commune_label(view.need.commune_insee))), {}

    async def followup(delivery: Delivery,
                       _user: Person) -> tuple[str, dict[str, Any]] | None:
        found = await view_of(delivery)
        if found is None or found.status not in ("proposed", "accepted", "confirmed"):
            return None
        return followup_message(found)

    async def summary(delivery: Delivery, _user: Person) -> tuple[str, dict[str, Any]] | None:
        campaign = await campaigns.get()
        if campaign is None:
            return None
        c = (await overview(db, campaign)).counts
        return _("🗳 Proxies today: {needs} needs and {offers} offers waiting, {p} proposed, "
                 "{a} accepted, {r} registered. /proxies for the details.").format(
            needs=c["open_needs"], offers=c["open_offers"], p=c["proposed"],
            a=c["accepted"], r=c["registered"]), {}

    return {
        NoticeKind.PROXY_PROPOSAL: proposal,
        NoticeKind.PROXY_DECLINED: declined,
        NoticeKind.PROXY_CANCELLED: cancelled,
        NoticeKind.PROXY_DETAILS_REQUEST: details_request,
        NoticeKind.PROXY_ACCEPTED: accepted,
        NoticeKind.PROXY_WITHDRAWN: withdrawn,
        NoticeKind.PROXY_CONFIRMED: confirmed,
        NoticeKind.PROXY_CONFIRMED_HOLDER: confirmed_holder,
        NoticeKind.PROXY_REGISTERED: registered,
        NoticeKind.PROXY_REGISTER_REMINDER: register_reminder,
        NoticeKind.PROXY_EVE: eve,
        NoticeKind.PROXY_FOLLOWUP: followup,
        NoticeKind.PROXY_SUMMARY: summary,
    }


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="proxy")
    private = PrivateChat()
    router.message.register(proxy_command, Command("proxy"), private)
    typed = (F.text, ~F.text.startswith("/"), private)
    router.message.register(commune_written, StateFilter(ProxyDialog.commune,
                                                         ProxyDialog.own_commune), *typed)
    router.message.register(station_written, StateFilter(ProxyDialog.station,
                                                         ProxyDialog.own_station), *typed)
    router.message.register(voter_number_written, StateFilter(ProxyDialog.voter_number), *typed)
    router.message.register(birth_date_written, StateFilter(ProxyDialog.birth_date), *typed)
    router.callback_query.register(kind_chosen, ProxyCB.filter(F.action.in_({"need", "offer"})))
    router.callback_query.register(same_place, ProxyCB.filter(F.action == "same"))
    router.callback_query.register(cancel_dialog, ProxyCB.filter(F.action == "cancel_dialog"))
    router.callback_query.register(withdraw_mine, ProxyCB.filter(F.action == "mine_cancel"))
    router.callback_query.register(commune_picked, CommuneCB.filter())
    router.callback_query.register(round_chosen, RoundCB.filter())
    router.callback_query.register(answered, AnswerCB.filter())
    router.callback_query.register(match_action, MatchActionCB.filter())
    organizers = organizer_router("proxy")
    personal = personal_data_router("proxy")  # phone numbers of people off Telegram
    personal.message.register(proxies_command, Command("proxies"))
    personal.callback_query.register(answered, OrganizerAnswerCB.filter())
    personal.callback_query.register(match_action, OrganizerMatchCB.filter())
    organizers.include_router(personal)
    router.include_router(organizers)
    return router
