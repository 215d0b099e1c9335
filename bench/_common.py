"""What the benchmarks share: realistic French contacts, databases, and figures.

Only loopback is used: a temp-dir SQLite file or the local PostgreSQL server.
"""

from __future__ import annotations

import csv
import logging
import random
import resource
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import phonenumbers

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN_FILE = ROOT / "examples" / "campaign.toml"
PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"


# ---- figures ------------------------------------------------------------------------------

def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 if there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


class ErrorCount(logging.Handler):
    """Errors the bot logged (it swallows some to stay alive): a run must have none."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table, columns sized to their content."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    # Not Linux: ru_maxrss is in KB on Linux, bytes on macOS; close enough as a fallback.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---- databases ----------------------------------------------------------------------------

def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def postgres_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def pg_admin(*statements: str) -> None:
    """Run statements on the server's maintenance database (they cannot run in our own)."""
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        for statement in statements:
            await admin.execute(statement)
    finally:
        await admin.close()


async def recreate_pg_database(name: str, template: str | None = None) -> None:
    """Drop and create a database of ours; from a template, by copying its files (fast)."""
    create = (f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY = FILE_COPY'
              if template else f'CREATE DATABASE "{name}"')
    await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', create)


async def drop_pg_database(name: str) -> None:
    await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def seal_pg_template(name: str) -> None:
    """No more connections to `name` (not even autovacuum's), so it can serve as a template."""
    await pg_admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')


# ---- French contacts ----------------------------------------------------------------------

FIRST_NAMES = (
    "Fabrice", "Élodie", "Nicolas", "Aïcha", "Camille", "Léa", "Hugo", "Chloé", "Lucas", "Manon",
    "Thomas", "Inès", "Mathieu", "Sarah", "Julien", "Emma", "Antoine", "Zoé", "Maxime", "Jade",
    "Karim", "Fatou", "Mamadou", "Yasmine", "Sébastien", "Céline", "Stéphane", "Nathalie",
    "Françoise", "Jean-Pierre", "Marie-Claude", "Hélène", "Jérôme", "Amélie", "Benoît", "Gaëlle",
    "Loïc", "Noémie", "Rémi", "Maëlys", "Théo", "Océane", "Mehdi", "Salomé", "Ophélie", "Cédric",
    "Anaïs", "Grégory", "Laëtitia", "Yannick", "Josiane", "Guillaume", "Ludivine", "Rachid",
    "Nadia", "Moussa", "Aurélie", "Frédéric", "Valérie", "Raphaël",
)
LAST_NAMES = (
    "Martin", "Bernard", "Petit", "Diallo", "Dubois", "Durand", "Lefèvre", "Moreau", "Laurent",
    "Simon", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier", "Morel",
    "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Legrand",
    "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Müller", "Henry", "Roussel", "Nicolas",
    "Perrin", "Morin", "Mathieu", "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine",
    "Chevalier", "Robin", "Benali", "Traoré", "Nguyen", "Haddad", "Cissé", "Le Goff", "Le Gall",
    "Kerbrat", "N'Diaye", "Da Silva", "Ferreira", "Bouzid", "Saint-Hilaire", "Lebrun",
)


@dataclass(frozen=True)
class Place:
    constituency: str
    commune: str
    postal_code: str
    region: str  # phonenumbers region: FR, or GP / RE overseas
    landline: str  # national landline leading digits ("01" .. "05", "0590", "0262")
    mobiles: tuple[str, ...]  # national mobile leading digits


_FR_MOBILES = ("06", "07")
PLACES = (
    # The example campaign's four targets come first; they weigh more in the draw below.
    Place("Seine-Saint-Denis 1", "Saint-Denis", "93200", "FR", "01", _FR_MOBILES),
    Place("Seine-Saint-Denis 1", "Épinay-sur-Seine", "93800", "FR", "01", _FR_MOBILES),
    Place("Rhône 3", "Lyon 3e Arrondissement", "69003", "FR", "04", _FR_MOBILES),
    Place("Bouches-du-Rhône 4", "Marseille 1er Arrondissement", "13001", "FR", "04", _FR_MOBILES),
    Place("Seine-Saint-Denis 6", "Pantin", "93500", "FR", "01", _FR_MOBILES),
    Place("Seine-Saint-Denis 6", "Aubervilliers", "93300", "FR", "01", _FR_MOBILES),
    Place("Paris 15", "Paris 20e Arrondissement", "75020", "FR", "01", _FR_MOBILES),
    Place("Val-de-Marne 9", "Vitry-sur-Seine", "94400", "FR", "01", _FR_MOBILES),
    Place("Nord 1", "Lille", "59000", "FR", "03", _FR_MOBILES),
    Place("Bas-Rhin 1", "Strasbourg", "67000", "FR", "03", _FR_MOBILES),
    Place("Loire-Atlantique 1", "Nantes", "44000", "FR", "02", _FR_MOBILES),
    Place("Ille-et-Vilaine 1", "Rennes", "35000", "FR", "02", _FR_MOBILES),
    Place("Seine-Maritime 1", "Rouen", "76000", "FR", "02", _FR_MOBILES),
    Place("Gironde 2", "Bordeaux", "33000", "FR", "05", _FR_MOBILES),
    Place("Haute-Garonne 1", "Toulouse", "31000", "FR", "05", _FR_MOBILES),
    Place("Hérault 2", "Montpellier", "34000", "FR", "04", _FR_MOBILES),
    Place("Isère 1", "Grenoble", "38000", "FR", "04", _FR_MOBILES),
    Place("Rhône 2", "Lyon 1er Arrondissement", "69001", "FR", "04", _FR_MOBILES),
    # Overseas: local numbers that are only valid read in their own region.
    Place("Guadeloupe 1", "Les Abymes", "97139", "GP", "0590", ("0690",)),
    Place("Guadeloupe 3", "Pointe-à-Pitre", "97110", "GP", "0590", ("0690",)),
    Place("La Réunion 1", "Saint-Denis", "97400", "RE", "0262", ("0692", "0693")),
    Place("La Réunion 4", "Saint-Pierre", "97410", "RE", "0262", ("0692",)),
)
OVERSEAS_SHARE = 0.02
LANDLINE_SHARE = 0.2
COUNTRY_CODES = {"FR": "33", "GP": "590", "RE": "262"}


