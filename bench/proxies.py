"""Benchmark: vote-proxy matching on a national scale, SQLite and PostgreSQL.

    .venv/bin/python bench/proxies.py [--db sqlite|postgres|both] [--needs 50000]
        [--offers 50000] [--stations 70000] [--new-needs 200] [--new-offers 100]
        [--seed 11] [--explain] [--profile]

For each database: a freshly migrated database with the example campaign, the communes'
polling stations and the needs and offers bulk-loaded with the driver (executemany / COPY);
then storage.proxies.match_all once (the periodic pass on fresh data), checked against the
rules and against the reference figures of `proxy_reference` (the maximum, the same-station
optimum, the greedy pass of old), computed from the same generated data; then, with all
that in place, new needs one by one (create_request, match_need) and new offers
(create_request, match_offer), each timed.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import cProfile
import io
import logging
import pstats
import random
import resource
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, Protocol

import asyncpg

from bench._common import (
    CAMPAIGN_FILE,
    FIRST_NAMES,
    PG_HOST,
    PG_PORT,
    PG_USER,
    drop_pg_database,
    percentile,
    postgres_url,
    recreate_pg_database,
    sqlite_url,
    table,
    verdict,
)
from bench.proxy_reference import Reference, greedy, reference
from storage.campaigns import load_campaign, parse_campaign_file
from storage.communes import all_communes
from storage.database import Database
from storage.driver import sqlite_value
from storage.migrate import upgrade
from storage.models import LIVE_MATCH, Campaign, ProxyKind
from storage.proxies import (
    Place,
    Requester,
    create_request,
    dates_of,
    match_all,
    match_need,
    match_offer,
)
from storage.proxies.matching import CANDIDATES, NEEDS_NEAR
from storage.proxies.rules import run_of_dates

PG_DATABASE = "toile_bench_proxies"
PASS_TARGET_S = 5.0
MATCHES_TARGET = 0.995  # of the maximum
STATION_TARGET = 0.95  # of the same-station optimum
MATCH_NEED_P99_TARGET_MS = 20.0
# Paris, Lyon and Marseille vote in their arrondissements, which have INSEE codes (and
# stations) of their own; the whole city would count its people twice.
CITIES_WITH_ARRONDISSEMENTS = {"75056", "69123", "13055"}
# Constituencies come from the phone bank's contacts file: a few dozen, in the departments
# of the example campaign's targets (real counts of seats per department).
CONSTITUENCIES = {"93": ("Seine-Saint-Denis", 12), "69": ("Rhône", 14),
                  "13": ("Bouches-du-Rhône", 16)}
PHONE_BANK_SHARE = 0.25  # requests a volunteer filled in for a contact (no Telegram id)
# Rounds as bit masks (bit 0: first round): (mask, weight). Holders offer both more often.
NEED_ROUNDS = ((0b11, 50), (0b01, 30), (0b10, 20))
OFFER_ROUNDS = ((0b11, 55), (0b01, 25), (0b10, 20))
OWN_STATION_SAME = 0.7  # a holder who can go to the station where they vote themselves
SPREAD_DAYS = 14  # requests arrived over the last two weeks
USER_BASE = 5_000_000_000
VOLUNTEER_ID = 4_000_000_000
PROFILED_NEEDS = 50


# ---- France: communes, stations, constituencies ----------------------------------------------

@dataclass(frozen=True, slots=True)
class Town:
    insee: str
    department: str
    population: int
    stations: int
    constituency: str | None


def stations_per_commune(populations: Sequence[int], wanted: int) -> tuple[float, list[int]]:
    """About one station per K inhabitants, at least one per commune, K fitted so the total is
    close to `wanted` (France: ~69,000 stations for ~35,000 communes)."""
    low, high = 1.0, 1e7
    for _ in range(60):
        mid = (low + high) / 2
        if sum(max(1, round(p / mid)) for p in populations) > wanted:
            low = mid
        else:
            high = mid
    return high, [max(1, round(p / high)) for p in populations]


class France:
    def __init__(self, stations_wanted: int) -> None:
        communes = [c for c in all_communes() if c.insee not in CITIES_WITH_ARRONDISSEMENTS]
        self.inhabitants_per_station, counts = stations_per_commune(
            [c.population for c in communes], stations_wanted)
        constituency: dict[str, str] = {}
        for department, (name, seats) in CONSTITUENCIES.items():
            mine = [c.insee for c in communes if c.department == department]
            # Consecutive INSEE codes share a seat: not the real map, but matching only
            # compares the names.
            for i, insee in enumerate(mine):
                constituency[insee] = f"{name} {1 + i * seats // len(mine)}"
        self.towns = [Town(c.insee, c.department, c.population, n, constituency.get(c.insee))
                      for c, n in zip(communes, counts, strict=True)]
        # Everyone counts at least a little (a commune of 0 inhabitants still has a station).
        self.cumulative = list(accumulate(max(1, t.population) for t in self.towns))

    @property
    def stations(self) -> int:
        return sum(t.stations for t in self.towns)

    def by_population(self, rng: random.Random, count: int) -> list[Town]:
        return rng.choices(self.towns, cum_weights=self.cumulative, k=count)

    def spread(self, rng: random.Random, count: int) -> list[Town]:
        """Every commune once (where there are enough people for it), the rest by population:
        big towns get many, and the spread covers the whole country."""
        towns = rng.sample(self.towns, min(count, len(self.towns)))
        return towns + self.by_population(rng, max(0, count - len(towns)))


# ---- the people -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    kind: ProxyKind
    person: Requester
    recorded_by: int | None
    place: Place
    own: Place | None
    mask: int
    created_at: datetime


def weighted(rng: random.Random, choices: Sequence[tuple[int, int]]) -> int:
    return rng.choices([c for c, _ in choices], [w for _, w in choices])[0]


def make_request(rng: random.Random, town: Town, kind: ProxyKind, serial: int,
                 now: datetime) -> Request:
    station = str(rng.randint(1, town.stations))
    first_name = rng.choice(FIRST_NAMES)
    if rng.random() < PHONE_BANK_SHARE:
        person, recorded_by = Requester(first_name, phone=f"+336{serial:08d}"), VOLUNTEER_ID
        constituency = town.constituency  # only the contacts file knows it
    else:
        person, recorded_by, constituency = Requester(first_name, USER_BASE + serial), None, None
    place = Place(town.insee, town.department, station, constituency)
    own = None
    if kind is ProxyKind.OFFER:
        own_station = (station if rng.random() < OWN_STATION_SAME
                       else str(rng.randint(1, town.stations)))
        own = Place(town.insee, town.department, own_station, constituency)
    mask = weighted(rng, NEED_ROUNDS if kind is ProxyKind.NEED else OFFER_ROUNDS)
    created = now - timedelta(seconds=rng.uniform(0, SPREAD_DAYS * 86_400))
    return Request(kind, person, recorded_by, place, own, mask, created)


def bulk_requests(france: France, needs: int, offers: int, seed: int,
                  now: datetime) -> list[Request]:
    """Needs and offers, in arrival order (ids grow with time, as in a live campaign)."""
    rng = random.Random(seed)
    towns = france.spread(rng, needs + offers)
    rng.shuffle(towns)  # which commune needs and which offers is left to chance
    kinds = [ProxyKind.NEED] * needs + [ProxyKind.OFFER] * offers
    requests = [make_request(rng, town, kind, serial, now)
                for serial, (town, kind) in enumerate(zip(towns, kinds, strict=True))]
    requests.sort(key=lambda r: r.created_at)
    return requests


STATION_COLUMNS = ("insee", "number", "name", "address")
REQUEST_COLUMNS = ("kind", "status", "user_id", "contact_id", "recorded_by", "first_name",
                   "phone", "commune_insee", "department", "constituency", "station",
                   "own_commune_insee", "own_station", "rounds_mask", "created_at", "campaign_id")
CAMPAIGN_ID = 1  # the example campaign, the first and only one of a fresh database


def station_records(france: France) -> list[tuple[str, str, str, str]]:
    return [(t.insee, str(n), f"Bureau {n}", "") for t in france.towns
            for n in range(1, t.stations + 1)]


def request_records(requests: Sequence[Request],
                    stamp: Callable[[datetime], Any]) -> list[tuple[Any, ...]]:
    """Rows as create_request stores them (`stamp`: the driver's form of a datetime)."""
    return [(r.kind.value, "open", r.person.user_id, None, r.recorded_by, r.person.first_name,
             r.person.phone, r.place.commune_insee, r.place.department, r.place.constituency,
             r.place.station, r.own.commune_insee if r.own else None,
             r.own.station if r.own else None, r.mask, stamp(r.created_at), CAMPAIGN_ID)
            for r in requests]


# ---- reading the results, either database ----------------------------------------------------

class Reader(Protocol):
    async def rows(self, sql: str) -> list[Sequence[Any]]: ...

    async def close(self) -> None: ...


class SqliteReader:
    def __init__(self, path: Path) -> None:
        self.con = sqlite3.connect(path)

    async def rows(self, sql: str) -> list[Sequence[Any]]:
        return self.con.execute(sql).fetchall()

    async def close(self) -> None:
        self.con.close()


class PostgresReader:
    def __init__(self, con: asyncpg.Connection) -> None:
        self.con = con

    async def rows(self, sql: str) -> list[Sequence[Any]]:
        return list(await self.con.fetch(sql))

    async def close(self) -> None:
        await self.con.close()


async def scalar(reader: Reader, sql: str) -> int:
    return int((await reader.rows(sql))[0][0] or 0)


LIVE_SQL = "(" + ", ".join(f"'{s}'" for s in LIVE_MATCH) + ")"
PAIRS = ("FROM proxy_match m JOIN proxy_request n ON n.id = m.need_id "
         "JOIN proxy_request o ON o.id = m.offer_id")
TIER = ("CASE WHEN n.commune_insee = o.commune_insee AND n.station = o.station THEN 'station' "
        "WHEN n.commune_insee = o.commune_insee THEN 'commune' "
        "WHEN n.constituency = o.constituency THEN 'constituency' "
        "WHEN n.department = o.department THEN 'department' ELSE 'elsewhere' END")
TIERS = ("station", "commune", "constituency", "department", "elsewhere")


@dataclass
class Checks:
    over_capacity_slots: int = 0  # (holder, round) with more slots than proxy_capacity
    over_capacity_matches: int = 0  # the same, counted from live matches alone
    slots_vs_rounds: int = 0  # slot rows minus the rounds the live matches cover
    round_violations: int = 0  # offer mask not covering the need's, or match mask != need's
    self_matches: int = 0  # someone carrying their own vote
    needs_matched_twice: int = 0  # more than one live match for one need
    status_mismatch: int = 0  # needs 'matched' without exactly one live match, or vice versa

    @property
    def total(self) -> int:
        return sum(vars(self).values())


async def check(reader: Reader, capacity: int, rounds: int) -> Checks:
    c = Checks()
    c.over_capacity_slots = await scalar(reader, (
        "SELECT count(*) FROM (SELECT offer_id, round_date FROM proxy_slot GROUP BY 1, 2 "
        f"HAVING count(*) > {capacity}) t"))
    for bit in range(rounds):
        c.over_capacity_matches += await scalar(reader, (
            f"SELECT count(*) FROM (SELECT offer_id FROM proxy_match WHERE status IN {LIVE_SQL} "
            f"AND (rounds_mask & {1 << bit}) <> 0 GROUP BY offer_id "
            f"HAVING count(*) > {capacity}) t"))
    covered = sum([await scalar(reader, (
        f"SELECT count(*) FROM proxy_match WHERE status IN {LIVE_SQL} "
        f"AND (rounds_mask & {1 << bit}) <> 0")) for bit in range(rounds)])
    c.slots_vs_rounds = await scalar(reader, "SELECT count(*) FROM proxy_slot") - covered
    c.round_violations = await scalar(reader, (
        f"SELECT count(*) {PAIRS} WHERE (o.rounds_mask & n.rounds_mask) <> n.rounds_mask "
        "OR m.rounds_mask <> n.rounds_mask OR n.kind <> 'need' OR o.kind <> 'offer'"))
    c.self_matches = await scalar(reader, (
        f"SELECT count(*) {PAIRS} WHERE n.user_id IS NOT NULL AND n.user_id = o.user_id"))
    c.needs_matched_twice = await scalar(reader, (
        f"SELECT count(*) FROM (SELECT need_id FROM proxy_match WHERE status IN {LIVE_SQL} "
        "GROUP BY need_id HAVING count(*) > 1) t"))
    c.status_mismatch = abs(
        await scalar(reader, "SELECT count(*) FROM proxy_request WHERE kind = 'need' "
                     "AND status = 'matched'")
        - await scalar(reader, f"SELECT count(*) FROM proxy_match WHERE status IN {LIVE_SQL}"))
    return c


async def tiers(reader: Reader, first_id: int, last_id: int) -> dict[str, int]:
    """Where the matches with ids in [first_id, last_id] were made, read from the data."""
    found = dict.fromkeys(TIERS, 0)
    for tier, count in await reader.rows(
            f"SELECT {TIER}, count(*) {PAIRS} WHERE m.id BETWEEN {first_id} AND {last_id} "
            "GROUP BY 1"):
        found[str(tier)] = int(count)
    return found


# ---- the measurements -------------------------------------------------------------------------

@dataclass
class Latencies:
    ms: list[float] = field(default_factory=list)
    matched: int = 0

    def add(self, seconds: float) -> None:
        self.ms.append(seconds * 1000)

    def figures(self) -> tuple[float, float, float]:
        values = sorted(self.ms)
        return percentile(values, 50), percentile(values, 99), max(values, default=0.0)


@dataclass
class Result:
    database: str
    load_s: float = 0.0
    pass_s: float = 0.0
    pass_matches: int = 0
    open_needs_after: int = 0
    pass_tiers: dict[str, int] = field(default_factory=dict)
    pass_checks: Checks = field(default_factory=Checks)
    again_s: float = 0.0  # a second pass at once: nothing new to match
    rss_before_mb: float = 0.0  # the bench process's peak RSS before and after the pass
    rss_after_mb: float = 0.0
    create_need: Latencies = field(default_factory=Latencies)
    need: Latencies = field(default_factory=Latencies)
    create_offer: Latencies = field(default_factory=Latencies)
    offer: Latencies = field(default_factory=Latencies)
    new_tiers: dict[str, int] = field(default_factory=dict)
    final_checks: Checks = field(default_factory=Checks)


@dataclass
class Settings:
    needs: int
    offers: int
    stations: int
    new_needs: int
    new_offers: int
    seed: int
    explain: bool
    profile: bool


def print_profile(profile: cProfile.Profile, title: str, lines: int = 25) -> None:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(lines)
    print(f"--- {title}, top {lines} by own time")
    print("\n".join(line for line in out.getvalue().splitlines()
                    if line.strip() and not line.lstrip().startswith(("Ordered by", "List red"))))


async def incremental(db: Database, campaign: Campaign, france: France, settings: Settings,
                      result: Result, now: datetime) -> None:
    """New needs then new offers, one by one, as the bot records and matches them."""
    rng = random.Random(settings.seed + 1)
    serial = settings.needs + settings.offers
    clock = time.perf_counter
    for kind, count, created, matched in (
            (ProxyKind.NEED, settings.new_needs, result.create_need, result.need),
            (ProxyKind.OFFER, settings.new_offers, result.create_offer, result.offer)):
        # New people, drawn like the bulk: half anywhere, half where people are.
        for _ in range(count):
            town = (rng.choice(france.towns) if rng.random() < 0.5
                    else france.by_population(rng, 1)[0])
            request = make_request(rng, town, kind, serial, now)
            serial += 1
            start = clock()
            request_id = await create_request(
                db, campaign, kind, request.person, request.place,
                dates_of(campaign, request.mask), own_place=request.own,
                recorded_by=request.recorded_by)
            created.add(clock() - start)
            start = clock()
            if kind is ProxyKind.NEED:
                made = [m for m in [await match_need(db, campaign, request_id)] if m is not None]
            else:
                made = await match_offer(db, campaign, request_id)
            matched.add(clock() - start)
            matched.matched += len(made)


async def profile_needs(db: Database, campaign: Campaign, france: France,
                        settings: Settings) -> None:
    """--profile: more new needs, under cProfile (not counted in the figures)."""
    rng = random.Random(settings.seed + 2)
    profile = cProfile.Profile()
    for i in range(PROFILED_NEEDS):
        request = make_request(rng, france.by_population(rng, 1)[0], ProxyKind.NEED,
                               10_000_000 + i, datetime.now(UTC))
        request_id = await create_request(db, campaign, ProxyKind.NEED, request.person,
                                          request.place, dates_of(campaign, request.mask),
                                          recorded_by=request.recorded_by)
        profile.enable()
        await match_need(db, campaign, request_id)
        profile.disable()
    print_profile(profile, f"{PROFILED_NEEDS} more match_need calls")


async def explain(reader: Reader, database: str, campaign: Campaign) -> None:
    """--explain: the plans of match_need's four tier queries and of match_offer's look-up of
    nearby needs, for a need of a big constituency left open by the pass."""
    rows = await reader.rows(
        "SELECT id, user_id, commune_insee, station, constituency, department, rounds_mask "
        "FROM proxy_request WHERE kind = 'need' AND status = 'open' "
        "AND constituency IS NOT NULL ORDER BY id LIMIT 1")
    if not rows:
        return
    nid, user_id, insee, station, constituency, department, mask = rows[0]
    rounds = dates_of(campaign, int(mask))
    keys = {"insee": insee, "station": station, "constituency": constituency,
            "department": department}
    queries = [(sql, sql.bind({**{k: keys[k] for k in tier_keys}, "campaign_id": campaign.id,
                                   "mask": mask, "user_id": user_id, "need_id": nid,
                                   "capacity": campaign.proxy_capacity,
                                   **run_of_dates(rounds)}))
               for tier_keys, sql in CANDIDATES]
    queries.append((NEEDS_NEAR, NEEDS_NEAR.bind({
        "campaign_id": campaign.id, "insee": insee, "department": department,
        "constituency": constituency, "station": station})))
    print(f"--- {database}: plans for need {nid} ({insee}, station {station}, {constituency})")
    for sql, args in queries:
        if isinstance(reader, SqliteReader):
            plan = reader.con.execute("EXPLAIN QUERY PLAN " + sql.sqlite, args).fetchall()
            print(" ", sql.sqlite[:90], "...\n   ", " | ".join(str(r[-1]) for r in plan))
        else:
            assert isinstance(reader, PostgresReader)
            plan = await reader.con.fetch("EXPLAIN ANALYZE " + sql.postgres, *args)
            print(" ", sql.postgres[:90], "...")
            print("\n".join("    " + str(r[0]) for r in plan))


Loader = Callable[[list[Request]], Awaitable[None]]


async def prepare(url: str, load: Loader, france: France, settings: Settings,
                  now: datetime) -> tuple[Database, Campaign]:
    """A freshly migrated database with the example campaign, the stations and the requests."""
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        campaign, _created = await load_campaign(db, parse_campaign_file(CAMPAIGN_FILE))
        await load(bulk_requests(france, settings.needs, settings.offers, settings.seed, now))
    except BaseException:
        await db.dispose()
        raise
    return db, campaign


async def exercise(database: str, url: str, load: Loader,
                   reader_factory: Callable[[], Awaitable[Reader]], france: France,
                   settings: Settings, profile_pass: Callable[[datetime], Awaitable[None]],
                   ) -> Result:
    result = Result(database)
    now = datetime.now(UTC)
    start = time.perf_counter()
    db, campaign = await prepare(url, load, france, settings, now)
    try:
        rounds = len(campaign.rounds or [])
        result.load_s = time.perf_counter() - start
        print(f"{database}: migrated, campaign, {france.stations:,} stations, "
              f"{settings.needs:,} needs and {settings.offers:,} offers loaded in "
              f"{result.load_s:.1f} s")

        result.rss_before_mb = peak_rss_mb()
        start = time.perf_counter()
        ids = await match_all(db, campaign)
        result.pass_s = time.perf_counter() - start
        result.rss_after_mb = peak_rss_mb()
        result.pass_matches = len(ids)
        print(f"{database}: match_all {result.pass_s:.2f} s, {len(ids):,} matches")
        # The pass as the tick runs it most of the time: nothing new since the last one.
        start = time.perf_counter()
        again = await match_all(db, campaign)
        result.again_s = time.perf_counter() - start
        print(f"{database}: match_all again at once {result.again_s:.2f} s, "
              f"{len(again):,} matches")
        reader = await reader_factory()
        try:
            result.pass_checks = await check(reader, campaign.proxy_capacity, rounds)
            if ids:
                result.pass_tiers = await tiers(reader, min(ids), max(ids))
            result.open_needs_after = await scalar(
                reader, "SELECT count(*) FROM proxy_request WHERE kind = 'need' "
                "AND status = 'open'")
            if settings.explain:
                await explain(reader, database, campaign)
            last_pass_id = await scalar(reader, "SELECT coalesce(max(id), 0) FROM proxy_match")

            await incremental(db, campaign, france, settings, result, now)

            result.new_tiers = await tiers(reader, last_pass_id + 1, 2**62)
            result.final_checks = await check(reader, campaign.proxy_capacity, rounds)
        finally:
            await reader.close()
        if settings.profile:
            await profile_needs(db, campaign, france, settings)
    finally:
        await db.dispose()
    if settings.profile:
        await profile_pass(now)
    return result


async def profiled_pass(url: str, load: Loader, france: France, settings: Settings,
                        now: datetime, title: str) -> None:
    """--profile: the same fresh data again, in another database, and match_all under
    cProfile there (the measured pass ran without it)."""
    db, campaign = await prepare(url, load, france, settings, now)
    profile = cProfile.Profile()
    try:
        start = time.perf_counter()
        profile.enable()
        made = await match_all(db, campaign)
        profile.disable()
        print(f"--- {title}: match_all on a second copy of the fresh data, under cProfile: "
              f"{len(made):,} matches in {time.perf_counter() - start:.2f} s")
        print_profile(profile, "match_all")
    finally:
        await db.dispose()


def sqlite_loader(path: Path, france: France) -> Loader:
    async def load(requests: list[Request]) -> None:
        con = sqlite3.connect(path)
        try:
            with con:  # one transaction each
                con.executemany(f"INSERT INTO polling_station ({', '.join(STATION_COLUMNS)}) "
                                "VALUES (?, ?, ?, ?)", station_records(france))
            with con:
                con.executemany(f"INSERT INTO proxy_request ({', '.join(REQUEST_COLUMNS)}) "
                                f"VALUES ({', '.join('?' * len(REQUEST_COLUMNS))})",
                                request_records(requests, sqlite_value))
        finally:
            con.close()
    return load


async def pg_connect(database: str) -> asyncpg.Connection:
    return await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=database)


