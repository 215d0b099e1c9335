"""What the proxy screens share: the dialogue's states and data key, the rules' refusals in
words, a commune as people read it and the list to pick one from (also "Where do you
vote?", handlers/vote_place.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from storage.communes import Commune, commune_by_insee

MAPROCURATION = "https://www.maprocuration.gouv.fr"
DATA = "proxy"  # the dialogue's answers, under one key of the FSM data (a card's stay)


class ProxyDialog(StatesGroup):
    commune = State()
    station = State()
    own_commune = State()
    own_station = State()
    voter_number = State()
    birth_date = State()


def error_text(reason: str) -> str:
    """A storage.proxies.ProxyError's reason, as the person reads it."""
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


def commune_label(insee: str) -> str:
    commune = commune_by_insee(insee)
    return f"{commune.name} ({commune.department})" if commune else insee



def commune_choices(found: Sequence[Commune], pick: Callable[[str], CallbackData],
                    way_out: tuple[str, CallbackData]) -> InlineKeyboardMarkup:
    """The communes a written name or postal code found, one button each (`pick` makes its
    callback data from the INSEE code), and a way out (Cancel, Skip)."""
    builder = InlineKeyboardBuilder()
    for commune in found:
        builder.button(text=f"{commune.name} ({commune.department}, "
                            f"{commune.postal_codes[0] if commune.postal_codes else ''})",
                       callback_data=pick(commune.insee))
    builder.button(text=way_out[0], callback_data=way_out[1])
    builder.adjust(1)
    return builder.as_markup()


def no_commune_text(written: str) -> str:
    return _("No commune found for «{text}». Try its postal code, such as 93200.").format(
        text=escape(written[:50]))
