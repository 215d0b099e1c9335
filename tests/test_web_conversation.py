"""The spider's web as supporters and organizers live it, through the fake Bot API."""

from __future__ import annotations

import asyncio
import random
import re
import string
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

from bot.app import build_deliverer
from bot.jobs import plan_web_messages_tick
from storage.users import get_user
from tests.conversation import ORGANIZER_ID

LINK = re.compile(r"https://t\.me/toile_test_bot\?start=([A-Za-z0-9_-]+)")


def link_in(person) -> str:
    codes = [c for m in person.chat() for c in LINK.findall(m.text)]
    assert codes, f"no invite link in {person.first_name}'s chat"
    return codes[-1]


async def invite_code_of(person) -> str:
    await person.send("/invite")
    return link_in(person)


async def deliver_all(harness) -> None:
    """What the scheduler and the deliverer do in the running bot: plan, then send."""
    await plan_web_messages_tick(harness.dp["db"], harness.dp["campaigns"])
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    while await deliverer.run_once():
        pass


async def test_a_supporter_shares_their_link_and_sees_their_three_arrive(db, campaign, harness,
                                                                       frozen_clock):
    camille = harness.person(101, "Camille", "en")
    await camille.send("/start")
    await camille.send("🕸 Invite 3 people")
    invite = camille.last()
    code = link_in(camille)
    assert len(code) <= 64 and "101" not in code
    assert "Nobody has joined through your link yet" in invite.text
    share = next(b for b in invite.buttons() if "Share" in b["text"])
    query = parse_qs(urlparse(share["url"]).query)
    assert query["url"] == [f"https://t.me/toile_test_bot?start={code}"]
    assert "Join us" in query["text"][0]

    for uid, name, told in ((201, "Fabrice", "1 of 3!"), (202, "Élodie", "2 of 3!"),
                            (203, "Nicolas", "that makes 3! Thank you.")):
        friend = harness.person(uid, name, "fr")
        await friend.send(f"/start {code}")
        assert friend.sees("Bienvenue ! Camille vous a invité·e")
        assert friend.sees("/invite")  # and now it is their turn
        await deliver_all(harness)  # queued with the attribution
        assert camille.last().text == f"🕸 {name} joined through you: {told}".replace(
            "🕸 Nicolas", "🎉 Nicolas")

    await camille.send("/invite")
    assert "3 people joined through you: Fabrice, Élodie, Nicolas" in camille.last().text


async def test_links_that_do_not_count_get_a_plain_welcome_and_tell_nobody(db, campaign,
                                                                         harness, frozen_clock):
    camille = harness.person(101, "Camille", "en")
    await camille.send("/start")
    code = await invite_code_of(camille)

    await camille.send(f"/start {code}")  # her own link
    assert camille.last().text.startswith("Would you like to call")  # the plain welcome
    samir = harness.person(102, "Samir", "en")
    await samir.send("/start")
    await samir.send(f"/start {code}")  # already a supporter
    assert samir.sees("Hello Samir") and not samir.sees("invited you")

    rng = random.Random(7)
    alphabets = (string.ascii_letters + string.digits + "_-", string.printable,
                 "éàç漢字😀\u200b\u202e", string.digits)
    payloads = ["x", "a" * 64, "a" * 65, "b" * 4000, "../../etc/passwd", "%00", "🕸" * 30,
                "code with spaces", code + "X", code.lower(), code[:-1], code + " x"]
    payloads += ["".join(rng.choice(rng.choice(alphabets)) for _ in range(rng.randint(1, 300)))
                 for _ in range(40)]
    for i, payload in enumerate(payloads):
        newcomer = harness.person(5000 + i, f"New{i}", "en")
        await newcomer.send(f"/start {payload}")
        assert newcomer.sees("Hello New"), payload
        assert not newcomer.sees("invited you"), payload
    # Nobody counted, nobody told, no error anywhere (the harness fails on swallowed errors).
    assert not camille.sees("joined through you:")
    assert (await get_user(db, 101)).recruits == 0


async def test_the_first_link_wins_and_the_referrer_is_told_once(db, campaign, harness,
                                                                frozen_clock):
    camille, samir = harness.person(101, "Camille", "en"), harness.person(102, "Samir", "en")
    for person in (camille, samir):
        await person.send("/start")
    camille_code, samir_code = await invite_code_of(camille), await invite_code_of(samir)
    fabrice = harness.person(201, "Fabrice", "en")
    await fabrice.send(f"/start {camille_code}")
    await fabrice.send(f"/start {camille_code}")
    await fabrice.send(f"/start {samir_code}")
    await deliver_all(harness)
    told = [m for m in camille.chat() if "joined through you:" in m.text]
    assert len(told) == 1
    assert not any("joined through you:" in m.text for m in samir.chat())
    assert (await get_user(db, 201)).referred_by == 101