def postgres_loader(database: str, france: France) -> Loader:
    async def load(requests: list[Request]) -> None:
        con = await pg_connect(database)
        try:
            await con.copy_records_to_table("polling_station", records=station_records(france),
                                            columns=STATION_COLUMNS)
            await con.copy_records_to_table("proxy_request",
                                            records=request_records(requests, lambda t: t),
                                            columns=REQUEST_COLUMNS)
            # What autovacuum would do a minute after a bulk load; plans depend on it.
            await con.execute("VACUUM ANALYZE")
        finally:
            await con.close()
    return load


async def bench_sqlite(france: France, settings: Settings) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix="toile-bench-proxies-"))
    path, second = workdir / "proxies.db", workdir / "profiled.db"
    try:
        async def reader() -> Reader:
            return SqliteReader(path)

        async def profile_pass(now: datetime) -> None:
            await profiled_pass(sqlite_url(second), sqlite_loader(second, france), france,
                                settings, now, "sqlite")

        return await exercise("sqlite", sqlite_url(path), sqlite_loader(path, france), reader,
                              france, settings, profile_pass)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def bench_postgres(france: France, settings: Settings) -> Result:
    second = f"{PG_DATABASE}_profiled"

    async def reader() -> Reader:
        return PostgresReader(await pg_connect(PG_DATABASE))

    async def profile_pass(now: datetime) -> None:
        await recreate_pg_database(second)
        await profiled_pass(postgres_url(second), postgres_loader(second, france), france,
                            settings, now, "postgres")

    await recreate_pg_database(PG_DATABASE)
    try:
        return await exercise("postgres", postgres_url(PG_DATABASE),
                              postgres_loader(PG_DATABASE, france), reader, france, settings,
                              profile_pass)
    finally:
        for name in (PG_DATABASE, second):
            await drop_pg_database(name)


