"""What the deliverer sends for proxies: proposals, answers, reminders and follow-ups, each
rendered when its turn comes from the match as it is then, and dropped (None) if the match
moved on meanwhile."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from html import escape

from aiogram import Bot
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _

from handlers.proxy.asks import render_ask
from handlers.proxy.common import MAPROCURATION, commune_label
from handlers.proxy.matches import AnswerCB, MatchActionCB
from handlers.proxy.organizers import followup_message
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.models import ProxyMatchStatus as Status
from storage.outbox import Delivery, NoticeKind
from storage.proxies import MatchView, Side, long_unmatched, match_view, overview
from storage.users import Person, get_user
from ui.renderers import Rendered, Renderers

HELD = (Status.CONFIRMED, Status.REGISTERED)  # the holder will vote


@dataclass(frozen=True)
class Sources:
    """What the renderers read: the database, and the active campaign for the summary."""

    db: Database
    campaigns: CampaignCache


async def view_of(sources: Sources, delivery: Delivery,
                  *statuses: Status) -> MatchView | None:
    """The delivery's match, if it still is in one of `statuses` (any, if none given)."""
    view = await match_view(sources.db, int(delivery.params["match"]))
    if view is None or (statuses and view.status not in statuses):
        return None
    return view


def rounds_text(view: MatchView) -> str:
    return escape(", ".join(view.round_names))  # the rounds of the match's own campaign


async def reach(sources: Sources, side: Side) -> str:
    """How the other side reaches this one: a phone off Telegram, else a username."""
    if side.user_id is None:
        return escape(side.phone or "")
    person = await get_user(sources.db, side.user_id)
    if person is not None and person.username:
        return "@" + escape(person.username)
    return _("through the organizers (no Telegram username)")


async def proposal(sources: Sources, delivery: Delivery, _user: Person) -> Rendered:
    view = await view_of(sources, delivery, Status.PROPOSED)
    if view is None:
        return None
    side = delivery.params["side"]
    place = escape(commune_label(view.need.commune_insee))
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


async def declined(sources: Sources, delivery: Delivery, _user: Person) -> Rendered:
    return _("🗳 That proxy match did not go ahead. If you are waiting for one, we keep "
             "looking."), {}


async def cancelled(sources: Sources, delivery: Delivery, _user: Person) -> Rendered:
    return _("🗳 The other person withdrew from your proxy. We are looking for someone "
             "else and will write to you."), {}


async def accepted(sources: Sources, delivery: Delivery, _user: Person) -> Rendered:
    view = await view_of(sources, delivery, Status.ACCEPTED)
    if view is None:
        return None
    return _("🗳 {name} accepted too. As soon as they give their voter details, you will "
             "get here the last steps to make the proxy official.").format(
        name=escape(view.offer.first_name)), {}


async def withdrawn(sources: Sources, delivery: Delivery, _user: Person) -> Rendered:
    """To organizers, for a side off Telegram whose match the other side left."""
    view = await view_of(sources, delivery)
    if view is None:
        return None
    left = view.need if view.need.user_id is not None else view.offer
    stays = view.offer if left is view.need else view.need
    return _("🗳 {left} withdrew from the proxy with {name} ({phone}). Please let {name} "
             "know: we are looking for someone else.").format(
        left=escape(left.first_name), name=escape(stays.first_name),
        phone=escape(stays.phone or "")), {}


async def details_request(sources: Sources, delivery: Delivery, _user: Person) -> Rendered:
    view = await view_of(sources, delivery, Status.ACCEPTED)
    if view is None:
        return None
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("Give my voter details"),
        callback_data=MatchActionCB(match=view.id, action="details").pack())]])
    return _("🗳 {name} accepted too. To make the proxy official, {name} needs your "
             "national voter number and your date of birth.").format(
        name=escape(view.need.first_name)), {"reply_markup": markup}


async def confirmed(sources: Sources, delivery: Delivery, _user: Person) -> Rendered:
    """The giver's last steps; sent again, daily, as the reminder to register."""
    view = await view_of(sources, delivery, Status.CONFIRMED)
    if view is None or not view.voter_number or view.birth_date is None:
        return None
    text = _(
        "🗳 <b>Your proxy: the last step</b>\n"
        "{name} will vote for you (reach them: {reach}).\n"
        "1. Go to {site} and sign in with FranceConnect.\n"
        "2. Give {name}'s national voter number <b>{number}</b> and date of birth "
        "<b>{born}</b>.\n"
        "3. Choose the rounds, then confirm.\n"
        "4. Go to a police station or gendarmerie with your ID to validate it (or fill in "
        "the paper form there).").format(
        name=escape(view.offer.first_name), reach=await reach(sources, view.offer),
        site=MAPROCURATION, number=view.voter_number, born=f"{view.birth_date:%d/%m/%Y}")
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("✅ Done, my proxy is registered"),
        callback_data=MatchActionCB(match=view.id, action="registered").pack())], [
        InlineKeyboardButton(text=_("Cancel this proxy"), callback_data=MatchActionCB(
            match=view.id, action="cancel").pack())]])
    return text, {"reply_markup": markup}