async def test_many_newcomers_tapping_the_same_link_at_once(db, campaign, harness, frozen_clock):
    camille = harness.person(101, "Camille", "en")
    await camille.send("/start")
    code = await invite_code_of(camille)
    newcomers = [harness.person(3000 + i, f"N{i}", "en") for i in range(60)]
    await asyncio.gather(*(p.send(f"/start {code}") for p in newcomers))
    assert (await get_user(db, 101)).recruits == 60
    deliverer = build_deliverer(harness.dp, harness.bot, harness.dp["settings"])
    deliverer.pacer.per_chat_seconds = 0  # sixty to one chat, without a minute's wait
    while await deliverer.run_once():
        pass
    told = [m.text for m in camille.chat() if "joined through you:" in m.text]
    assert len(told) == 60
    counts = sorted(int(re.search(r"(\d+)", t.split(":")[1]).group(1)) for t in told)
    assert counts == list(range(1, 61))  # every count told exactly once


async def test_recruits_recruit_and_the_web_has_generations(db, campaign, harness, frozen_clock):
    camille = harness.person(101, "Camille", "en")
    await camille.send("/start")
    code = await invite_code_of(camille)
    chain = [camille]
    for depth in range(1, 5):
        person = harness.person(100 + depth * 10, f"G{depth}", "en")
        await person.send(f"/start {code}")
        chain.append(person)
        code = await invite_code_of(person)
    assert [(await get_user(db, p.id)).generation for p in chain] == [0, 1, 2, 3, 4]
    await deliver_all(harness)
    assert chain[3].sees("G4 joined through you: 1 of 3!")


async def test_three_names_are_asked_in_private_never_in_a_group(db, campaign, harness,
                                                                 frozen_clock):
    """Lina sends /invite in a group: its link is there to share, but not the pledge, whose
    three names are hers to give in private. A pledge button of an older invite in the
    group says so, and nothing is asked there."""
    from handlers.invite import InviteCB

    group = -100_555
    lina = harness.person(301, "Lina", "en")
    await lina.send("/start")
    await lina.send("/invite", in_chat=group)
    invitation = harness.fake.chat(group)[-1]
    assert "Your personal link" in invitation.text
    assert not any("remind 3 people" in b for b in invitation.button_texts())

    await lina.press_data(InviteCB(action="pledge").pack(), invitation)

    assert "in our private chat" in lina.callback_answers()[-1]["text"]
    assert not any("Who are the three people" in m.text for m in harness.fake.chat(group))
    await lina.send("Fabrice, Élodie, Nicolas", in_chat=group)
    await lina.send("/invite")
    await lina.press("remind 3 people to vote")
    assert lina.sees("first names only")


async def test_a_pledge_to_remind_three_people_and_the_reminder_on_the_eve(db, campaign,
                                                                         harness, frozen_clock):
    frozen_clock.now = datetime(2024, 6, 20, 8, 0, tzinfo=UTC)
    camille = harness.person(101, "Camille", "en")
    await camille.send("/start")
    await camille.send("/invite")
    await camille.press("remind 3 people to vote")
    assert camille.sees("first names only")
    await camille.send("Fabrice, Élodie")
    assert "exactly three first names" in camille.last().text
    await camille.send("Fabrice, 06 12 34 56 78, Nicolas")
    assert "no phone numbers" in camille.last().text
    await camille.send("Fabrice, ⁰⁶ ¹² ³⁴ ⁵⁶ ⁷⁸, Nicolas")  # digits that are not ASCII
    assert "no phone numbers" in camille.last().text
    await camille.send("Fabrice, Élodie et Nicolas")
    assert camille.last().text == ("🗳 Thank you! I will remind you two days before each round "
                                   "(Premier tour, Second tour): Fabrice, Élodie, Nicolas.")
    await camille.send("hello")  # the pledge is done: back to normal
    assert "didn't understand" in camille.last().text

    # 11:00 on Friday: the last day before the silence of the eve
    frozen_clock.now = datetime(2024, 6, 28, 9, 0, tzinfo=UTC)
    await deliver_all(harness)
    await deliver_all(harness)  # a second tick sends nothing twice
    reminders = [m for m in camille.chat() if "Remind" in m.text]
    assert [m.text for m in reminders] == [
        "🗳 The Premier tour is on 30/06. Remind Fabrice, Élodie and Nicolas to vote!"]
    done = reminders[0].buttons()[0]["callback_data"]
    await camille.press("Done, I reminded them")
    assert "Done, thank you" in camille.chat()[-1].text
    await camille.press_data(done, reminders[0])  # a second tap, from a slow phone
    assert camille.callback_answers()[-1].get("text") == "Already noted, thank you!"


