"""The wall's figures, computed once a tick and shared by every open screen.

One feed per token in use: its task computes the campaign's figures every `tick` seconds
while at least one screen listens, and stops when the last one leaves. Each screen waits
for the next version and writes the same encoded bytes: 200 screens cost one computation
a tick and 200 small writes, not 200 queries. The day's top callers, the dearest figure,
are read every RANKING_SECONDS only. A token that stops opening its campaign
(revoked, the campaign over) ends its feed, and its screens are told."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from storage.database import Database
from storage.models import Campaign
from storage.wall.figures import TopCallers, top_callers, top_still_holds, wall_figures
from storage.wall.tokens import open_wall

log = logging.getLogger(__name__)

TICK_SECONDS = 2.0
# A busy database ticks less often (the figures take a tenth of the time at most), but
# never so seldom that a call would take more than 5 s to show.
LONGEST_TICK = 3.5
# The day's top callers are the dearest figure and move slowly: read every 30 s.
RANKING_SECONDS = 30.0
MAX_SCREENS = 500  # a campaign's rooms and then some; each is a socket and a coroutine


class TooManyScreens(Exception):
    pass


@dataclass(eq=False)
class Feed:
    token: str
    campaign: Campaign
    screens: int = 0
    version: int = 0
    figures: bytes = b""  # the latest figures, JSON
    event: bytes = b""  # the same, as one server-sent event
    gone: bool = False  # the token no longer opens the campaign
    top: TopCallers | None = None  # the top callers, read at `top_at`
    top_at: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    running: bool = False

    def publish(self, figures: bytes | None = None) -> None:
        if figures is not None:
            self.figures = figures
            self.event = b"event: figures\ndata: " + figures + b"\n\n"
        self.version += 1
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


def encode(name: str, data: object) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class Hub:
    def __init__(self, db: Database, *, tick: float = TICK_SECONDS,
                 max_screens: int = MAX_SCREENS,
                 ranking_seconds: float = RANKING_SECONDS) -> None:
        self.db = db
        self.tick = tick
        self.ranking_seconds = ranking_seconds
        self.max_screens = max_screens
        self.feeds: dict[str, Feed] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False
        self.computations = 0  # figures computed since the start: the tests count them
        self.computing_seconds = 0.0  # and the time they took, for the bench

    @property
    def screens(self) -> int:
        return sum(feed.screens for feed in self.feeds.values())

    @contextlib.asynccontextmanager
    async def listen(self, token: str, campaign: Campaign) -> AsyncIterator[Feed]:
        """A screen's place on the campaign's feed, for as long as it stays."""
        if self.screens >= self.max_screens:
            raise TooManyScreens
        feed = self.feeds.get(token)
        if feed is None or feed.gone:
            feed = self.feeds[token] = Feed(token, campaign)
        feed.screens += 1
        if not feed.running:
            feed.running = True
            task = asyncio.create_task(self._run(feed))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        try:
            yield feed
        finally:
            feed.screens -= 1

    async def _run(self, feed: Feed) -> None:
        try:
            while feed.screens and not self.closing:
                started = time.monotonic()
                await self._refresh(feed)
                if feed.gone:
                    return
                spent = time.monotonic() - started
                period = min(max(self.tick, spent * 10), max(self.tick, LONGEST_TICK))
                await asyncio.sleep(max(period - spent, 0.0))
        finally:
            feed.running = False
            if self.feeds.get(feed.token) is feed and (not feed.screens or feed.gone):
                del self.feeds[feed.token]

    async def _refresh(self, feed: Feed) -> None:
        started = time.perf_counter()
        try:
            campaign = await open_wall(self.db, feed.token)
            if campaign is None:
                feed.gone = True
                feed.publish()
                return
            # Read again at its time, at midnight, or when someone it names has left the
            # rankings or erased themselves: they leave the screen within a tick.
            if (feed.top is None or time.monotonic() - feed.top_at >= self.ranking_seconds
                    or not await top_still_holds(self.db, campaign, feed.top)):
                feed.top, feed.top_at = await top_callers(self.db, campaign), time.monotonic()
            figures = await wall_figures(self.db, campaign, top=feed.top)
        except Exception:  # the database away a moment: the screens keep the last figures
            log.warning("could not compute the wall's figures", exc_info=True)
            return
        self.computations += 1
        self.computing_seconds += time.perf_counter() - started
        feed.campaign = campaign
        data = json.dumps(figures.as_json(), ensure_ascii=False).encode()
        if data != feed.figures:
            feed.publish(data)

    async def close(self) -> None:
        """The server stops: every screen's stream ends (the pages reconnect by themselves
        when the bot is back)."""
        self.closing = True
        for feed in list(self.feeds.values()):
            feed.publish()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
