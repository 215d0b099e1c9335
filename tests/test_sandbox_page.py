"""The sandbox's chat page in a real browser (Debian's Chromium), against the real bot
running on the stand-in: what a newcomer sees and does, tab by tab."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession
from playwright.async_api import Page, expect

from bot.sandbox.run import Sandbox
from tests.browser import ARTIFACTS, screenshot
from tests.sandbox_dev import sandbox, write

CLEMENT, LISA, NICOLAS, FABRICE = 1001, 1002, 1003, 1004
WAIT = 15_000  # ms: the bot answers within a second; a loaded machine is slower


@pytest.fixture
async def running(tmp_path: Path, frozen_clock) -> AsyncIterator[Sandbox]:
    """The real bot on the stand-in, with the page; 10:00 in Paris, calling hours."""
    async with sandbox(tmp_path) as started:
        yield started


@pytest.fixture
async def chat_page(page: Page, running: Sandbox) -> AsyncIterator[Page]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, f"the page's script failed: {errors}"


async def open_as(page: Page, running: Sandbox, person: int) -> None:
    await page.goto(f"{running.url}/#{person}")
    await expect(page.locator(f'.tab[data-person="{person}"]')).to_have_attribute(
        "aria-selected", "true")


async def shot(page: Page, name: str) -> None:
    await screenshot(page, f"sandbox-{name}")


async def test_lisa_starts_the_bot_and_reads_its_welcome_formatted(running, chat_page):
    page = chat_page
    await open_as(page, running, LISA)
    await expect(page.locator("#title")).to_have_text(
        "Bac à sable — rien ne sort de cette machine")
    await page.click("#start")  # an empty chat offers START, as Telegram does
    chat = page.locator("#chat")
    await expect(chat).to_contain_text("Bonjour Lisa ! 👋", timeout=WAIT)
    await expect(chat.locator(".row.mine")).to_have_text("/start" + await _meta(chat))
    await expect(page.locator("#reply-keyboard .kbutton").first).to_be_visible()
    await expect(page.locator("#menu-button")).to_be_visible(timeout=WAIT)
    await page.click("#menu-button")  # the menu setMyCommands gave, in French
    await expect(page.locator("#menu-list")).to_contain_text("/invite")
    await page.locator("#menu-list .menu-item", has_text="/invite").click()
    invite = chat.locator(".row", has_text="Chacun en amène trois")
    await expect(invite.locator("b").first).to_have_text("Chacun en amène trois.",
                                                         timeout=WAIT)
    await expect(invite.locator("a[href*='start=']")).to_have_count(1)
    await shot(page, "welcome")


async def _meta(chat) -> str:  # type: ignore[no-untyped-def]
    return await chat.locator(".row.mine .meta").first.inner_text()


async def test_a_button_edits_its_message_in_place_and_its_answer_shows(running, chat_page):
    page = chat_page
    await open_as(page, running, LISA)
    await write(page, "/invite")
    chat = page.locator("#chat")
    invite = chat.locator(".row", has_text="Chacun en amène trois")
    await expect(invite).to_have_count(1, timeout=WAIT)
    message_id = await invite.get_attribute("data-id")
    await invite.locator(".ibutton", has_text="Ne pas m'afficher").click()
    await expect(page.locator("#toast")).to_contain_text(
        "vous n'apparaissez plus dans les classements", timeout=WAIT)
    edited = chat.locator(f'.row[data-id="{message_id}"]')
    await expect(edited.locator(".ibutton", has_text="Me montrer")).to_have_count(1)
    await expect(edited.locator(".meta")).to_contain_text("modifié")
    await expect(chat.locator(".row", has_text="Chacun en amène trois")).to_have_count(1)


async def test_a_card_shown_again_leaves_no_copy_behind(running, chat_page):
    page = chat_page
    await open_as(page, running, CLEMENT)  # an organizer may call
    await write(page, "/call")
    chat = page.locator("#chat")
    await chat.locator(".ibutton", has_text="Je suis prêt").click(timeout=WAIT)  # the training
    cards = chat.locator(".row:not(.mine)", has=page.locator(".ibutton", has_text="Pas de réponse"))
    await expect(cards).to_have_count(1, timeout=WAIT)
    first = await cards.first.get_attribute("data-id")
    await write(page, "/call")  # the same card again: the copy above is deleted
    await expect(chat.locator(f'.row[data-id="{first}"]')).to_have_count(0, timeout=WAIT)
    await expect(cards).to_have_count(1)
    await shot(page, "card")


async def test_a_start_link_opens_as_the_person_who_clicks_it(running, chat_page):
    page = chat_page
    await open_as(page, running, LISA)
    await write(page, "/invite")
    link = page.locator("#chat a[href*='start=']")
    await expect(link).to_have_count(1, timeout=WAIT)
    url = await link.get_attribute("href")
    await page.click(f'.tab[data-person="{FABRICE}"]')
    await page.reload()  # Fabrice got Lisa's link in another app: it waits in his chat
    await expect(page.locator("#chat .hint")).to_contain_text("Lisa vous a envoyé son lien")
    await expect(page.locator("#chat .hint a")).to_have_attribute("href", url)
    await page.locator("#chat .hint a").click()
    code = url.split("start=")[1]
    chat = page.locator("#chat")
    await expect(chat.locator(".row.mine")).to_contain_text(f"/start {code}", timeout=WAIT)
    await expect(chat).to_contain_text("Lisa vous a invité·e", timeout=WAIT)
    lisa = page.locator(f'.tab[data-person="{LISA}"]')
    await expect(lisa.locator(".unread")).to_be_visible(timeout=WAIT)  # Lisa is told
    await shot(page, "invited")
    await page.locator(".phone").screenshot(path=str(ARTIFACTS / "sandbox-phone.png"))
    await lisa.click()
    await expect(page.locator("#chat")).to_contain_text("Fabrice a rejoint grâce à vous")
    assert running.standin.chats[LISA] and not running.standin.chats[CLEMENT]


async def test_each_chat_stays_as_it_was_across_tabs_and_a_reload(running, chat_page):
    page = chat_page
    await open_as(page, running, LISA)
    await write(page, "/start")
    await expect(page.locator("#chat")).to_contain_text("Bonjour Lisa", timeout=WAIT)
    await page.click(f'.tab[data-person="{NICOLAS}"]')
    await expect(page.locator("#start")).to_be_visible()  # Nicolas has not started yet
    await write(page, "/help")
    await expect(page.locator("#chat")).to_contain_text("Ce que je sais faire", timeout=WAIT)
    await page.click(f'.tab[data-person="{LISA}"]')
    await expect(page.locator("#chat")).to_contain_text("Bonjour Lisa")
    await expect(page.locator("#chat")).not_to_contain_text("Ce que je sais faire")
    await expect(page.locator("#wall")).to_have_attribute(  # the room's screen, Clément's
        "href", re.compile(rf"^http://127\.0\.0\.1:{running.settings.web_port}/wall/[\w-]{{43}}$"))
    await expect(page.locator("#wall")).to_have_text("Ouvrir le mur")
    await page.click("#new-person")
    await page.fill("#new-name", "Awa")
    await page.press("#new-name", "Enter")
    await expect(page.locator(".tab[aria-selected='true']")).to_contain_text("Awa")
    await page.click("#start")
    await expect(page.locator("#chat")).to_contain_text("Bonjour Awa", timeout=WAIT)
    await shot(page, "tabs")


async def test_the_page_refuses_bad_input_with_400_and_keeps_serving(running):
    async with ClientSession(running.url) as http:
        async def post(path: str, body: object) -> tuple[int, str]:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            async with http.post(path, data=data) as response:
                return response.status, (await response.json()).get("error", "")

        assert await post("/sandbox/send", {"person": 9999, "text": "hi"}) == (
            400, "person: '9999' is nobody in this sandbox")
        assert (await post("/sandbox/send", b"{not json"))[0] == 400
        assert (await post("/sandbox/send", [1, 2]))[0] == 400
        assert await post("/sandbox/send", {"person": LISA, "text": "a" * 4097}) == (
            400, "text: at most 4096 characters")
        assert (await post("/sandbox/send", {"person": LISA, "text": "  "}))[0] == 400
        assert (await post("/sandbox/send", {"person": "1002; drop", "text": "x"}))[0] == 400
        assert (await post("/sandbox/send", {"person": LISA, "text": "x", "reply_to": 5}))[0] == 400
        assert (await post("/sandbox/press", {"person": LISA, "message": 1, "data": "x"}))[0] == 400
        assert (await post("/sandbox/people", {"first_name": ""}))[0] == 400
        assert (await post("/sandbox/people", {"first_name": "x" * 65}))[0] == 400
        assert (await post("/sandbox/share", {"person": LISA, "to": FABRICE,
                                              "link": "javascript:alert(1)"}))[0] == 400
        assert (await post("/sandbox/send", b"x" * 20_000))[0] == 400
        async with http.get("/sandbox/file/1002/1") as response:
            assert response.status == 404
        async with http.get("/sandbox/file/777/1") as response:
            assert response.status == 400
        async with http.get("/sandbox/state?lang=%ff%00") as response:
            assert response.status == 200 and (await response.json())["lang"] == "en"
        async with http.get("/sandbox/state?lang=fr") as response:
            texts = (await response.json())["texts"]
            assert texts["title"] == "Bac à sable — rien ne sort de cette machine"
        assert await post("/sandbox/send", {"person": LISA, "text": "/start"}) == (200, "")


async def test_a_shared_link_reaches_the_person_chosen_and_start_again_clears_it_all(
        running, chat_page):
    page = chat_page
    await open_as(page, running, LISA)
    await write(page, "/invite")
    await page.locator(".ibutton", has_text="Partager mon lien").click(timeout=WAIT)
    await page.locator("#dialog-box button", has_text="Nicolas").click()
    await page.click(f'.tab[data-person="{NICOLAS}"]')
    await expect(page.locator("#chat .hint")).to_contain_text("Lisa vous a envoyé")
    await page.locator("#chat .hint a").click()
    await expect(page.locator("#chat")).to_contain_text("Lisa vous a invité·e", timeout=WAIT)
    await page.click("#start-again")
    await page.locator("#dialog-box button", has_text="Tout recommencer").click()
    await expect(page.locator("#start")).to_be_visible(timeout=WAIT)
    await expect(page.locator("#chat .hint")).to_have_count(0)
    await expect(page.locator("#menu-button")).to_be_visible(timeout=WAIT)  # the new bot's
    await page.click("#start")
    await expect(page.locator("#chat")).to_contain_text("Bonjour Nicolas", timeout=WAIT)
    assert running.runs == 2 and not running.standin.chats.get(LISA)
