"""The electoral silence in storage: one rule (storage.silence), read from the campaign file,
and what each part of storage does with it, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.broadcasts import create_broadcast, start_due
from storage.calling import QueueRules, assign_next_contact
from storage.campaigns import CampaignFileError, load_campaign, parse_campaign_file
from storage.outbox import Notice, NoticeKind, claim_due, enqueue
from storage.silence import next_silence, outside_silence, silence_at
from storage.users import Profile, ensure_user
from storage.web import plan_nudges
from tests.conftest import ROOT
from tests.test_calling_conversation import load_contacts

EVE_MIDNIGHT = datetime(2024, 6, 28, 22, 0, tzinfo=UTC)  # Saturday 29/06 00:00 in Paris
POLLS_CLOSE = datetime(2024, 6, 30, 18, 0, tzinfo=UTC)  # Sunday 30/06 20:00 in Paris
SECOND = timedelta(seconds=1)


def campaign_file(tmp_path, rounds: str):
    example = (ROOT / "examples" / "campaign.toml").read_text(encoding="utf-8")
    start = example.index("[[rounds]]")
    end = example.index("[proxies]")
    path = tmp_path / "campaign.toml"
    path.write_text(example[:start] + rounds + "\n" + example[end:], encoding="utf-8")
    return path


def test_the_silence_runs_from_midnight_on_the_eve_until_the_polls_close(tmp_path):
    from storage.models import Campaign

    campaign = Campaign(**parse_campaign_file(ROOT / "examples" / "campaign.toml"))
    assert silence_at(campaign, EVE_MIDNIGHT - SECOND) is None  # Friday 23:59:59
    silence = silence_at(campaign, EVE_MIDNIGHT)
    assert silence is not None and silence.round_name == "Premier tour"
    assert (silence.starts_at, silence.ends_at) == (EVE_MIDNIGHT, POLLS_CLOSE)
    assert silence_at(campaign, POLLS_CLOSE - SECOND) == silence
    assert silence_at(campaign, POLLS_CLOSE) is None  # 20:00: the polls are closed
    assert next_silence(campaign, EVE_MIDNIGHT - timedelta(days=3)) == silence
    assert next_silence(campaign, POLLS_CLOSE).round_name == "Second tour"
    assert outside_silence(campaign, EVE_MIDNIGHT) == POLLS_CLOSE
    assert outside_silence(campaign, POLLS_CLOSE) == POLLS_CLOSE


def test_a_round_whose_polls_close_at_19_ends_its_silence_then(tmp_path):
    from storage.models import Campaign

    fields = parse_campaign_file(campaign_file(tmp_path, (
        '[[rounds]]\nname = "Premier tour"\ndate = 2024-06-30\npolls_close = 19:00:00\n'
        '[[rounds]]\nname = "Second tour"\ndate = 2024-07-07\n')))
    assert [r["polls_close"] for r in fields["rounds"]] == ["19:00", "20:00"]
    campaign = Campaign(**fields)
    assert silence_at(campaign, POLLS_CLOSE - timedelta(hours=1)) is None


@pytest.mark.parametrize(("value", "message"), [
    ('"7pm"', "round 1: polls_close: expected a time such as 09:00, got '7pm'"),
    ('"25:00"', "round 1: polls_close: expected a time such as 09:00"),
    ('"06:00"', "round 1: polls_close must be 08:00 or later, such as 20:00, got 06:00"),
])
def test_a_wrong_polls_close_is_refused_with_what_to_fix(tmp_path, value, message):
    path = campaign_file(tmp_path, f'[[rounds]]\nname = "Premier tour"\ndate = 2024-06-30\n'
                                   f'polls_close = {value}\n')
    with pytest.raises(CampaignFileError, match=message.replace("(", r"\(")):
        parse_campaign_file(path)


async def test_campaign_messages_wait_in_the_outbox_and_practical_ones_go(db, campaign,
                                                                          frozen_clock):
    frozen_clock.now = EVE_MIDNIGHT - timedelta(minutes=5)
    await ensure_user(db, Profile(101, "Camille"))
    await enqueue(db, [Notice("nudge", NoticeKind.NUDGE, 101),
                       Notice("broadcast", NoticeKind.BROADCAST, 101),
                       Notice("pledge", NoticeKind.PLEDGE_REMINDER, 101),
                       Notice("joined", NoticeKind.WEB_JOINED, 101),
                       Notice("eve", NoticeKind.PROXY_EVE, 101),
                       Notice("shift", NoticeKind.SHIFT_SOON, 101),
                       Notice("answer", NoticeKind.RELAY_ANSWER, 101)])
    frozen_clock.now = EVE_MIDNIGHT
    held = await claim_due(db, 100, messaging_open=True, silent=True)
    assert sorted(d.key for d in held) == ["answer", "eve", "shift"]
    after = await claim_due(db, 100, messaging_open=True, silent=False)
    assert sorted(d.key for d in after) == ["broadcast", "joined", "nudge", "pledge"]


async def test_a_broadcast_due_in_the_silence_starts_when_the_polls_close(db, campaign,
                                                                          frozen_clock):
    frozen_clock.now = EVE_MIDNIGHT - timedelta(days=1)
    await ensure_user(db, Profile(101, "Camille"))
    broadcast = await create_broadcast(
        db, text="Samedi, tous au marché", visible_length=22, footer="x",
        audience_kind="everyone", audience_value=None, shift_id=None,
        scheduled_at=EVE_MIDNIGHT + timedelta(hours=10), actor_id=None)
    assert await start_due(db, EVE_MIDNIGHT + timedelta(hours=11)) == []
    assert await start_due(db, POLLS_CLOSE - SECOND) == []
    assert await start_due(db, POLLS_CLOSE) == [broadcast.id]


async def test_no_card_is_handed_out_in_the_silence(db, campaign, frozen_clock):
    await load_contacts(db, campaign)
    await ensure_user(db, Profile(102, "Lisa"))
    rules = QueueRules.of(campaign)
    assert await assign_next_contact(db, rules, 102, EVE_MIDNIGHT + timedelta(hours=10)) is None
    assert await assign_next_contact(db, rules, 102, POLLS_CLOSE) is not None


async def test_nudges_are_not_planned_in_the_silence(db, campaign, frozen_clock):
    frozen_clock.now = EVE_MIDNIGHT - timedelta(days=3)
    await ensure_user(db, Profile(101, "Camille"))
    assert await plan_nudges(db, campaign, EVE_MIDNIGHT + timedelta(hours=10)) == 0
    assert await plan_nudges(db, campaign, POLLS_CLOSE) == 1


async def test_a_campaign_loaded_before_rounds_had_closing_times_keeps_20_00(db):
    campaign, _ = await load_campaign(db, {
        "name": "Ancienne", "script": "Bonjour",
        "rounds": [{"name": "Tour unique", "date": "2024-06-30"}]})
    assert silence_at(campaign, POLLS_CLOSE - SECOND) is not None
    assert silence_at(campaign, POLLS_CLOSE) is None