async def test_a_pledge_can_be_cancelled_and_a_card_survives_it(db, campaign, harness,
                                                                frozen_clock):
    camille = harness.person(101, "Camille", "en")
    await camille.send("/invite")
    await camille.press("remind 3 people to vote")
    await camille.press("Cancel")
    assert camille.sees("no pledge for now")
    await camille.send("Fabrice, Élodie, Nicolas")
    assert "didn't understand" in camille.last().text


async def test_after_stop_no_word_of_a_join_queued_before(db, campaign, harness,
                                                          frozen_clock):
    """Fabrice joins through Lisa's link (her "joined through you" is queued), then Lisa
    sends /stop, which promises no more campaign messages: the word of Fabrice is not
    sent; his join still counts for her."""
    lisa = harness.person(101, "Lisa", "en")
    await lisa.send("/start")
    code = await invite_code_of(lisa)
    await harness.person(201, "Fabrice", "en").send(f"/start {code}")
    await lisa.send("/stop")
    assert lisa.sees("no more campaign messages")

    await deliver_all(harness)

    assert not lisa.sees("Fabrice joined through you")
    await lisa.send("/start")
    await lisa.send("/invite")
    assert "1 of your 3 so far: Fabrice" in lisa.last().text  # he counts all the same


async def test_nudges_until_three_join_never_at_night_never_after_stop(db, campaign, harness,
                                                                      frozen_clock):
    joined = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # 10:00 in Paris
    frozen_clock.now = joined
    camille, samir, lina = (harness.person(101, "Camille", "en"),
                            harness.person(102, "Samir", "fr"), harness.person(103, "Lina", "en"))
    for person in (camille, samir, lina):
        await person.send("/start")
    lina_code = await invite_code_of(lina)
    for i in range(3):
        await harness.person(400 + i, f"F{i}", "en").send(f"/start {lina_code}")

    def nudges(person) -> list[str]:
        return [m.text for m in person.chat() if "Have you thought of three" in m.text
                or "Avez-vous pensé à trois" in m.text]

    frozen_clock.now = joined + timedelta(days=1, hours=12)  # 22:00 in Paris: quiet hours
    await deliver_all(harness)
    assert nudges(camille) == []
    frozen_clock.now = joined + timedelta(days=2, hours=-1)  # 09:00 the next morning
    await deliver_all(harness)
    assert len(nudges(camille)) == 1 and len(nudges(samir)) == 1 and nudges(lina) == []
    assert "Nobody has joined through your link yet" in nudges(camille)[0]
    assert LINK.search(nudges(camille)[0])
    assert "Avez-vous pensé" in nudges(samir)[0]  # in Samir's own language

    await samir.send("/stop")
    frozen_clock.now = joined + timedelta(days=3, hours=2)
    await deliver_all(harness)
    assert len(nudges(camille)) == 2 and len(nudges(samir)) == 1

    code = link_in(camille)  # then her three join: no more nudges
    for i in range(3):
        await harness.person(500 + i, f"K{i}", "en").send(f"/start {code}")
    frozen_clock.now = joined + timedelta(days=8)
    await deliver_all(harness)
    assert len(nudges(camille)) == 2


async def test_organizers_see_the_web_in_numbers_and_in_a_picture(db, campaign, harness,
                                                                 frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    camille = harness.person(101, "Camille", "en")
    await camille.send("/start")
    code = await invite_code_of(camille)
    for i in range(3):
        await harness.person(600 + i, f"F{i}", "en").send(f"/start {code}")
    await harness.person(700, "Shy", "en").send("/start")

    stranger = harness.person(800, "Eve", "en")
    await stranger.send("/web")
    assert stranger.last().text == "Only organizers can do that."

    await organizer.send("/web")
    summary, photo = organizer.chat()[-2:]
    # Camille, her three, Shy, Eve; the organizer's row was made before the test's clock
    # stopped (by the harness, at today's real date): counted, but not as joining "today".
    assert "Supporters: 7 (6 today)" in summary.text
    assert "Came through a link: 3; recruits per supporter: 0.43" in summary.text
    assert "Brought their three: 1" in summary.text
    assert "Generations: 1" in summary.text
    assert "Top recruiters: Camille (3)" in summary.text
    assert photo.text.startswith("[photo] Joins per day, by generation")
    [sent] = harness.fake.sent("sendPhoto")
    assert sent.params["photo"][:4] == b"\x89PNG"


async def test_leaving_the_rankings(db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    camille = harness.person(101, "Camille", "en")
    await camille.send("/start")
    code = await invite_code_of(camille)
    await harness.person(601, "F", "en").send(f"/start {code}")
    await camille.send("/invite")
    await camille.press("Leave me out of the rankings")
    assert "Show me in the rankings" in camille.last().button_texts()[-1]
    await organizer.send("/web")
    assert "Top recruiters" not in organizer.chat()[-2].text