class PhoneFactory:
    """Unique, valid numbers written the many ways people write them.

    Validity in phonenumbers depends on the leading digits, so each kind of number draws
    from a pool of 6-digit national prefixes checked once up front; the last 4 digits are free.
    """

    def __init__(self, rng: random.Random, prefixes_per_kind: int = 200) -> None:
        self.rng = rng
        self.seen: set[str] = set()
        self.pools: dict[tuple[str, str], list[str]] = {}
        kinds = {(p.region, lead) for p in PLACES for lead in (p.landline, *p.mobiles)}
        for region, lead in sorted(kinds):
            self.pools[(region, lead)] = self._valid_prefixes(region, lead, prefixes_per_kind)

    def _valid_prefixes(self, region: str, lead: str, wanted: int) -> list[str]:
        found: set[str] = set()
        for _ in range(wanted * 20):
            prefix = lead + "".join(self.rng.choice("0123456789") for _ in range(6 - len(lead)))
            if prefix not in found and all(
                    self._valid(prefix + f"{self.rng.randrange(10_000):04d}", region)
                    for _ in range(4)):
                found.add(prefix)
                if len(found) == wanted:
                    break
        if not found:
            raise RuntimeError(f"no valid prefix for {lead} in {region}")
        return sorted(found)

    @staticmethod
    def _valid(national: str, region: str) -> bool:
        return phonenumbers.is_valid_number(phonenumbers.parse(national, region))

    def national(self, place: Place) -> str:
        """A new number, national form with trunk 0 ("0612345678")."""
        landline = self.rng.random() < LANDLINE_SHARE
        lead = place.landline if landline else self.rng.choice(place.mobiles)
        pool = self.pools[(place.region, lead)]
        while True:
            number = self.rng.choice(pool) + f"{self.rng.randrange(10_000):04d}"
            if number not in self.seen:
                self.seen.add(number)
                return number

    def written(self, national: str, region: str) -> str:
        """The number as a person or a spreadsheet wrote it."""
        pairs = " ".join(national[i:i + 2] for i in range(0, 10, 2))
        rest = national[1:]
        cc = COUNTRY_CODES[region]
        if region != "FR":
            # Overseas: local forms, or the region's own country code.
            style = self.rng.random()
            if style < 0.5:
                return f"{national[:4]} {national[4:6]} {national[6:8]} {national[8:]}"
            if style < 0.8:
                return national
            return f"+{cc} {rest[:3]} {rest[3:5]} {rest[5:7]} {rest[7:]}"
        style = self.rng.random()
        if style < 0.40:
            return pairs  # 06 12 34 56 78
        if style < 0.60:
            return national  # 0612345678
        if style < 0.75:
            return f"+33 {rest[0]} " + " ".join(rest[i:i + 2] for i in range(1, 9, 2))
        if style < 0.85:
            return pairs.replace(" ", ".")  # 06.12.34.56.78
        if style < 0.93:
            return "+33" + rest  # +33612345678
        if style < 0.97:
            return pairs.replace(" ", "-")  # 06-12-34-56-78
        return "0033 " + rest[0] + " " + " ".join(rest[i:i + 2] for i in range(1, 9, 2))


def draw_place(rng: random.Random) -> Place:
    if rng.random() < OVERSEAS_SHARE:
        return rng.choice([p for p in PLACES if p.region != "FR"])
    # Targets are a quarter of the file: enough to matter, not the whole queue.
    metro = [p for p in PLACES if p.region == "FR"]
    return rng.choice(metro[:6]) if rng.random() < 0.25 else rng.choice(metro[6:])


CSV_HEADER = ("prenom", "nom", "telephone", "circonscription", "commune", "code_postal")


def contact_rows(count: int, seed: int = 42) -> Iterator[tuple[str, str, str, str, str, str]]:
    """Rows as a campaign's contacts file holds them (header not included)."""
    rng = random.Random(seed)
    phones = PhoneFactory(rng)
    for _ in range(count):
        place = draw_place(rng)
        number = phones.written(phones.national(place), place.region)
        yield (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), number, place.constituency,
               place.commune, place.postal_code)


def write_contacts_csv(path: Path, count: int, seed: int = 42) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(CSV_HEADER)
        writer.writerows(contact_rows(count, seed))
