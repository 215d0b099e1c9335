"""Phone numbers: parse what people type or export into E.164, the only form stored."""

from __future__ import annotations

import asyncio
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import phonenumbers

# French overseas departments dial as their own regions: a 0690 number in Guadeloupe is not
# a metropolitan one. Their postal codes tell which.
OVERSEAS_POSTAL_PREFIXES = {
    "971": "GP", "972": "MQ", "973": "GF", "974": "RE", "975": "PM", "976": "YT",
}


def region_for(postal_code: str | None, default: str = "FR") -> str:
    if postal_code:
        code = postal_code.strip()
        if len(code) == 5 and code[:3] in OVERSEAS_POSTAL_PREFIXES:
            return OVERSEAS_POSTAL_PREFIXES[code[:3]]
    return default


def to_e164(raw: str, region: str = "FR") -> str | None:
    """E.164 form of a valid number, or None."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_batch(raw_phones: list[str], postal_codes: list[str | None]) -> list[str | None]:
    """E.164 forms (or None) of a batch; a module function, so a worker process can run it."""
    return [to_e164(raw, region_for(code)) for raw, code in zip(raw_phones, postal_codes,
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
               records: list[dict[str, Any]]) -> asyncio.Future[list[str | None]]:
        postal_codes = [record.get("postal_code") for record in records]
        loop = asyncio.get_running_loop()
        if self._pool is None:
            future: asyncio.Future[list[str | None]] = loop.create_future()
            future.set_result(normalise_batch(raw_phones, postal_codes))
            return future
        return asyncio.wrap_future(self._pool.submit(normalise_batch, raw_phones, postal_codes))
