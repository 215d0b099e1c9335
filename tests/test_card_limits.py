"""A contact card holds whatever the campaign file and the list accepted: the longest
script and talking points a campaign may load, and a contact whose fields are as long as
the import takes, still make a card Telegram accepts (the fake enforces its limits)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from storage.campaigns import CampaignFileError, load_campaign, parse_campaign_file
from storage.contacts import MAX_FIELD, import_contacts
from storage.users import decide_volunteer
from tests.conversation import ORGANIZER_ID
from tests.test_calling_conversation import ready_volunteer

SCRIPT_MAX = 2000
POINTS_MAX = 10
TITLE_MAX = 40
POINT_TEXT_MAX = 1000


def campaign_file(tmp_path: Path, script: str, points: list[tuple[str, str]]) -> Path:
    text = f'[campaign]\nname = "Big"\n[script]\ntext = """{script}"""\n'
    for title, body in points:
        text += f'[[talking_points]]\ntitle = "{title}"\ntext = """{body}"""\n'
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("script", "points", "complaint"), [
    ("é" * (SCRIPT_MAX + 1), [], "the script is 2001 characters long; a card takes 2000"),
    # Each {contact} and {volunteer} becomes a first name, up to 64 characters.
    ("{contact} " * 200, [], "the script is 12999 characters long"),  # stripped
    ("Bonjour", [("T" * (TITLE_MAX + 1), "text")],
     "talking point 1: its title is a button, 40 characters at most"),
    ("Bonjour", [("T", "x" * (POINT_TEXT_MAX + 1))],
     "talking point 1: its text is 1001 characters long; a card takes 1000"),
    ("Bonjour", [(f"T{i}", "x") for i in range(POINTS_MAX + 1)],
     "11 talking points; a card's buttons take 10"),
])
def test_a_campaign_file_a_card_could_not_hold_is_explained(tmp_path, script, points,
                                                            complaint):
    with pytest.raises(CampaignFileError) as caught:
        parse_campaign_file(campaign_file(tmp_path, script, points))
    assert complaint in str(caught.value)


async def test_the_fullest_card_still_fits(db, harness, frozen_clock, tmp_path):
    # At the limits, as Telegram counts (UTF-16: 🗳 counts two), names at their longest.
    opening = "Bonjour {contact}, je m'appelle {volunteer}. "
    script = opening + "🗳" * ((SCRIPT_MAX - len(opening) - 2 * (64 - 10)) // 2)
    points = [(f"{i} " + "T" * (TITLE_MAX - 2), "🗳" * (POINT_TEXT_MAX // 2))
              for i in range(POINTS_MAX)]
    campaign, _ = await load_campaign(db, parse_campaign_file(
        campaign_file(tmp_path, script, points)))
    field = "🗳" * (MAX_FIELD // 2)  # 1,000 UTF-16 code units each
    csv = ("prénom;nom;téléphone;circonscription;commune;code_postal;bureau_de_vote;tags\n"
           f"{field};{field};06 12 34 56 78;{field};{field};93200;12;{field}\n")
    report = await import_contacts(db, campaign, io.BytesIO(csv.encode()),
                                   source_label="S" * MAX_FIELD)
    assert report.imported == 1

    camille = await ready_volunteer(db, harness, 101, "C" * 64)
    await camille.send("/call")
    card = camille.last()
    assert "+33612345678" in card.text and "🗳🗳" in card.text
    await camille.press("💬 9 ", card)  # the last talking point, in the card
    shown = next(m for m in camille.chat() if m.message_id == card.message_id)
    assert shown.edits == 1 and shown.text.endswith("🗳" * (POINT_TEXT_MAX // 2))
    await camille.press("No answer", card)
    assert camille.sees("Recorded, thank you!")

    # Before their first call a volunteer reads the script, filled in, in the training card.
    samir = harness.person(102, "S" * 64, "en")
    await decide_volunteer(db, 102, True, actor_id=ORGANIZER_ID)
    await samir.send("/call")
    assert samir.sees("Before your first call")
