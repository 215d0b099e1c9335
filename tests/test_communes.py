"""The official commune list: what ships, and finding a commune the way people type it."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import statistics
import tarfile
import time
from collections import Counter

import pytest

from storage.communes import DATA, all_communes, commune_by_insee, find_communes
from tests.conftest import ROOT


def insees(query: str, limit: int = 8) -> list[str]:
    return [c.insee for c in find_communes(query, limit)]


def test_the_list_holds_every_current_commune_and_the_45_arrondissements():
    communes = all_communes()
    assert len(communes) == 34_969 + 45
    assert len({c.insee for c in communes}) == len(communes)
    assert [c.insee for c in communes] == sorted(c.insee for c in communes)
    arrondissements = [c for c in communes if c.name.endswith(" Arrondissement")]
    assert Counter(c.name.split()[0] for c in arrondissements) == {
        "Paris": 20, "Marseille": 16, "Lyon": 9}
    paris = commune_by_insee("75056")
    assert paris is not None and paris.population > 2_000_000 and "75116" in paris.postal_codes


def test_the_shipped_file_is_small_and_says_where_it_comes_from():
    assert DATA.stat().st_size < 1_000_000
    with gzip.open(DATA, "rt", encoding="utf-8") as lines:
        header = [next(lines) for _ in range(5)]
    assert "@etalab/decoupage-administratif 6.0.0" in header[1]
    assert "MIT" in header[2] and "Etalab" in header[2]
    assert header[4].rstrip("\n").split("\t") == [
        "insee", "name", "department", "postal_codes", "population"]


def test_both_saint_denis_by_name_however_it_is_written():
    for query in ("Saint-Denis", "saint denis", "ST-DENIS", "st denis", "SAINT DENIS", "saintdenis"):
        found = insees(query)
        # Exact matches first, largest first: Réunion's prefecture, then Seine-Saint-Denis's.
        assert found[:2] == ["97411", "93066"], query
    assert "93066" in insees("Saint-Denis 93")[:1] and insees("Saint-Denis (974)") == ["97411"]


def test_postal_codes():
    assert insees("93200") == ["93066"]
    assert insees("93 200") == ["93066"]
    assert insees("20000") == ["2A004"]
    # Both the city and its arrondissement; a code that is also an INSEE code brings that
    # commune last (13001 is Aix-en-Provence's INSEE code).
    assert insees("13001") == ["13055", "13201", "13001"]
    assert insees("99999") == []


def test_insee_codes_including_corsica():
    (ajaccio,) = find_communes("2A004")
    assert (ajaccio.name, ajaccio.department, ajaccio.postal_codes[0]) == ("Ajaccio", "2A", "20000")
    assert insees("2a004") == ["2A004"]
    assert insees("2B033") == ["2B033"] and commune_by_insee("2B033").name == "Bastia"
    assert insees("93066") == ["93066"]  # not a postal code: the INSEE code
    assert commune_by_insee(" 2a004 ").name == "Ajaccio"
    assert commune_by_insee("00000") is None and insees("2C004") == []


def test_paris_lyon_and_marseille_arrondissements():
    for query in ("Paris 12", "Paris 12e", "paris 12eme", "Paris 12e arrondissement"):
        assert insees(query)[:1] == ["75112"], query
    assert insees("75012") == ["75056", "75112"]
    assert insees("Paris")[0] == "75056" and set(insees("Paris", 30)) >= {
        f"751{n:02}" for n in range(1, 21)}
    assert insees("Paris 1")[0] == "75101" and insees("Paris 1er") == ["75101"]
    lyon = find_communes("Lyon", 10)
    assert lyon[0].insee == "69123" and {c.insee for c in lyon[1:]} == {
        f"6938{n}" for n in range(1, 10)}
    assert insees("Lyon 3e") == ["69383"]
    # 69003 is also the INSEE code of Albigny-sur-Saône, which comes after the postal matches.
    assert insees("69003") == ["69123", "69383", "69003"]
    assert insees("Marseille 1er") == ["13201"]


def test_accents_hyphens_apostrophes_and_spaces_do_not_matter():
    assert insees("Saint-Étienne")[0] == "42218" and insees("saint etienne")[0] == "42218"
    assert insees("l'hay les roses") == ["94038"]
    assert insees("LHAY-LES-ROSES") == ["94038"]
    assert insees("Œuilly") == insees("oeuilly") != []
    assert insees("Ile saint denis") == ["93039"]  # L'Île-Saint-Denis, by substring


def test_exact_then_prefix_then_substring_each_by_population():
    found = find_communes("Saint-Denis", 50)
    names = [c.name for c in found]
    exact = [c for c in found if c.name == "Saint-Denis"]
    assert names[:len(exact)] == ["Saint-Denis"] * len(exact) and len(exact) >= 3
    prefix = [c for c in found[len(exact):] if c.name.startswith("Saint-Denis")]
    assert found[len(exact):len(exact) + len(prefix)] == prefix
    for tier in (exact, prefix):
        assert [c.population for c in tier] == sorted((c.population for c in tier), reverse=True)
    assert any(not c.name.startswith("Saint-Denis") for c in find_communes("denis", 50))


@pytest.mark.parametrize("query", ["", "   ", "!!!", "'-", "12", "1234567", "zzzzzz", "a",
                                   "Saint-Denis 99", "Paris 21e", "qwertyuiop"])
def test_junk_finds_nothing(query):
    assert find_communes(query) == []


def test_one_letter_only_as_an_exact_name():
    assert insees("Y") == ["80829"]  # Y, in the Somme


def test_limit_is_respected():
    assert len(find_communes("saint")) == 8
    assert len(find_communes("saint", limit=3)) == 3
    assert find_communes("saint", limit=0) == []
    # 46 communes share the postal code 51300, and 51300 is also an INSEE code (Isle-sur-Marne).
    assert len(find_communes("51300")) == 8 and len(find_communes("51300", limit=100)) == 47


def test_a_query_is_fast_once_loaded():
    find_communes("warm up")
    queries = ["saint denis", "Paris 12", "93200", "l'hay les roses", "zzzz", "la", "ee",
               "Saint-Denis 93", "2A004", "Saint-Étienne", "ville", "Marseille 1er"] * 20
    timings = []
    for query in queries:
        start = time.perf_counter()
        find_communes(query)
        timings.append(time.perf_counter() - start)
    assert statistics.median(timings) < 0.002, statistics.median(timings)


def _load_rebuild_script():
    path = ROOT / "storage" / "data" / "rebuild_communes.py"
    spec = importlib.util.spec_from_file_location("rebuild_communes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_tarball(communes: list[dict]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in (("package/data/communes.json", json.dumps(communes).encode()),
                           ("package/LICENSE", b"MIT License\n\nCopyright (c) 2018 Etalab\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_the_rebuild_keeps_two_types_and_writes_the_same_bytes_twice():
    script = _load_rebuild_script()
    source = [
        {"code": "93066", "nom": "Saint-Denis", "type": "commune-actuelle", "departement": "93",
         "codesPostaux": ["93210", "93200"], "population": 149077},
        {"code": "93066", "nom": "Saint-Denis", "type": "commune-deleguee", "departement": "93"},
        {"code": "69383", "nom": "Lyon 3e Arrondissement", "type": "arrondissement-municipal",
         "departement": "69", "codesPostaux": ["69003"], "population": 100679},
        {"code": "98411", "nom": "Îles Saint-Paul", "type": "commune-actuelle",
         "departement": "984"},
    ]
    communes, copyright_line = script.read_package(_fake_tarball(source))
    table = script.rows(communes)
    assert table == [("69383", "Lyon 3e Arrondissement", "69", "69003", "100679"),
                     ("93066", "Saint-Denis", "93", "93200 93210", "149077"),
                     ("98411", "Îles Saint-Paul", "984", "", "0")]
    first = script.render("9.9.9", copyright_line, table)
    assert first == script.render("9.9.9", copyright_line, table)
    text = gzip.decompress(first).decode()
    assert "decoupage-administratif 9.9.9" in text and "Copyright (c) 2018 Etalab" in text
    assert text.splitlines()[-2] == "93066\tSaint-Denis\t93\t93200 93210\t149077"
