"""The wall in a real browser, as the room sees it: open it, a volunteer records a call
through the bot, the count moves within seconds; a revoked or wrong link shows no figure."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from playwright.async_api import Browser

from bot.config import Settings
from bot.wall.hub import Hub
from bot.wall.server import start_web
from storage.models import Call, Outcome
from storage.shifts import add_shift
from storage.users import Profile, ensure_user
from tests.browser import screenshot
from tests.conversation import ORGANIZER_ID, make_harness
from tests.test_calling_conversation import load_contacts, ready_volunteer
from tests.test_storage_calling import numbers_csv
from tests.test_storage_wall import load_with_rounds

LINK = re.compile(r"http://127\.0\.0\.1:\d+/wall/[A-Za-z0-9_-]{43,}")
# The room's day so far: who called, where, when (local hours), how many.
# 999 calls: the next one is the day's 1,000th, celebrated on screen.
DAY = [("Lisa", "Saint-Denis", {9: 51, 10: 98, 11: 104, 12: 70, 13: 42, 14: 77, 15: 84}),
       ("Nicolas", "Lyon", {9: 12, 10: 53, 11: 61, 12: 30, 13: 18, 14: 56, 15: 49}),
       ("Amina", "Marseille", {10: 19, 11: 38, 12: 27, 14: 31, 15: 35}),
       ("Samir", None, {9: 8, 11: 15, 13: 9, 15: 12})]


async def a_busy_day(db, campaign, now: datetime) -> None:
    """Calls already made today, written as the phone bank writes them (a room each)."""
    from sqlalchemy import text

    from storage.contacts import import_contacts

    await import_contacts(db, campaign, numbers_csv(1, "Elsewhere"))
    async with db.write() as session:
        contact = (await session.execute(text("SELECT max(id) FROM contact"))).scalar_one()
        seq = 0
        for uid, (_name, room, hours) in enumerate(DAY, start=201):
            for hour, calls in hours.items():
                at = datetime(now.year, now.month, now.day, hour - 2, 5, tzinfo=UTC)  # Paris
                for i in range(calls):
                    seq += 1
                    session.add(Call(contact_id=contact, campaign_id=campaign.id,
                                     volunteer_id=uid, lease_seq=seq, room=room,
                                     outcome=Outcome.WILL_VOTE if i % 4 == 0
                                     else Outcome.NO_ANSWER,
                                     created_at=at + timedelta(seconds=40 * i)))
    for uid, (name, _room, _hours) in enumerate(DAY, start=201):
        await ensure_user(db, Profile(uid, name, "Surname", f"{name.lower()}_tg", "fr"))


async def shows(page, count: int, within_ms: float = 5000) -> None:
    """Until the wall's big figure is `count` (thousands grouped by a narrow space)."""
    await page.wait_for_function(
        "n => document.querySelector('#today').textContent.replace(/\\u202f/g, '') == n",
        arg=str(count), timeout=within_ms)


