"""The official list of French communes: look-up by INSEE code, postal code or name.

The list ships with the code (storage/data/communes.tsv.gz, rebuilt by
storage/data/rebuild_communes.py from Etalab's data) and is read once, on first use.
It holds the 34,969 current communes and the 45 municipal arrondissements of Paris, Lyon
and Marseille, which have INSEE codes of their own (75112 is Paris 12e).

Name search ignores case, accents, spaces, hyphens and apostrophes, and reads "St"/"Ste"
as "Saint"/"Sainte": "st denis", "SAINT-DENIS" and "Saint Denis" are one key, "saintdenis".
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "communes.tsv.gz"
COLUMNS = ("insee", "name", "department", "postal_codes", "population")

_WORD = re.compile(r"[a-z0-9]+")
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae"})  # NFKD leaves them whole
_POSTAL = re.compile(r"\d{2} ?\d{3}")  # "93200", also "93 200" as some people write it
_INSEE = re.compile(r"(?:\d{2}|2[AB])\d{3}")
_DEPARTMENT = re.compile(r"\d{2,3}|2[ab]")
_ARRONDISSEMENT = re.compile(r"(Paris|Lyon|Marseille) (\d+)(?:er|e) Arrondissement")


@dataclass(frozen=True, slots=True)
class Commune:
    insee: str
    name: str
    department: str
    postal_codes: tuple[str, ...]
    population: int


def _words(text: str) -> list[str]:
    """Lower-case words without accents."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LIGATURES))
    return _WORD.findall("".join(c for c in decomposed if not unicodedata.combining(c)))


def _key(words: list[str]) -> str:
    return "".join(_ABBREVIATIONS.get(word, word) for word in words)


def normalise_name(text: str) -> str:
    """The search key of a name: lower case, no accents, no separators, St → saint."""
    return _key(_words(text))


def _aliases(commune: Commune) -> list[str]:
    """Every search key of a commune. An arrondissement is also "Paris 12", "Paris 12e"
    and "Paris 12eme": the official "Paris 12e Arrondissement" is not how people write it."""
    keys = [normalise_name(commune.name)]
    match = _ARRONDISSEMENT.fullmatch(commune.name)
    if match:
        city, number = match.group(1).lower(), match.group(2)
        keys += [f"{city}{number}", f"{city}{number}e", f"{city}{number}eme"]
        if number == "1":
            keys += [f"{city}1er", f"{city}1re"]
    return list(dict.fromkeys(keys))


class _Index:
    """Precomputed once: a query then costs dictionary look-ups and a few str.find calls."""

    def __init__(self, communes: list[Commune]) -> None:
        self.by_insee = {c.insee: c for c in communes}
        # Rank = position by population (largest first): every list below is in that order.
        self.ranked = sorted(communes, key=lambda c: (-c.population, c.insee))
        self.by_postal: dict[str, list[int]] = {}
        self.by_department: dict[str, list[int]] = {}
        self.exact: dict[str, list[int]] = {}
        self.keys: list[list[str]] = []  # by rank
        self.owners: list[int] = []  # by key, in haystack order
        for rank, commune in enumerate(self.ranked):
            for code in commune.postal_codes:
                self.by_postal.setdefault(code, []).append(rank)
            self.by_department.setdefault(commune.department, []).append(rank)
            self.keys.append(_aliases(commune))
            for key in self.keys[rank]:
                self.exact.setdefault(key, []).append(rank)
                self.owners.append(rank)
        keys = [key for aliases in self.keys for key in aliases]
        # All keys in one string, "\n"-separated, in rank order: str.find walks it at C
        # speed, "\n" + key finds prefixes, and the first hits are the most populous.
        self.starts: list[int] = []
        offset = 1
        for key in keys:
            self.starts.append(offset)
            offset += len(key) + 1
        self.haystack = "\n" + "\n".join(keys) + "\n"

    def owner(self, position: int) -> int:
        return self.owners[bisect_right(self.starts, position) - 1]

    def search(self, key: str, limit: int) -> list[Commune]:
        """Exact, then prefix, then substring matches of `key`, each by population."""
        found: dict[int, None] = dict.fromkeys(self.exact.get(key, ()))  # ordered set of ranks
        # One letter is a name only when exact ("Y", in the Somme), never a prefix.
        needles = (("\n" + key, 1), (key, 0)) if len(key) > 1 else ()
        for needle, skip in needles:
            position = self.haystack.find(needle)
            while position != -1 and len(found) < limit:
                found.setdefault(self.owner(position + skip), None)
                position = self.haystack.find(needle, position + 1)
        return [self.ranked[rank] for rank in list(found)[:limit]]

    def search_within(self, key: str, limit: int, ranks: list[int]) -> list[Commune]:
        """The same tiers among a department's or a postal code's communes: a few hundred
        at most, so a plain walk beats skipping the rest of France's hits."""
        tiers: tuple[list[int], list[int], list[int]] = ([], [], [])
        for rank in ranks:
            keys = self.keys[rank]
            if key in keys:
                tiers[0].append(rank)
            elif len(key) > 1 and any(k.startswith(key) for k in keys):
                tiers[1].append(rank)
            elif len(key) > 1 and any(key in k for k in keys):
                tiers[2].append(rank)
        return [self.ranked[rank] for rank in (*tiers[0], *tiers[1], *tiers[2])][:limit]

    def ranks_within(self, code: str) -> list[int]:
        """The ranks of the communes of a postal code (5 digits) or a department, in order."""
        if len(code) == 5:
            return self.by_postal.get(code, [])
        return self.by_department.get(code.upper(), [])


