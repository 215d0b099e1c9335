"""The wall's web server over real HTTP: the page, its stream, and what it refuses."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.config import Settings
from bot.wall.hub import Hub
from bot.wall.server import start_web
from storage.calling import QueueRules
from storage.contacts import import_contacts
from storage.wall.tokens import revoke_wall, wall_token
from tests.test_storage_calling import numbers_csv
from tests.test_storage_wall import call, load_with_rounds


class Wall:
    def __init__(self, url: str, hub: Hub, http: aiohttp.ClientSession) -> None:
        self.url, self.hub, self.http = url, hub, http

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.url + path) as response:
            return response.status, await response.text()


@pytest.fixture
async def wall(db, frozen_clock, i18n) -> AsyncIterator[Wall]:
    settings = Settings(bot_token="42:TEST", _env_file=None)  # type: ignore[call-arg]
    hub = Hub(db, tick=0.2, max_screens=250)
    runner = await start_web(settings, db, i18n, port=0, hub=hub)
    host, port = runner.addresses[0][:2]
    async with aiohttp.ClientSession() as http:
        yield Wall(f"http://{host}:{port}", hub, http)
    await runner.cleanup()


@pytest.fixture(scope="session")
def i18n():
    from ui.i18n import make_i18n

    return make_i18n("fr")


async def events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str]]:
    """(event, data) as the stream brings them; comments and `retry:` skipped."""
    name, data = "", ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if name:
                yield name, data
            name, data = "", ""
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = line[6:]


async def next_figures(stream: AsyncIterator[tuple[str, str]], within: float = 5.0) -> dict:
    name, data = await asyncio.wait_for(anext(stream), within)
    assert name == "figures", (name, data)
    return json.loads(data)


async def test_a_recorded_call_reaches_an_open_screen_within_seconds(db, wall, frozen_clock):
    campaign = await load_with_rounds(db)
    await import_contacts(db, campaign, numbers_csv(5))
    token = await wall_token(db, campaign, actor_id=900)
    status, page = await wall.get(f"/wall/{token}?lang=en")
    assert status == 200 and "calls today" in page and '"room": null' in page
    async with wall.http.get(f"{wall.url}/wall/{token}/events") as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        assert (await response.content.readline()) == b"retry: 3000\n"
        stream = events(response)
        first = await next_figures(stream)
        assert (first["today"], first["goal"], first["campaign"]) == (0, 2000, campaign.name)
        started = time.monotonic()
        await call(db, QueueRules.of(campaign), 1)
        assert (await next_figures(stream))["today"] == 1
        assert time.monotonic() - started < 5
        status, body = await wall.get(f"/wall/{token}/figures.json")
        assert status == 200 and json.loads(body)["today"] == 1


async def test_wrong_revoked_and_expired_tokens_get_404_and_no_figure(db, wall, frozen_clock):
    campaign = await load_with_rounds(db)
    token = await wall_token(db, campaign, actor_id=900)
    wrong = token[:-2] + ("xy" if not token.endswith("xy") else "zz")
    for path in (f"/wall/{wrong}", f"/wall/{wrong}/events", f"/wall/{wrong}/figures.json",
                 "/wall/" + "a" * 500, "/wall/%00", "/wall/"):
        status, body = await wall.get(path)
        assert status == 404, path
        assert "appels" not in body and "2000" not in body and "figures" not in body, path
    status, body = await wall.get(f"/wall/{wrong}?lang=en")
    assert "This link no longer works" in body

    async with wall.http.get(f"{wall.url}/wall/{token}/events") as response:
        stream = events(response)
        await next_figures(stream)
        new = await revoke_wall(db, campaign, actor_id=900)
        assert await asyncio.wait_for(anext(stream), 5) == ("gone", "{}")
    for path in (f"/wall/{token}", f"/wall/{token}/events", f"/wall/{token}/figures.json"):
        assert (await wall.get(path))[0] == 404
    assert (await wall.get(f"/wall/{new}"))[0] == 200

    frozen_clock.advance(days=12)  # the day after the last round
    assert (await wall.get(f"/wall/{new}"))[0] == 404
    assert (await wall.get(f"/wall/{new}/figures.json"))[0] == 404


async def test_malformed_queries_and_unknown_rooms_get_an_answer(db, wall, frozen_clock):
    campaign = await load_with_rounds(db)
    token = await wall_token(db, campaign, actor_id=900)
    for query in ("?lang=%FF%FE", "?lang=de", "?room=%ZZ&lang", "?&&&==&", "?lang=en&lang=fr",
                  "?room=" + "x" * 5000, "?room=%00", "?room=Lyon%3Cscript%3E"):
        status, body = await wall.get(f"/wall/{token}{query}")
        assert status in (200, 404) and "<script>alert" not in body, query
    status, body = await wall.get(f"/wall/{token}?room=Lyon&lang=en")
    assert status == 200 and '"room": "Lyon"' in body
    status, body = await wall.get(f"/wall/{token}?room=Bordeaux&lang=en")
    assert status == 404 and "No room called “Bordeaux” here." in body
    assert "Saint-Denis" in body and "Marseille" in body  # where to go instead
    status, body = await wall.get(f"/wall/{token}?room=%3Cb%3E")
    assert status == 404 and "<b>" not in body and "&lt;b&gt;" in body
    status, body = await wall.get(f"/wall/{token}?lang=%FF")
    assert status == 200 and 'lang="fr"' in body and "appels aujourd" in body


async def test_two_hundred_screens_share_one_computation_and_leave_cleanly(db, wall,
                                                                          frozen_clock):
    campaign = await load_with_rounds(db)
    token = await wall_token(db, campaign, actor_id=900)
    url = f"{wall.url}/wall/{token}/events"
    sessions = [aiohttp.ClientSession() for _ in range(4)]  # 50 connections each at most
    try:
        responses = await asyncio.gather(*(sessions[i % 4].get(url) for i in range(200)))
        assert {r.status for r in responses} == {200}
        firsts = await asyncio.gather(*(next_figures(events(r)) for r in responses))
        assert {f["today"] for f in firsts} == {0}
        assert wall.hub.screens == 200
        before = wall.hub.computations
        await asyncio.sleep(1.0)
        assert wall.hub.computations - before <= 6  # once a tick, not once a screen
        # More than the cap are turned away, politely.
        async with aiohttp.ClientSession() as extra:
            more = await asyncio.gather(*(extra.get(url) for _ in range(60)))
            assert sorted({r.status for r in more}) == [200, 503]
            for r in more:
                r.close()
        for response in responses:  # browsers gone mid-stream, without a word
            response.close()
    finally:
        for session in sessions:
            await session.close()
    for _ in range(200):  # each handler learns it at once; give them a moment
        if not wall.hub.screens:
            break
        await asyncio.sleep(0.1)
    assert wall.hub.screens == 0
    for _ in range(100):  # the feed ends at its next tick (a busy machine ticks later)
        if not wall.hub.feeds:
            break
        await asyncio.sleep(0.1)
    assert wall.hub.feeds == {}
    computed = wall.hub.computations
    await asyncio.sleep(0.6)
    assert wall.hub.computations == computed  # nobody watches: nothing is computed
    assert (await wall.get(f"/wall/{token}"))[0] == 200  # and the server serves on


async def wall_with_every_log(db, i18n, caplog):
    """A campaign's wall served on a free port, with every log record kept."""
    campaign = await load_with_rounds(db)
    token = await wall_token(db, campaign, actor_id=900)
    settings = Settings(bot_token="42:TEST", _env_file=None)  # type: ignore[call-arg]
    caplog.set_level(logging.DEBUG)
    runner = await start_web(settings, db, i18n, port=0, hub=Hub(db, tick=0.2))
    host, port = runner.addresses[0][:2]
    return token, runner, host, port


