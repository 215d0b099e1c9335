"""/proxy: people who cannot vote meet people who can carry their vote.

`dialog` asks the questions (the same for a supporter on Telegram and for a volunteer
filling them in for the person on the phone), `asks` is the ask to supporters near a need
nobody offered for and its answer (the same questions, the place filled in), `matches`
takes each side's steps of a match, `organizers` is /proxies and the follow-ups of sides
off Telegram, and `messages` renders what the outbox carries (proposals, answers,
reminders, asks), so a burst of matches is paced and survives a restart.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter

from handlers.doors import organizer_router, personal_data_router
from handlers.proxy.asks import AskCB, ask_answered
from handlers.proxy.common import ProxyDialog
from handlers.proxy.dialog import (
    CommuneCB,
    ProxyCB,
    RoundCB,
    cancel_dialog,
    commune_picked,
    commune_written,
    kind_chosen,
    proxy_command,
    round_chosen,
    same_place,
    start_for_contact,
    station_written,
)
from handlers.proxy.matches import (
    AnswerCB,
    MatchActionCB,
    OrganizerAnswerCB,
    OrganizerMatchCB,
    answered,
    birth_date_written,
    match_action,
    voter_number_written,
    withdraw_mine,
)
from handlers.proxy.messages import make_renderers
from handlers.proxy.organizers import proxies_command
from ui.filters import PrivateChat

__all__ = ["build_router", "make_renderers", "start_for_contact"]


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
    router.callback_query.register(ask_answered, AskCB.filter(), private)
    organizers = organizer_router("proxy")
    personal = personal_data_router("proxy")  # phone numbers of people off Telegram
    personal.message.register(proxies_command, Command("proxies"))
    personal.callback_query.register(answered, OrganizerAnswerCB.filter())
    personal.callback_query.register(match_action, OrganizerMatchCB.filter())
    organizers.include_router(personal)
    router.include_router(organizers)
    return router
