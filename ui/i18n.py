"""Message catalogs: French first, English complete.

The catalogs are the `.po` files under locales/, compiled at start-up into a temporary
folder: there is no build step to forget and no binary `.mo` file to keep in sync.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
SUPPORTED = ("fr", "en")


def compile_catalogs(source: Path = LOCALES_DIR, domain: str = DOMAIN) -> Path:
    """Compile every `<locale>/LC_MESSAGES/<domain>.po` into `.mo` files in a fresh folder."""
    target = Path(tempfile.mkdtemp(prefix="toile-locales-"))
    atexit.register(shutil.rmtree, target, ignore_errors=True)
    for po_path in sorted(source.glob(f"*/LC_MESSAGES/{domain}.po")):
        locale = po_path.parent.parent.name
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=locale)
        mo_path = target / locale / "LC_MESSAGES" / f"{domain}.mo"
        mo_path.parent.mkdir(parents=True)
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog)
    return target


def make_i18n(default_locale: str = "fr") -> I18n:
    return I18n(path=compile_catalogs(), default_locale=default_locale, domain=DOMAIN)


def N_(msgid: str) -> str:
    """Marks a message for the catalogs; it is translated later, where it is shown."""
    return msgid


def pick_locale(language_code: str | None, default: str) -> str:
    """The person's language if we speak it ("fr-CA" counts as fr), else the default."""
    if language_code:
        base = language_code.split("-")[0].lower()
        if base in SUPPORTED:
            return base
    return default