async def test_no_token_in_any_log_and_a_stop_does_not_wait_for_open_screens(
        db, frozen_clock, i18n, caplog):
    token, runner, host, port = await wall_with_every_log(db, i18n, caplog)
    async with aiohttp.ClientSession() as http:
        base = f"http://{host}:{port}/wall/"
        for path in (token, token + "/figures.json", "nope", token + "?room=Nowhere"):
            async with http.get(base + path) as response:
                await response.read()
        response = await http.get(base + token + "/events")
        await next_figures(events(response))
        started = time.monotonic()
        await runner.cleanup()
        assert time.monotonic() - started < 3
        response.close()
    assert caplog.records and not any(token in r.getMessage() for r in caplog.records)


async def test_an_open_screen_is_told_when_another_campaign_is_loaded(db, wall, frozen_clock):
    campaign = await load_with_rounds(db)
    token = await wall_token(db, campaign, actor_id=900)
    async with wall.http.get(f"{wall.url}/wall/{token}/events") as response:
        stream = events(response)
        await next_figures(stream)
        await load_with_rounds(db, name="Municipales 2026")  # `toile campaign load`
        assert await asyncio.wait_for(anext(stream), 5) == ("gone", "{}")
    assert (await wall.get(f"/wall/{token}"))[0] == 404


