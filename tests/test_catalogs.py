"""Every message the bot can say exists in French and in English, with the same blanks."""

from __future__ import annotations

import re
import subprocess
import sys

from babel.messages.pofile import read_po

from tests.conftest import ROOT
from ui.i18n import LOCALES_DIR, SUPPORTED, make_i18n

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def extracted_ids(tmp_path) -> set[str]:
    out = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    str(ROOT / "babel.cfg"), "-k", "_", "-k", "__", "-k", "MenuButton", "-k", "N_",
                    "--omit-header", "-o", str(out), str(ROOT)], check=True, cwd=ROOT,
                   capture_output=True)
    with out.open("rb") as f:
        return {m.id for m in read_po(f) if m.id}


def test_every_message_is_translated_in_french_and_english(tmp_path):
    wanted = extracted_ids(tmp_path)
    assert len(wanted) > 50
    for locale in SUPPORTED:
        with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
            catalog = {m.id: m.string for m in read_po(f, locale=locale) if m.id}
        missing = sorted(m for m in wanted if not catalog.get(m))
        assert not missing, f"{locale}: untranslated {missing}"
        for msgid in wanted:
            assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(catalog[msgid])), (
                f"{locale}: placeholders differ in {msgid!r}")


def test_catalogs_compile_and_speak_french_by_default():
    i18n = make_i18n("fr")
    assert i18n.gettext("📞 Next call", locale="fr") == "📞 Appel suivant"
    assert i18n.gettext("📞 Next call", locale="en") == "📞 Next call"
