"""The rules a request or an answer must keep, in Python: rounds as a mask of the
campaign's rounds, station and voter numbers as the official lists write them, a holder of
age. And the statuses as statements spell them, from the enums."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Any

from storage import clock, models
from storage.driver import SQL
from storage.models import Campaign, ProxyKind, ProxyMatchStatus, ProxyRequestStatus
from storage.stations import normalise_number

PROPOSAL_HOURS = 24
VOTER_NUMBER = re.compile(r"\d{8,9}")
STATION = re.compile(r"[0-9A-Z]{1,8}")
BIRTH_DATE = re.compile(r"\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})\s*")
ADULT_AGE = 18


def sql_list(*values: StrEnum) -> str:
    """Enum values as a statement's IN list: `'open', 'matched'`."""
    return ", ".join(f"'{value.value}'" for value in values)


# Statuses and kinds as statements write them (formatted into the module constants).
NEED, OFFER = (f"'{kind.value}'" for kind in (ProxyKind.NEED, ProxyKind.OFFER))
OPEN, MATCHED, REGISTERED, CANCELLED = (f"'{status.value}'" for status in (
    ProxyRequestStatus.OPEN, ProxyRequestStatus.MATCHED, ProxyRequestStatus.REGISTERED,
    ProxyRequestStatus.CANCELLED))
PROPOSED, ACCEPTED, CONFIRMED = (f"'{status.value}'" for status in (
    ProxyMatchStatus.PROPOSED, ProxyMatchStatus.ACCEPTED, ProxyMatchStatus.CONFIRMED))
MATCH_REGISTERED, DECLINED, EXPIRED, MATCH_CANCELLED = (f"'{status.value}'" for status in (
    ProxyMatchStatus.REGISTERED, ProxyMatchStatus.DECLINED, ProxyMatchStatus.EXPIRED,
    ProxyMatchStatus.CANCELLED))
# A request still in play (a need matched, or registered); a match not ended.
LIVE_REQUEST = sql_list(ProxyRequestStatus.OPEN, ProxyRequestStatus.MATCHED,
                        ProxyRequestStatus.REGISTERED)
LIVE_MATCH = sql_list(*(ProxyMatchStatus(status) for status in models.LIVE_MATCH))

# Rounds as a table, `rounds(i)` for i below `:count`; round i's date is the i-th ten
# characters of `:dates` (ISO dates one after the other, `run_of_dates`). One statement
# for any number of rounds, in either dialect, each round's slots found by the primary key.
ROUNDS = ("WITH RECURSIVE rounds(i) AS (SELECT 0 WHERE :count > 0 "
          "UNION ALL SELECT i + 1 FROM rounds WHERE i + 1 < :count) ")
ROUND_DATE = "substr(:dates, 10 * r.i + 1, 10)"


# An offer's place left in one of its own rounds (`ROUNDS` over its campaign's dates, the
# campaign's capacity). An offer with none is `matched`: the holder search skips it by its
# index, instead of counting its places; a place freed opens it again (`answers`).
def room_left(offer: str) -> str:
    """The condition, for the offer row named `offer` in the statement."""
    return (f"EXISTS (SELECT 1 FROM rounds r WHERE ({offer}.rounds_mask & (1 << r.i)) <> 0 "
            f"AND (SELECT count(*) FROM proxy_slot s WHERE s.offer_id = {offer}.id "
            f"AND s.round_date = {ROUND_DATE}) < :capacity)")


ROOM_LEFT = room_left("proxy_request")


REOPEN_FULL_OFFERS = SQL.of(
    f"UPDATE proxy_request SET status = {OPEN} WHERE campaign_id = :campaign_id "
    f"AND kind = {OFFER} AND status = {MATCHED}")


def run_of_dates(dates: Sequence[str]) -> dict[str, Any]:
    """`ROUNDS`' parameters for these dates."""
    assert all(len(d) == 10 for d in dates)  # ISO dates, as campaigns store them
    return {"count": len(dates), "dates": "".join(dates)}


class ProxyError(ValueError):
    """A request or an answer that cannot be taken; `reason` says which rule it breaks:
    "round", "station", "station_unknown", "exists", "voter_number", "minor", "birth_date",
    "state"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def round_dates(campaign: Campaign) -> list[str]:
    return [r["date"] for r in campaign.rounds or []]


def rounds_mask(campaign: Campaign, dates: Sequence[str]) -> int:
    """Bit i for the campaign's round i. A date that is not one of its rounds is refused."""
    known = round_dates(campaign)
    if not dates or any(d not in known for d in dates):
        raise ProxyError("round")
    return sum(1 << known.index(d) for d in set(dates))


def dates_of(campaign: Campaign, mask: int) -> list[str]:
    return [d for i, d in enumerate(round_dates(campaign)) if mask & (1 << i)]


def stored_rounds(rounds: Any) -> list[dict[str, str]]:
    """A campaign's `rounds` column as the driver reads it (JSON text on SQLite)."""
    if isinstance(rounds, str):
        rounds = json.loads(rounds)
    return [{str(k): str(v) for k, v in r.items()} for r in rounds or []]


def stored_dates(rounds: Any) -> list[str]:
    """The round dates of a campaign's `rounds` column as the driver reads it."""
    return [r["date"] for r in stored_rounds(rounds)]


def masked(dates: Sequence[str], mask: int) -> list[str]:
    """The dates of a mask's rounds (bit i: round i)."""
    return [d for i, d in enumerate(dates) if mask & (1 << i)]


def normalise_station(number: str) -> str:
    """As the imported lists store it ("0012" is 12, "12a" is 12A); refused if it cannot be
    a station number."""
    cleaned = normalise_number(number)
    if not STATION.fullmatch(cleaned):
        raise ProxyError("station")
    return cleaned


def check_voter_number(voter_number: str) -> str:
    """The holder's national voter number: 8 or 9 digits, on the voter card."""
    number = re.sub(r"\s+", "", voter_number)
    if not VOTER_NUMBER.fullmatch(number):
        raise ProxyError("voter_number")
    return number


def check_holder_details(campaign: Campaign, voter_number: str, birth: str) -> tuple[str, date]:
    """The holder's national voter number (8 or 9 digits, on the voter card) and date of birth
    (DD/MM/YYYY): refused if malformed, or if the holder is a minor on the first round."""
    number = check_voter_number(voter_number)
    match = BIRTH_DATE.fullmatch(birth)
    if match is None:
        raise ProxyError("birth_date")
    day, month, year = (int(g) for g in match.groups())
    try:
        born = date(year, month, day)
    except ValueError as exc:
        raise ProxyError("birth_date") from exc
    first_round = date.fromisoformat(round_dates(campaign)[0]) if campaign.rounds else (
        clock.utcnow().date())
    if born.year < 1900 or born > first_round:
        raise ProxyError("birth_date")
    age = first_round.year - born.year - ((first_round.month, first_round.day)
                                          < (born.month, born.day))
    if age < ADULT_AGE:
        raise ProxyError("minor")
    return number, born
