"""A Paris volunteer on a winter morning, and a Guadeloupe supporter still asleep."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from storage.contacts import import_contacts
from storage.users import decide_volunteer, mark_trained
from tests.conversation import ORGANIZER_ID

# Guadeloupe is the campaign's first target here: without local hours she would come first.
CONTACTS = (
    "telephone,prenom,circonscription\n"
    "+590690301122,Maryse,Seine-Saint-Denis 1\n"
    "+33612345678,Fabrice,Rhône 3\n"
)


async def test_a_winter_morning_in_paris_calls_the_metropole_first(db, campaign, harness,
                                                                     frozen_clock):
    await import_contacts(db, campaign, io.BytesIO(CONTACTS.encode()))
    await decide_volunteer(db, 101, True, actor_id=ORGANIZER_ID)
    await mark_trained(db, 101)
    camille = harness.person(101, "Camille", "en")
    frozen_clock.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 09:00 Paris, 04:00 Pointe-à-Pitre

    await camille.send("/call")
    card = camille.last().text
    assert "Fabrice" in card and "+33612345678" in card
    assert "+590690301122" not in card
    await camille.press("Will vote")
    await camille.press("Next call")
    assert "Nobody left to call right now" in camille.last().text  # Maryse sleeps on

    frozen_clock.now = datetime(2026, 12, 1, 12, 59, tzinfo=UTC)  # 13:59 Paris, 08:59 there
    await camille.press("Next call")
    assert "Nobody left to call right now" in camille.last().text
    frozen_clock.now = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 14:00 Paris, 09:00 there
    await camille.press("Next call")
    assert "Maryse" in camille.last().text and "+590690301122" in camille.last().text


async def test_stats_say_how_many_wait_for_their_local_hours(db, campaign, harness,
                                                             frozen_clock):
    await import_contacts(db, campaign, io.BytesIO(CONTACTS.encode()))
    organizer = harness.person(ORGANIZER_ID, "Orga", "fr")
    frozen_clock.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    await organizer.send("/stats")
    assert ("Contacts restant à appeler : 2 (dont 1 attendent les heures d'appel chez eux)"
            in organizer.last().text)
    frozen_clock.now = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    await organizer.send("/stats")
    assert "Contacts restant à appeler : 2\n" in organizer.last().text  # Maryse is up