# ---- report -----------------------------------------------------------------------------------

def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(results: list[Result], settings: Settings, ref: Reference) -> None:
    print(f"\nreference, from the generated requests: the most matches possible "
          f"{ref.maximum:,} (closed form); the most same-station matches among them "
          f"{ref.station_optimum:,} (an integer program of its own); the greedy pass of old "
          f"on the same data {ref.greedy_matches:,} = {ref.greedy_matches / ref.maximum:.2%} "
          f"of the maximum, {ref.greedy_tiers.get('station', 0):,} same-station = "
          f"{ref.greedy_tiers.get('station', 0) / max(1, ref.station_optimum):.2%}, tiers "
          f"{ref.greedy_tiers}")
    print("\nfull pass: storage.proxies.match_all once on the fresh data; tiers read from the "
          "data (same station, else commune, constituency, department)")
    print(table(
        ("database", "seconds", "matches", "needs left open", *TIERS, "rule violations"),
        [(r.database, f"{r.pass_s:.2f}", f"{r.pass_matches:,}", f"{r.open_needs_after:,}",
          *(f"{r.pass_tiers.get(t, 0):,}" for t in TIERS), r.pass_checks.total)
         for r in results]))
    for r in results:
        print(f"  {r.database} checks after the pass: {vars(r.pass_checks)}; peak RSS of the "
              f"bench process {r.rss_before_mb:,.0f} MB before the pass, "
              f"{r.rss_after_mb:,.0f} MB after")
    print(f"\nincremental: {settings.new_needs} new needs, then {settings.new_offers} new "
          "offers, one at a time, with the pass's data in place")
    rows = []
    for r in results:
        for what, lat in (("create_request (need)", r.create_need), ("match_need", r.need),
                          ("create_request (offer)", r.create_offer), ("match_offer", r.offer)):
            p50, p99, top = lat.figures()
            matches = f"{lat.matched}" if lat in (r.need, r.offer) else ""
            rows.append((r.database, what, len(lat.ms), f"{p50:.2f}", f"{p99:.2f}",
                         f"{top:.2f}", matches))
    print(table(("database", "call", "calls", "p50 ms", "p99 ms", "max ms", "matches made"),
                rows))
    for r in results:
        print(f"  {r.database}: new matches by tier {r.new_tiers}; checks after everything: "
              f"{vars(r.final_checks)}")
    print()
    for r in results:
        _p50, p99, _max = r.need.figures()
        _p50, offer_p99, _max = r.offer.figures()
        clean = r.pass_checks.total == r.final_checks.total == 0
        share = r.pass_matches / max(1, ref.maximum)
        # Of the optimum's; with no same-station pair possible, none made is all of it.
        station = (r.pass_tiers.get("station", 0) / ref.station_optimum
                   if ref.station_optimum else 1.0)
        print(f"{r.database}: matches {r.pass_matches:,} / maximum {ref.maximum:,} = "
              f"{share:.2%} (target >= {MATCHES_TARGET:.1%}) {verdict(share >= MATCHES_TARGET)}; "
              f"same station {r.pass_tiers.get('station', 0):,} / optimum "
              f"{ref.station_optimum:,} = {station:.2%} (target >= {STATION_TARGET:.0%}) "
              f"{verdict(station >= STATION_TARGET)}")
        print(f"{r.database}: full pass {r.pass_s:.2f} s (target <= {PASS_TARGET_S:g} s) "
              f"{verdict(r.pass_s <= PASS_TARGET_S)}; the next pass, nothing new, "
              f"{r.again_s:.2f} s")
        print(f"{r.database}: match_need p99 {p99:.2f} ms "
              f"(target <= {MATCH_NEED_P99_TARGET_MS:g} ms) "
              f"{verdict(p99 <= MATCH_NEED_P99_TARGET_MS)}; rules (capacity, rounds) "
              f"{verdict(clean)}; match_offer p99 {offer_p99:.2f} ms (no target)")


