"""The sandbox's own campaign: the example campaign moved to the coming weeks, its polling
stations, about 200 fictional contacts and a shift tomorrow in each room.

Every number is in a block ARCEP reserves for fiction (films, books, tests): nobody can be
called by mistake, even if a volunteer dials one from their phone.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from storage import clock
from storage.campaigns import load_campaign, parse_campaign_file
from storage.contacts import import_contacts
from storage.database import Database
from storage.models import Campaign
from storage.shifts import add_shift
from storage.stations import import_stations

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONTACTS = 200
# ARCEP's blocks for fiction, ten thousand numbers each, by region. (Its mobile block,
# 06 39 98, is one phonenumbers calls invalid, so the import would refuse it.)
FICTION_BLOCKS = {"Île-de-France": "1 99 00", "Sud-Est": "4 65 71"}


@dataclass(frozen=True)
class Place:
    """Where the fictional contacts live: a constituency, a commune, its stations."""

    constituency: str
    commune: str
    postcode: str
    stations: tuple[str, ...]
    region: str


PLACES = (
    Place("Seine-Saint-Denis 1", "Saint-Denis", "93200",
          ("001", "002", "003", "004", "005", "006"), "Île-de-France"),
    Place("Rhône 3", "Lyon 3e Arrondissement", "69003",
          ("301", "302", "303", "304", "305", "306"), "Sud-Est"),
    Place("Bouches-du-Rhône 4", "Marseille 1er Arrondissement", "13001", ("101", "102"),
          "Sud-Est"),
    Place("Seine-Saint-Denis 6", "Pantin", "93500", ("4", "5"), "Île-de-France"),
)
FIRST_NAMES = ("Camille", "Léa", "Manon", "Inès", "Chloé", "Sarah", "Nadia", "Fatou", "Yasmine",
               "Julie", "Émilie", "Aïcha", "Lucie", "Anaïs", "Louise", "Hugo", "Lucas", "Karim",
               "Mehdi", "Théo", "Nathan", "Youssef", "Antoine", "Bastien", "Mamadou", "Julien",
               "Rachid", "Thomas", "Samuel", "Pierre")
LAST_NAMES = ("Martin", "Bernard", "Dubois", "Petit", "Durand", "Leroy", "Moreau", "Diallo",
              "Benali", "Nguyen", "Garcia", "Roux", "Fournier", "Girard", "Lambert", "Bonnet",
              "Traoré", "Haddad", "Mercier", "Faure", "Rousseau", "Blanc", "Guérin", "Chevalier")
ALWAYS_OPEN = ("00:00", "23:59")
ROOMS = (("Saint-Denis", "Bourse du travail, 9-11 rue Genin, 93200 Saint-Denis"),
         ("Lyon", "Local de campagne, 12 cours Gambetta, 69003 Lyon"),
         ("Marseille", "Local de campagne, 4 rue Colbert, 13001 Marseille"))


def fiction_number(block: str, serial: int) -> str:
    """The `serial`-th number (0-9999) of an ARCEP fiction block, as a French list writes it."""
    return f"0{block} {serial // 100:02d} {serial % 100:02d}"


def contacts_csv(count: int = CONTACTS, seed: int = 2024) -> bytes:
    """A contact list as a campaign exports it (semicolons, French headers), all fictional."""
    pick = random.Random(seed)
    out = io.StringIO()
    rows = csv.writer(out, delimiter=";")
    rows.writerow(["prénom", "nom", "téléphone", "circonscription", "commune", "code_postal",
                   "bureau_de_vote", "tags"])
    for serial in range(count):
        place = PLACES[serial % len(PLACES)]
        block = FICTION_BLOCKS[place.region]
        rows.writerow([pick.choice(FIRST_NAMES), pick.choice(LAST_NAMES),
                       fiction_number(block, serial), place.constituency, place.commune,
                       place.postcode, pick.choice(place.stations), "primaire"])
    return out.getvalue().encode()


def coming_rounds(today: date) -> list[dict[str, str]]:
    """The example's two rounds moved to the coming weeks: the first on the Sunday at least
    two weeks away, the second a week later, as in a French legislative election."""
    first = today + timedelta(days=14 + (6 - today.weekday()) % 7)
    return [{"name": "Premier tour", "date": first.isoformat()},
            {"name": "Second tour", "date": (first + timedelta(days=7)).isoformat()}]


async def seed(db: Database, examples: Path = EXAMPLES) -> Campaign:
    """Fill an empty, migrated database with the sandbox's campaign."""
    fields = parse_campaign_file(examples / "campaign.toml")
    zone = ZoneInfo(fields["timezone"])
    now = clock.utcnow()
    fields["rounds"] = coming_rounds(now.astimezone(zone).date())
    # Open round the clock: someone trying Toile at 22:00 still gets a card.
    fields["calling_start"], fields["calling_end"] = ALWAYS_OPEN
    campaign, _created = await load_campaign(db, fields)
    with (examples / "stations.csv").open("rb") as stations:
        await import_stations(db, stations)
    await import_contacts(db, campaign, io.BytesIO(contacts_csv()), source_label="sandbox")
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    for room, address in ROOMS:
        await add_shift(db, room=room, address=address, capacity=20,
                        starts_at=datetime.combine(tomorrow, time(9), zone),
                        ends_at=datetime.combine(tomorrow, time(13), zone))
    return campaign