async def confirmed_holder(sources: Sources, delivery: Delivery, _user: Person) -> Rendered:
    view = await view_of(sources, delivery, *HELD)
    if view is None:
        return None
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("Cancel this proxy"),
        callback_data=MatchActionCB(match=view.id, action="cancel").pack())]])
    return _("🗳 Thank you! You will vote for {name} (reach them: {reach}) at polling "
             "station {station}, {place}. We will remind you the day before.").format(
        name=escape(view.need.first_name), reach=await reach(sources, view.need),
        station=escape(view.need.station),
        place=escape(commune_label(view.need.commune_insee))), {"reply_markup": markup}


async def registered(sources: Sources, delivery: Delivery, _user: Person) -> Rendered:
    view = await view_of(sources, delivery)
    if view is None:
        return None
    return _("🗳 {name}'s proxy is registered. Thank you for carrying their vote!").format(
        name=escape(view.need.first_name)), {}


async def eve(sources: Sources, delivery: Delivery, _user: Person) -> Rendered:
    view = await view_of(sources, delivery, *HELD)
    if view is None:
        return None
    return _("🗳 Tomorrow you vote for {name}: polling station {station}, {place}. Bring "
             "your own ID. Thank you!").format(
        name=escape(view.need.first_name), station=escape(view.need.station),
        place=escape(commune_label(view.need.commune_insee))), {}


async def followup(sources: Sources, delivery: Delivery, _user: Person) -> Rendered:
    view = await view_of(sources, delivery, Status.PROPOSED, Status.ACCEPTED,
                         Status.CONFIRMED)
    return None if view is None else followup_message(view)


async def summary(sources: Sources, delivery: Delivery, _user: Person) -> Rendered:
    campaign = await sources.campaigns.get()
    if campaign is None:
        return None
    c = (await overview(sources.db, campaign)).counts
    text = _("🗳 Proxies today: {needs} needs and {offers} offers waiting, {p} proposed, "
             "{a} accepted, {r} registered. /proxies for the details.").format(
        needs=c["open_needs"], offers=c["open_offers"], p=c["proposed"],
        a=c["accepted"], r=c["registered"])
    late = await long_unmatched(sources.db, campaign)
    if late:  # the ones to find someone for by hand: where they are, the most first
        text += "\n" + _("Unmatched for more than 48 h: {departments}").format(
            departments=", ".join(f"{escape(department)} — {count}"
                                  for department, count in late))
    return text, {}


async def ask(sources: Sources, delivery: Delivery, user: Person) -> Rendered:
    return await render_ask(sources.db, delivery, user)


Render = Callable[[Sources, Delivery, Person], Awaitable[Rendered]]
RENDERERS: dict[NoticeKind, Render] = {
    NoticeKind.PROXY_PROPOSAL: proposal,
    NoticeKind.PROXY_DECLINED: declined,
    NoticeKind.PROXY_CANCELLED: cancelled,
    NoticeKind.PROXY_DETAILS_REQUEST: details_request,
    NoticeKind.PROXY_ACCEPTED: accepted,
    NoticeKind.PROXY_WITHDRAWN: withdrawn,
    NoticeKind.PROXY_CONFIRMED: confirmed,
    NoticeKind.PROXY_CONFIRMED_HOLDER: confirmed_holder,
    NoticeKind.PROXY_REGISTERED: registered,
    NoticeKind.PROXY_REGISTER_REMINDER: confirmed,  # the same last steps, while confirmed
    NoticeKind.PROXY_EVE: eve,
    NoticeKind.PROXY_FOLLOWUP: followup,
    NoticeKind.PROXY_SUMMARY: summary,
    NoticeKind.PROXY_ASK: ask,
}


def make_renderers(bot: Bot, db: Database, campaigns: CampaignCache) -> Renderers:
    del bot  # the messages need no bot call of their own
    sources = Sources(db, campaigns)
    return {kind: partial(render, sources) for kind, render in RENDERERS.items()}
