"""Queue priorities: the campaign's target constituencies first, in their order."""

from __future__ import annotations

from storage.models import UNTARGETED_PRIORITY, Campaign


def target_priorities(campaign: Campaign) -> dict[str, int]:
    return {name.casefold(): rank for rank, name in enumerate(campaign.target_constituencies)}


def priority(targets: dict[str, int], constituency: str | None) -> int:
    if not constituency:
        return UNTARGETED_PRIORITY
    return targets.get(constituency.casefold(), UNTARGETED_PRIORITY)
