"""What the queue needs of a campaign."""

from __future__ import annotations

from dataclasses import dataclass

from storage.models import Campaign
from storage.silence import Silence, silences


@dataclass(frozen=True)
class QueueRules:
    """What the queue needs of a campaign (a plain value, safe to cache between updates)."""

    campaign_id: int
    lease_minutes: int = 15
    retry_delay_minutes: int = 120
    max_attempts: int = 3
    skip_limit_per_hour: int = 10
    card_limit_per_hour: int = 40
    # Calling hours, applied in each contact's own zone (storage.calling.hours).
    calling_start: str = "09:00"
    calling_end: str = "21:00"
    silences: tuple[Silence, ...] = ()  # no card is handed out during them
    # Graduated trust (storage.calling.trust).
    untrusted_cards_per_hour: int = 20
    untrusted_cards_per_day: int = 60
    calls_to_trust: int = 40

    @classmethod
    def of(cls, campaign: Campaign) -> QueueRules:
        assert campaign.id is not None
        return cls(campaign.id, campaign.lease_minutes, campaign.retry_delay_minutes,
                   campaign.max_attempts, campaign.skip_limit_per_hour,
                   campaign.card_limit_per_hour, campaign.calling_start,
                   campaign.calling_end, tuple(silences(campaign)),
                   campaign.untrusted_cards_per_hour, campaign.untrusted_cards_per_day,
                   campaign.calls_to_trust)

    @property
    def dnc_at_once_per_hour(self) -> int:
        """"Do not call" presses applied without an organizer, an hour: a quarter of the
        cards anyone can go through (most answered calls are not refusals)."""
        return max(1, self.card_limit_per_hour // 4)