async def test_the_wall_moves_when_a_volunteer_records_a_call(sqlite_db, browser: Browser,
                                                              frozen_clock) -> None:
    db = sqlite_db
    frozen_clock.now = datetime(2026, 6, 10, 14, 30, tzinfo=UTC)  # 16:30 in Paris
    campaign = await load_with_rounds(db)
    await load_contacts(db, campaign)
    await a_busy_day(db, campaign, frozen_clock.now)
    await add_shift(db, room="Saint-Denis", address="6 rue de la République",
                    starts_at=frozen_clock.now + timedelta(days=1),
                    ends_at=frozen_clock.now + timedelta(days=1, hours=3), capacity=30)
    harness, fake = await make_harness(db)
    settings = Settings(bot_token="42:TEST", _env_file=None)  # type: ignore[call-arg]
    runner = await start_web(settings, db, harness.dp["i18n"], port=0, hub=Hub(db))
    port = runner.addresses[0][1]
    harness.dp["wall_url"] = f"http://127.0.0.1:{port}"
    context = await browser.new_context(viewport={"width": 1600, "height": 900},
                                        locale="fr-FR")
    page = await context.new_page()
    try:
        organizer = harness.person(ORGANIZER_ID, "Clément", "fr")
        await organizer.send("/wall")
        link = LINK.findall(organizer.last().text)[0]

        await page.goto(link)
        today = page.locator("#today")
        await today.wait_for(state="visible", timeout=5000)
        before = int((await today.text_content()).replace("\u202f", ""))
        assert before == sum(sum(h.values()) for _n, _r, h in DAY)
        body = await page.text_content("body")
        assert "Lisa" in body and "Surname" not in body and "lisa_tg" not in body
        assert "+33" not in body and "Fabrice" not in body  # no contact, no number

        shot = await screenshot(page, "wall")
        print(f"\nscreenshot: {shot}")

        lisa = await ready_volunteer(db, harness, 301, "Lisa", "fr")
        await lisa.send("/call")
        await lisa.press("Pas de réponse")
        recorded = time.monotonic()
        await shows(page, before + 1)
        print(f"the wall showed the call {time.monotonic() - recorded:.2f} s after it was "
              "recorded")
        milestone = page.locator("#milestone")
        await milestone.wait_for(state="visible", timeout=5000)
        assert "1\u202f000 appels aujourd'hui" in await milestone.text_content()
        print(f"milestone: {await screenshot(page, 'wall-milestone')}")

        # The bot restarts: the page says so, comes back by itself, and moves again.
        await runner.cleanup()
        await page.wait_for_selector("#status:text('Connexion perdue')", timeout=5000)
        runner = await start_web(settings, db, harness.dp["i18n"], port=port, hub=Hub(db))
        await lisa.press("Appel suivant")
        await lisa.press("Pas de réponse")
        recorded = time.monotonic()
        await shows(page, before + 2, within_ms=10_000)
        print(f"after a restart, the next call showed {time.monotonic() - recorded:.2f} s "
              "after it was recorded")
        assert await page.text_content("#status") == ""

        await organizer.send("/wall revoke")
        await page.wait_for_selector("#gone:not([hidden])", timeout=5000)
        assert "Ce lien ne marche plus" in await page.text_content("#gone")
        assert not await page.is_visible("#today")
        await screenshot(page, "wall-revoked")
        for url in (link, link[:-3] + "abc"):
            response = await page.goto(url)
            assert response is not None and response.status == 404
            text = await page.text_content("body")
            assert "Ce lien ne marche plus" in text and not re.search(r"\d", text)
    finally:
        await context.close()
        await runner.cleanup()
        await harness.bot.session.close()
        await fake.stop()
    assert not fake.refusals


# Who called today, as their Telegram profiles have them: the wall shows a first word only.
CALLERS = [(211, "<svg/onload=alert``>", 9), (212, "Jean-Pierre Dupont", 8),
           (213, "Lisa", 7), (214, "Nicolas", 6), (215, "🌻", 5)]


