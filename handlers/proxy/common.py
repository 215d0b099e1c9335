"""What the proxy screens share: the dialogue's states and data key, the rules' refusals in
words, a commune as people read it."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup
from aiogram.utils.i18n import gettext as _

from storage.communes import commune_by_insee

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

