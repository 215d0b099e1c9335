"""The spider's web: invite codes, who brought whom, pledges, nudges, and the web's counts;
each concern a module, everything importable from here."""

from storage.web.figures import LEADERBOARD_SIZE, WebStats, growth_days, web_stats
from storage.web.links import (
    CODE_BYTES,
    GOAL,
    PAYLOAD,
    Attribution,
    Progress,
    attribute_referral,
    invite_code,
    new_invite_code,
    progress,
    set_leaderboard_opt_out,
)
from storage.web.nudges import NEVER, NUDGE_BATCH, plan_nudges
from storage.web.pledges import (
    MAX_NAME,
    PledgeError,
    confirm_pledge_round,
    parse_pledge_names,
    plan_pledge_reminders,
    pledge_names,
    reminder_stale,
    round_to_remind,
    save_pledge,
)

__all__ = [
    "CODE_BYTES", "GOAL", "LEADERBOARD_SIZE", "MAX_NAME", "NEVER", "NUDGE_BATCH", "PAYLOAD",
    "Attribution", "PledgeError", "Progress", "WebStats", "attribute_referral",
    "confirm_pledge_round", "growth_days", "invite_code", "new_invite_code",
    "parse_pledge_names", "plan_nudges", "plan_pledge_reminders", "pledge_names", "progress",
    "reminder_stale", "round_to_remind", "save_pledge", "set_leaderboard_opt_out", "web_stats",
]