async def test_the_top_callers_in_a_browser_no_markup_and_who_leaves_goes_at_once(
        sqlite_db, browser: Browser, frozen_clock) -> None:
    from sqlalchemy import text

    from storage.contacts import import_contacts

    db = sqlite_db
    frozen_clock.now = datetime(2026, 6, 10, 14, 30, tzinfo=UTC)
    campaign = await load_with_rounds(db)
    await import_contacts(db, campaign, numbers_csv(1, "Elsewhere"))
    async with db.write() as session:
        contact = (await session.execute(text("SELECT max(id) FROM contact"))).scalar_one()
        seq = 0
        for uid, _name, calls in CALLERS:
            for _ in range(calls):
                seq += 1
                session.add(Call(contact_id=contact, campaign_id=campaign.id,
                                 volunteer_id=uid, lease_seq=seq, outcome=Outcome.WILL_VOTE,
                                 created_at=frozen_clock.now - timedelta(minutes=seq)))
    harness, fake = await make_harness(db)
    people = {}
    for uid, name, _calls in CALLERS:
        people[name] = await ready_volunteer(db, harness, uid, name, "en")
        await people[name].send("/start")  # their profile, as Telegram gives it
    settings = Settings(bot_token="42:TEST", _env_file=None)  # type: ignore[call-arg]
    runner = await start_web(settings, db, harness.dp["i18n"], port=0, hub=Hub(db))
    harness.dp["wall_url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
    context = await browser.new_context(viewport={"width": 1600, "height": 900})
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    try:
        organizer = harness.person(ORGANIZER_ID, "Clément", "en")
        await organizer.send("/wall")
        await page.goto(LINK.findall(organizer.last().text)[0] + "?lang=en")
        top = page.locator("#top-list")
        await page.wait_for_selector("#top-list li b", timeout=5000)
        names = await top.locator("li").evaluate_all(
            "items => items.map(i => i.firstChild.textContent)")
        assert names == ["<svg/onload=alert``>", "Jean-Pierre", "Lisa", "Nicolas", "🌻"]
        assert await top.locator("svg").count() == 0 and not dialogs  # text, never markup
        assert "Dupont" not in await page.text_content("body")

        # Lisa leaves the rankings from /me, Nicolas erases himself: off the screen at once.
        lisa, nicolas = people["Lisa"], people["Nicolas"]
        await lisa.send("/me")
        await lisa.press("🏆 Today's callers")
        await lisa.press("🙈 Leave me out of the rankings")
        await nicolas.send("/forget")
        await nicolas.press("🗑 Yes, erase my data")
        left = time.monotonic()
        await page.wait_for_function(
            "() => !/Lisa|Nicolas/.test(document.querySelector('#top-list').textContent)",
            timeout=5000)
        print(f"\nthe two left the wall {time.monotonic() - left:.2f} s after they asked")
        assert int((await page.text_content("#today")).replace("\u202f", "")) == 35
        await screenshot(page, "wall-callers")
    finally:
        await context.close()
        await runner.cleanup()
        await harness.bot.session.close()
        await fake.stop()
    assert not fake.refusals


async def test_a_rooms_own_screen_in_english(sqlite_db, browser: Browser, frozen_clock) -> None:
    db = sqlite_db
    frozen_clock.now = datetime(2026, 6, 10, 14, 30, tzinfo=UTC)
    campaign = await load_with_rounds(db)
    await a_busy_day(db, campaign, frozen_clock.now)
    from storage.wall.tokens import wall_token

    token = await wall_token(db, campaign, actor_id=ORGANIZER_ID)
    settings = Settings(bot_token="42:TEST", _env_file=None)  # type: ignore[call-arg]
    from ui.i18n import make_i18n

    runner = await start_web(settings, db, make_i18n("fr"), port=0, hub=Hub(db))
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/wall/{token}"
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    try:
        await page.goto(base + "?room=Lyon&lang=en")
        await page.locator("#today").wait_for(state="visible", timeout=5000)
        lyon = sum(DAY[1][2].values())
        assert await page.text_content("#today") == str(lyon)
        assert await page.text_content("#today-label") == "calls today"
        assert await page.text_content(".room-name") == "Lyon"
        assert "goal: 600" in await page.text_content("#goal")
        # No other room's bar: the whole campaign's, for the room to see its share.
        total = sum(sum(hours.values()) for _n, _r, hours in DAY)
        assert await page.text_content("#rooms") == f"the whole campaign{total:,} / 2,000".replace(
            ",", "\u202f")
        assert await page.text_content("#tiles-title") == "the whole campaign"
        print(f"\nscreenshot: {await screenshot(page, 'wall-room')}")
        await page.goto(base + "?room=Bordeaux&lang=en")
        assert "No room called “Bordeaux” here." in await page.text_content("body")
        await page.click("text=Marseille")
        await page.locator("#today").wait_for(state="visible", timeout=5000)
        assert await page.text_content(".room-name") == "Marseille"
    finally:
        await context.close()
        await runner.cleanup()
