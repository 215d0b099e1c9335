"""The active campaign, read once every few seconds rather than on every tap."""

from __future__ import annotations

import time

from storage.calling import QueueRules
from storage.campaigns import active_campaign
from storage.database import Database
from storage.models import Campaign


class CampaignCache:
    def __init__(self, db: Database, ttl: float = 30.0) -> None:
        self.db = db
        self.ttl = ttl
        self._campaign: Campaign | None = None
        self._read_at = float("-inf")

    async def get(self) -> Campaign | None:
        if time.monotonic() - self._read_at > self.ttl:
            self._campaign = await active_campaign(self.db)
            self._read_at = time.monotonic()
        return self._campaign

    async def rules(self) -> QueueRules | None:
        campaign = await self.get()
        return QueueRules.of(campaign) if campaign else None
