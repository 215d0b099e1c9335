"""The phone-bank queue: hand out one contact at a time, record outcomes, take cards back.

By concern: `queue` hands cards out (the claim and the wake-up before it), `outcomes`
records them, `guard` is the harvest guard (pauses, held "do not call" presses), `leases`
takes back cards left to expire, `calls` is what closing a card writes (the call log, the
do-not-call list), `rules` what the queue needs of a campaign.
"""

from storage.calling.guard import PauseReason, pause_volunteer, take_cards_back
from storage.calling.leases import ExpiredLease, expire_leases
from storage.calling.outcomes import Recorded, RecordResult, record_outcome
from storage.calling.queue import (
    CLAIM,
    WAKE_DUE,
    Card,
    assign_next_contact,
    current_card,
    held_card,
)
from storage.calling.rules import QueueRules
from storage.calling.trust import CardLimitReached, trust_in

__all__ = ["CLAIM", "WAKE_DUE", "Card", "CardLimitReached", "ExpiredLease", "PauseReason",
           "QueueRules", "RecordResult", "Recorded", "assign_next_contact", "current_card",
           "expire_leases", "held_card", "pause_volunteer", "record_outcome", "take_cards_back",
           "trust_in"]