async def main_async(databases: list[str], settings: Settings) -> None:
    france = France(settings.stations)
    touched = len({t.insee for t in france.spread(random.Random(settings.seed),
                                                  settings.needs + settings.offers)})
    constituencies = len({t.constituency for t in france.towns if t.constituency})
    print(f"{len(france.towns):,} communes ({touched:,} with a need or an offer), "
          f"{france.stations:,} polling stations (one per "
          f"{france.inhabitants_per_station:,.0f} inhabitants, at least one), "
          f"{constituencies} constituencies; {settings.needs:,} needs, {settings.offers:,} "
          f"offers, {PHONE_BANK_SHARE:.0%} from the phone bank")
    results = []
    for database in databases:
        bench = bench_sqlite if database == "sqlite" else bench_postgres
        results.append(await bench(france, settings))
    requests = bulk_requests(france, settings.needs, settings.offers, settings.seed,
                             datetime.now(UTC))
    fields = parse_campaign_file(CAMPAIGN_FILE)
    capacity = int(fields["proxy_capacity"])
    ref = reference(requests, capacity)
    dates = [r["date"] for r in fields["rounds"]]
    ref.greedy_matches, ref.greedy_tiers = greedy(requests, dates, capacity)
    report(results, settings, ref)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--needs", type=int, default=50_000)
    parser.add_argument("--offers", type=int, default=50_000)
    parser.add_argument("--stations", type=int, default=70_000,
                        help="polling stations wanted over all communes (about)")
    parser.add_argument("--new-needs", type=int, default=200)
    parser.add_argument("--new-offers", type=int, default=100)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--explain", action="store_true",
                        help="print the plans of match_need's and match_offer's queries")
    parser.add_argument("--profile", action="store_true",
                        help="after the measured figures: cProfile of more match_need calls "
                        "and of match_all on a copy of the fresh data")
    args = parser.parse_args()
    # The pass's own account of its phases and fallbacks, printed as it goes.
    logging.basicConfig(format="  %(message)s")
    logging.getLogger("storage.proxies.full_pass").setLevel(logging.INFO)
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    asyncio.run(main_async(databases, Settings(
        args.needs, args.offers, args.stations, args.new_needs, args.new_offers, args.seed,
        args.explain, args.profile)))


if __name__ == "__main__":
    main()