async def test_a_malformed_request_with_the_token_in_it_is_logged_without_it(
        db, frozen_clock, i18n, caplog):
    # A link pasted with a stray character, a client that does not escape its query, a
    # broken header: aiohttp refuses them with a 400 and logs the request line it quotes.
    token, runner, host, port = await wall_with_every_log(db, i18n, caplog)
    try:
        for request in (f"GET /wall/{token}\x7f HTTP/1.1", f"GET /wall/{token} HTTP/9.9",
                        f"GET /wall/{token}?lang=\xff HTTP/1.1",
                        f"GET /wall/{token}?room=Saint Denis HTTP/1.1",
                        f"GET /wall/x HTTP/1.1\r\nReferer: /wall/{token}\x01"):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request.encode("latin-1") + b"\r\n\r\n")
            assert (await asyncio.wait_for(reader.read(2000), 5)).startswith(b"HTTP/1.")
            writer.close()
    finally:
        await runner.cleanup()
    records = [r for r in caplog.records if r.name.startswith(("aiohttp", "bot.wall"))]
    assert any("Error handling request" in r.getMessage() for r in records)
    formatter = logging.Formatter()
    for record in records:
        assert token not in formatter.format(record), record.getMessage()


async def test_the_database_away_a_moment_the_screen_keeps_its_figures_and_moves_again(
        postgres_url, frozen_clock, i18n):
    # PostgreSQL restarted, or its connections cut: each pooled connection is closed by the
    # server. (SQLite is a file: it has no such moment.)
    import asyncpg
    from sqlalchemy.engine import make_url

    from tests.conftest import make_postgres

    db = await make_postgres(postgres_url)
    name = make_url(postgres_url).database
    admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    settings = Settings(bot_token="42:TEST", _env_file=None)  # type: ignore[call-arg]
    hub = Hub(db, tick=0.2)
    runner = await start_web(settings, db, i18n, port=0, hub=hub)
    host, port = runner.addresses[0][:2]
    try:
        campaign = await load_with_rounds(db)
        await import_contacts(db, campaign, numbers_csv(5))
        token = await wall_token(db, campaign, actor_id=900)
        rules = QueueRules.of(campaign)
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://{host}:{port}/wall/{token}/events") as response:
            stream = events(response)
            await next_figures(stream)
            await call(db, rules, 1)
            assert (await next_figures(stream))["today"] == 1
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = $1", name)
            computed = hub.computations
            await asyncio.sleep(1.0)  # ticks fail meanwhile: the screen hears nothing
            assert hub.computations == computed and hub.feeds[token].figures
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await call(db, rules, 1)  # the volunteers' calls go through again
            assert (await next_figures(stream))["today"] == 2
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
        await runner.cleanup()
        await db.dispose()