def _read(path: Path) -> list[Commune]:
    communes = []
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as lines:
        header = None
        for line in lines:
            if line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if header is None:
                header = tuple(fields)
                if header != COLUMNS:
                    raise ValueError(f"{path.name}: unexpected columns {header}")
                continue
            insee, name, department, postal_codes, population = fields
            communes.append(Commune(insee, name, department, tuple(postal_codes.split()),
                                    int(population)))
    return communes


@cache
def _index() -> _Index:
    return _Index(_read(DATA))


def all_communes() -> list[Commune]:
    """Every commune and municipal arrondissement, by INSEE code."""
    return sorted(_index().by_insee.values(), key=lambda c: c.insee)


def commune_by_insee(insee: str) -> Commune | None:
    return _index().by_insee.get(insee.strip().upper())


def find_communes(query: str, limit: int = 8) -> list[Commune]:
    """The communes a person most likely means by `query`, at most `limit` of them.

    Five digits: the communes of that postal code (largest first), then the commune whose
    INSEE code it is, if any (3,058 codes are both, e.g. 13001: Marseille 1er's postal code,
    Aix-en-Provence's INSEE code). A Corsican code (2A004): that commune. Anything else is
    a name: exact matches, then names starting with it, then names containing it, each by
    population. A department or postal code next to the name narrows it ("Saint-Denis 974",
    "93200 Saint-Denis") when the whole does not match as a name ("Paris 12" does)."""
    query = query.strip()
    if limit <= 0 or not query:
        return []
    index = _index()
    if _POSTAL.fullmatch(query):
        code = query.replace(" ", "")
        found = [index.ranked[rank] for rank in index.by_postal.get(code, ())]
        commune = index.by_insee.get(code)
        if commune is not None and commune not in found:
            found.append(commune)
        return found[:limit]
    if _INSEE.fullmatch(query.upper()):
        commune = index.by_insee.get(query.upper())
        return [commune] if commune else []
    key = normalise_name(query)
    if not key or key.isdigit():
        return []  # punctuation, or digits that are no code
    found = index.search(key, limit)
    if found:
        return found
    return _search_within(index, query, limit)


def _search_within(index: _Index, query: str, limit: int) -> list[Commune]:
    """The name among the communes of the department or postal code written next to it:
    "Saint-Denis 93", "Saint-Denis (974)", "93200 Saint-Denis"."""
    words = _words(query)
    codes = [w for w in words if _DEPARTMENT.fullmatch(w) or (len(w) == 5 and w.isdigit())]
    name = _key([w for w in words if w not in codes])
    if len(codes) != 1 or not name:
        return []
    within = index.ranks_within(codes[0])
    return index.search_within(name, limit, within)
