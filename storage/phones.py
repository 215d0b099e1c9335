"""Phone numbers: parse what people type or export into E.164, the only form stored."""

from __future__ import annotations

import asyncio
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from functools import lru_cache
from multiprocessing import get_context
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as number_zones
from phonenumbers.tzdata import TIMEZONE_DATA

# French overseas departments dial as their own regions: a 0690 number in Guadeloupe is not
# a metropolitan one. Their postal codes tell which.
OVERSEAS_POSTAL_PREFIXES = {
    "971": "GP", "972": "MQ", "973": "GF", "974": "RE", "975": "PM", "976": "YT",
}


# The zone of each French region outside the metropole that dials as its own region: the
# number or the postal code tells it, where phonenumbers' data gives Réunion and Mayotte one
# list for both (+262).
OVERSEAS_ZONES = {
    "GP": "America/Guadeloupe", "MQ": "America/Martinique", "GF": "America/Cayenne",
    "RE": "Indian/Reunion", "YT": "Indian/Mayotte", "PM": "America/Miquelon",
    "BL": "America/St_Barthelemy", "MF": "America/Marigot", "WF": "Pacific/Wallis",
    "NC": "Pacific/Noumea",
}
# A contact's zone when neither its number nor its postal code tells one clock: the
# campaign's own (a country with several zones, an unknown prefix).
CAMPAIGN_ZONE = ""
# Every zone a contact can be given: the queue computes which of them are open now.
ZONES = frozenset(OVERSEAS_ZONES.values()) | frozenset(
    zone for zones in TIMEZONE_DATA.values() for zone in zones if "/" in zone
    and not zone.startswith("Etc/"))
# Two instants that tell zones apart by their offsets in winter and in summer.
_SEASONS = (datetime(2026, 1, 15, 12, tzinfo=UTC), datetime(2026, 7, 15, 12, tzinfo=UTC))


def region_for(postal_code: str | None, default: str = "FR") -> str:
    if postal_code:
        code = postal_code.strip()
        if len(code) == 5 and code[:3] in OVERSEAS_POSTAL_PREFIXES:
            return OVERSEAS_POSTAL_PREFIXES[code[:3]]
    return default


@lru_cache(maxsize=4096)
def _one_clock(zones: tuple[str, ...]) -> str:
    """The zone of a list whose zones all keep the same time (London and Jersey), else the
    campaign's: one list for a country with several clocks does not say which."""
    known = sorted(zone for zone in zones if zone in ZONES)
    if not known or len(known) < len(zones):
        return CAMPAIGN_ZONE
    offsets = {tuple(instant.astimezone(ZoneInfo(zone)).utcoffset() for instant in _SEASONS)
               for zone in known}
    return known[0] if len(offsets) == 1 else CAMPAIGN_ZONE


def zone_for(number: phonenumbers.PhoneNumber, postal_code: str | None) -> str:
    """Where the contact's clock is: an overseas postal code says where they live (a
    metropolitan mobile in Cayenne), else the number's region or its prefix's zones."""
    by_postal_code = region_for(postal_code, "")
    if by_postal_code:
        return OVERSEAS_ZONES[by_postal_code]
    if number.country_code == 33:  # the metropole, most of any French list: no lookup
        return "Europe/Paris"
    region = phonenumbers.region_code_for_number(number)
    if region in OVERSEAS_ZONES:
        return OVERSEAS_ZONES[region]
    return _one_clock(tuple(number_zones.time_zones_for_number(number)))


def zone_of_e164(phone: str, postal_code: str | None) -> str:
    """zone_for a stored (E.164) number."""
    try:
        return zone_for(phonenumbers.parse(phone, None), postal_code)
    except phonenumbers.NumberParseException:
        return CAMPAIGN_ZONE


def parse_contact(raw: str, postal_code: str | None) -> tuple[str, str] | None:
    """E.164 form and zone of a valid number from a contacts file, or None."""
    try:
        number = phonenumbers.parse(raw, region_for(postal_code))
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return (phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
            zone_for(number, postal_code))


def to_e164(raw: str, region: str = "FR") -> str | None:
    """E.164 form of a valid number, or None."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


Parsed = tuple[str, str] | None  # E.164 form and zone, or None: not a valid number


def normalise_batch(raw_phones: list[str], postal_codes: list[str | None]) -> list[Parsed]:
    """E.164 forms and zones (or None) of a batch; a module function, so a worker process
    can run it."""
    return [parse_contact(raw, code) for raw, code in zip(raw_phones, postal_codes,
                                                          strict=True)]


class PhoneNormaliser:
    """Normalises batches of numbers inline, or in one worker process so that parsing (the
    importer's biggest cost) runs beside reading the file and writing the database."""

    def __init__(self, parallel: bool) -> None:
        self.parallel = parallel
        self._pool: ProcessPoolExecutor | None = None

    async def __aenter__(self) -> PhoneNormaliser:
        if self.parallel:
            # spawn, not fork: the parent runs an event loop and database threads.
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, raw_phones: list[str],
               records: list[dict[str, Any]]) -> asyncio.Future[list[Parsed]]:
        postal_codes = [record.get("postal_code") for record in records]
        loop = asyncio.get_running_loop()
        if self._pool is None:
            future: asyncio.Future[list[Parsed]] = loop.create_future()
            future.set_result(normalise_batch(raw_phones, postal_codes))
            return future
        return asyncio.wrap_future(self._pool.submit(normalise_batch, raw_phones, postal_codes))
