"""Loading a campaign: created or updated by name, the only active one, read back whole."""

from __future__ import annotations

import io

from storage.campaigns import active_campaign, campaign_by_name, load_campaign
from storage.contacts import import_contacts
from storage.driver import SQL
from storage.models import UNTARGETED_PRIORITY

PRIORITIES = SQL.of("SELECT constituency, priority FROM contact ORDER BY id")


async def test_a_file_that_leaves_out_a_queue_setting_keeps_the_campaign_s_value(db):
    await load_campaign(db, {"name": "Municipales", "script": "Bonjour", "max_attempts": 5,
                             "talking_points": [{"title": "Eau", "text": "Régie publique"}]})
    campaign, created = await load_campaign(db, {"name": "Municipales", "script": "Salut"})
    assert not created
    assert (campaign.script, campaign.max_attempts) == ("Salut", 5)
    assert campaign.talking_points == [{"title": "Eau", "text": "Régie publique"}]
    assert await campaign_by_name(db, "Municipales") == campaign


async def test_the_campaign_loaded_last_is_the_only_active_one(db):
    first, _ = await load_campaign(db, {"name": "Municipales", "script": "Bonjour"})
    second, _ = await load_campaign(db, {"name": "Européennes", "script": "Bonjour"})
    assert (await active_campaign(db)).id == second.id
    again, created = await load_campaign(db, {"name": "Municipales", "script": "Bonjour"})
    assert not created and again.id == first.id and again.active
    assert (await active_campaign(db)).id == first.id
    assert not (await campaign_by_name(db, "Européennes")).active


async def test_a_new_target_list_reorders_the_contacts_already_imported(db):
    campaign, _ = await load_campaign(db, {"name": "Municipales", "script": "Bonjour",
                                           "target_constituencies": ["Rhône 3"]})
    await import_contacts(db, campaign, io.BytesIO(
        "telephone;circonscription\n0612345678;RHÔNE 3\n0612345679;Rhône 4\n"
        "0612345680;\n".encode()))
    await load_campaign(db, {"name": "Municipales", "script": "Bonjour",
                             "target_constituencies": ["Rhône 4", "Rhône 3"]})
    async with db.fast_read() as tx:
        rows = [tuple(row) for row in await tx.all(PRIORITIES)]
    assert rows == [("RHÔNE 3", 1), ("Rhône 4", 0), (None, UNTARGETED_PRIORITY)]
