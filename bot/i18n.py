"""Message catalogs: French first, English complete.

The catalogs are the `.po` files under locales/, compiled in memory at start-up: there is no
build step to forget and no binary `.mo` file to keep in sync.
"""

from __future__ import annotations

import gettext
import io
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
SUPPORTED = ("fr", "en")


def compile_catalogs(path: Path = LOCALES_DIR, domain: str = DOMAIN) -> dict[
        str, gettext.GNUTranslations]:
    translations: dict[str, gettext.GNUTranslations] = {}
    for po_path in sorted(path.glob(f"*/LC_MESSAGES/{domain}.po")):
        locale = po_path.parent.parent.name
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        translations[locale] = gettext.GNUTranslations(buffer)
    return translations


def make_i18n(default_locale: str = "fr") -> I18n:
    # Not a subclass: aiogram finds the current I18n through a context variable of the
    # I18n class itself, which a subclass would not share.
    i18n = I18n(path=LOCALES_DIR, default_locale=default_locale, domain=DOMAIN)
    i18n.locales = compile_catalogs()
    return i18n


def pick_locale(language_code: str | None, default: str) -> str:
    """The person's language if we speak it ("fr-CA" counts as fr), else the default."""
    if language_code:
        base = language_code.split("-")[0].lower()
        if base in SUPPORTED:
            return base
    return default
