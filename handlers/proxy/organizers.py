"""The organizers' side of proxies: /proxies (the counts, by commune) and the follow-ups of
matches with a side off Telegram, whose answers and details they record by phone."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.proxy.common import MAPROCURATION, commune_label
from handlers.proxy.matches import OrganizerAnswerCB, OrganizerMatchCB
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.models import ProxyMatchStatus
from storage.proxies import MatchView, overview, waiting_on_organizers
from ui.filters import active_campaign


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
            where = escape(commune_label(insee)) + (
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

    place = escape(commune_label(view.need.commune_insee)) + " · " + _(
        "station {n}").format(n=escape(view.need.station))
    text = _("🗳 Proxy to follow up: {need} needs someone, {offer} can carry a vote. "
             "{place}.").format(need=who(view.need), offer=who(view.offer), place=place)
    builder = InlineKeyboardBuilder()
    if view.status is ProxyMatchStatus.PROPOSED:
        for side_name, side, answer_given in (("need", view.need, view.need_answer),
                                              ("offer", view.offer, view.offer_answer)):
            if side.user_id is None and answer_given is None:
                builder.button(text=_("{name} accepts").format(name=side.first_name),
                               callback_data=OrganizerAnswerCB(match=view.id, side=side_name,
                                                               yes=True))
                builder.button(text=_("{name} declines").format(name=side.first_name),
                               callback_data=OrganizerAnswerCB(match=view.id, side=side_name,
                                                               yes=False))
    elif view.status is ProxyMatchStatus.ACCEPTED:
        text += "\n" + _("Both accepted: ask {offer} for their voter number and date of "
                         "birth.").format(offer=who(view.offer))
        builder.button(text=_("Record {name}'s voter details").format(name=view.offer.first_name),
                       callback_data=OrganizerMatchCB(match=view.id, action="details"))
    elif view.status is ProxyMatchStatus.CONFIRMED and view.voter_number:
        text += "\n" + _("Call {need} to pass on {offer}'s voter number {number} and date of "
                         "birth {born}, and help with {site}.").format(
            need=who(view.need), offer=escape(view.offer.first_name),
            number=view.voter_number, born=f"{view.birth_date:%d/%m/%Y}", site=MAPROCURATION)
        builder.button(text=_("{name}'s proxy is registered").format(name=view.need.first_name),
                       callback_data=OrganizerMatchCB(match=view.id, action="registered"))
    builder.adjust(2)
    return text, {"reply_markup": builder.as_markup()}

