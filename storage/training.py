"""The campaign file's [practice] and [trust] sections:

    [practice]
    calls_required = 1         # practice cards before the first real one (0: optional)
    [trust]
    cards_per_hour = 20        # cards a volunteer not yet trusted gets an hour ...
    cards_per_day = 60         # ... and a day
    calls_to_trust = 40        # recorded calls without a pause after which trust comes
"""

from __future__ import annotations

from typing import Any

PRACTICE_MAX = 10  # practice cards one may be asked to make: more is a typo
LIMIT_MAX = 10_000

_PRACTICE = {"calls_required": "practice_calls_required"}
_TRUST = {"cards_per_hour": "untrusted_cards_per_hour",
          "cards_per_day": "untrusted_cards_per_day", "calls_to_trust": "calls_to_trust"}


def _number(value: Any, where: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{where} must be a whole number from {low} to {high:,}, "
                         f"got {value!r}")
    return value


def _known(section: dict[str, Any], name: str, keys: dict[str, str]) -> None:
    unknown = sorted(set(section) - set(keys))
    if unknown:
        raise ValueError(f"[{name}] knows {', '.join(keys)}, not {', '.join(unknown)}")


def parse_training(practice: dict[str, Any], trust: dict[str, Any]) -> dict[str, int]:
    """The Campaign fields the file gives; those it leaves out keep their defaults (or, on a
    campaign loaded again, the values it had). Raises ValueError with what to fix."""
    _known(practice, "practice", _PRACTICE)
    _known(trust, "trust", _TRUST)
    found: dict[str, int] = {}
    if "calls_required" in practice:
        found["practice_calls_required"] = _number(
            practice["calls_required"], "practice.calls_required", 0, PRACTICE_MAX)
    for key, field in _TRUST.items():
        if key in trust:
            found[field] = _number(trust[key], f"trust.{key}", 1, LIMIT_MAX)
    hour = found.get("untrusted_cards_per_hour")
    day = found.get("untrusted_cards_per_day")
    if hour is not None and day is not None and hour > day:
        raise ValueError("trust.cards_per_hour cannot be more than trust.cards_per_day")
    return found
