"""The wall's daily goals, as the campaign file gives them:

    [wall]
    daily_goal = 2000          # the day's calls aimed at, all rooms together
    [wall.rooms]
    "Saint-Denis" = 800        # a room's own bar
"""

from __future__ import annotations

from typing import Any

GOAL_MAX = 1_000_000  # a day's calls no campaign reaches: a typo, not a goal
ROOM_MAX = 60  # a shift's room (storage.models.Shift.room)


def _goal(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= GOAL_MAX:
        raise ValueError(f"{where} must be a whole number of calls from 1 to {GOAL_MAX:,}, "
                         f"got {value!r}")
    return value


def parse_wall(section: dict[str, Any]) -> dict[str, Any]:
    """The Campaign fields of a [wall] section: no goal is 0, no room goal an empty table.
    Raises ValueError with what to fix."""
    unknown = sorted(set(section) - {"daily_goal", "rooms"})
    if unknown:
        raise ValueError(f"[wall] knows daily_goal and [wall.rooms], not {', '.join(unknown)}")
    daily = _goal(section["daily_goal"], "wall.daily_goal") if "daily_goal" in section else 0
    rooms = section.get("rooms", {})
    if not isinstance(rooms, dict):
        raise ValueError('[wall.rooms] must be a table of rooms: "Saint-Denis" = 800')
    goals: dict[str, int] = {}
    for room, value in rooms.items():
        name = str(room).strip()
        if not name or len(name) > ROOM_MAX:
            raise ValueError(f"wall.rooms: a room's name has 1 to {ROOM_MAX} characters, "
                             f"got {room!r}")
        goals[name] = _goal(value, f"wall.rooms.{name}")
    return {"daily_goal": daily, "room_goals": goals}
