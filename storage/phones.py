"""Phone numbers: parse what people type or export into E.164, the only form stored."""

from __future__ import annotations

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


def for_display(e164: str) -> str:
    """International format with spaces ("+33 6 12 34 56 78"): readable, and tappable."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
