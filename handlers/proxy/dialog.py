"""/proxy and its questions: commune, polling station, rounds; for a holder also where they
vote. The same for a supporter on Telegram and for a volunteer filling them in for the
person on the phone; the answers end in a request, matched at once."""

from __future__ import annotations

from html import escape

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.proxy.common import (
    DATA,
    ProxyDialog,
    commune_choices,
    commune_label,
    error_text,
    no_commune_text,
)
from storage.campaign_cache import CampaignCache
from storage.communes import commune_by_insee, find_communes
from storage.database import Database
from storage.models import ProxyKind
from storage.models import ProxyMatchStatus as Status
from storage.proxies import (
    MyProxy,
    Place,
    ProxyError,
    Requester,
    called_person,
    check_station,
    create_request,
    match_need,
    match_offer,
    my_proxy,
)
from storage.users import Person
from ui.notify import acknowledge, edit_in_place


class ProxyCB(CallbackData, prefix="px"):
    action: str  # need | offer | same | cancel_dialog | mine_cancel
    value: str = ""


class CommuneCB(CallbackData, prefix="pxc"):
    insee: str


class RoundCB(CallbackData, prefix="pxr"):
    choice: str  # a round's index, or "all"


# ---- starting: a supporter, or a volunteer for the person on the phone -------------------

def _progress(mine: MyProxy) -> str:
    """Where the person's request stands, in a few words."""
    if mine.match_id is None or mine.match_status is None:
        return _("we are looking for a match") if mine.match_id is None else ""
    return {
        Status.PROPOSED: _("a match is proposed: see the message with Accept / Decline"),
        Status.ACCEPTED: _("both sides accepted; waiting for the holder's voter details"),
        Status.CONFIRMED: _("confirmed: the proxy can be made official"),
        Status.REGISTERED: _("registered. Thank you!"),
    }.get(mine.match_status, "")


async def proxy_command(message: Message,
                        db: Database, user: Person, state: FSMContext) -> None:
    mine = await my_proxy(db, user.id)
    if mine is not None:
        kind = _("you need someone to vote for you") if mine.kind is ProxyKind.NEED else _(
            "you offered to carry a vote")
        status = _progress(mine)
        builder = InlineKeyboardBuilder()
        builder.button(text=_("Withdraw my request"),
                       callback_data=ProxyCB(action="mine_cancel", value=str(mine.request_id)))
        text = _("🗳 Vote proxy: {kind}; {status}.").format(kind=kind, status=status)
        if mine.kind is ProxyKind.OFFER:  # the rule, for a holder who would take a second one
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
        await message.answer(no_commune_text(message.text or ""))
        return
    await message.answer(_("Which one?"), reply_markup=commune_choices(
        found, lambda insee: CommuneCB(insee=insee),
        (_("Cancel"), ProxyCB(action="cancel_dialog"))))


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
        "(« bureau de vote »).").format(commune=escape(commune_label(callback_data.insee))))


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
        await message.answer(error_text(exc.reason))
        return
    data["own_station" if own else "station"] = station
    await state.update_data({DATA: data})
    if own:
        await _finish(message, state, db, campaigns, user)
        return
    await ask_rounds(message, state, db, campaigns, user)


async def ask_rounds(message: Message, state: FSMContext, db: Database,
                     campaigns: CampaignCache, user: Person) -> None:
    """The place is known (written, or filled in from an ask): the rounds, then the rest."""
    data = (await state.get_data()).get(DATA, {})
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
    # A holder asked about a need may have told where they vote already ("Where do you
    # vote?"): nothing more to ask.
    if data.get("kind") != "offer" or (data.get("own_commune") and data.get("own_station")):
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
        await message.answer(error_text(exc.reason))
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

