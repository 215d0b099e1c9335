"""Refresh the catalogs from the code: extract messages, merge them into fr and en.

    python locales/update_catalogs.py

New French messages come out empty (fuzzy-free) for a translator to fill in; English
messages are their own translation. The test suite fails while any message is missing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEMPLATE = HERE / "messages.pot"


def extract() -> Catalog:
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(ROOT / "babel.cfg"),
         "-k", "_", "-k", "__", "-k", "MenuButton", "-k", "N_", "--no-location", "--sort-output",
         "--omit-header", "-o", str(TEMPLATE), str(ROOT)],
        check=True, cwd=ROOT, capture_output=True)
    with TEMPLATE.open("rb") as f:
        return read_po(f)


def merge(template: Catalog, locale: str) -> None:
    path = HERE / locale / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    old: dict[str, str] = {}
    if path.exists():
        with path.open("rb") as f:
            old = {m.id: m.string for m in read_po(f, locale=locale) if m.id}
    catalog = Catalog(locale=locale, project="Toile", charset="utf-8", fuzzy=False)
    for message in template:
        if not message.id:
            continue
        string = old.get(message.id) or (message.id if locale == "en" else "")
        catalog.add(message.id, string)
    with path.open("wb") as f:
        write_po(f, catalog, omit_header=False, sort_output=True, width=100)


if __name__ == "__main__":
    template = extract()
    for locale in ("fr", "en"):
        merge(template, locale)
