"""Someone trying Toile for the first time, in the sandbox `make run` starts without a token:
Lisa asks to call, Clément approves, Lisa makes a practice call, then calls and records
"No answer", the number leaves her chat and the next card comes; Fabrice opens Lisa's link and Lisa is told."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from bot.sandbox.run import Sandbox
from tests.browser import screenshot
from tests.sandbox_dev import sandbox, write

CLEMENT, LISA, FABRICE = 1001, 1002, 1004
WAIT = 15_000  # ms
# A number of ARCEP's blocks for fiction, as a card shows it (E.164).
FICTION_NUMBER = re.compile(r"\+33(19900|46571)\d{4}")


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with sandbox(tmp_path) as started:
        yield started


async def tab(page: Page, person: int) -> None:
    await page.click(f'.tab[data-person="{person}"]')
    await expect(page.locator(f'.tab[data-person="{person}"]')).to_have_attribute(
        "aria-selected", "true")


async def test_a_newcomer_runs_the_campaign_from_the_page(running: Sandbox, page: Page) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    chat = page.locator("#chat")
    await page.goto(running.url)

    await tab(page, CLEMENT)  # the organizer opens the bot first
    await page.click("#start")
    await expect(chat).to_contain_text("Bonjour Clément", timeout=WAIT)

    await tab(page, LISA)
    await page.click("#start")
    await chat.locator(".ibutton", has_text="Je veux passer des appels").click(timeout=WAIT)
    await expect(chat).to_contain_text("Votre demande est transmise", timeout=WAIT)

    await tab(page, CLEMENT)
    await chat.locator(".ibutton", has_text="✅ Valider").click(timeout=WAIT)

    await tab(page, LISA)
    await expect(chat).to_contain_text("Vous êtes validé·e", timeout=WAIT)
    await write(page, "/call")
    # The training card, then a practice call with a fictional contact, as the campaign asks.
    await chat.locator(".ibutton", has_text="Un appel d'entraînement").click(timeout=WAIT)
    card = chat.locator(".row:not(.mine)", has=page.locator(".ibutton", has_text="Pas de réponse"))
    await expect(card).to_have_count(1, timeout=WAIT)
    await expect(card).to_contain_text("Appel d'entraînement")
    practice = FICTION_NUMBER.search(await card.inner_text())
    assert practice, await card.inner_text()
    await card.locator(".ibutton", has_text="Pas de réponse").click()
    await expect(chat).to_contain_text("De retour dans la file dans 2 heures", timeout=WAIT)
    await expect(chat).not_to_contain_text(practice.group(0), timeout=WAIT)
    await chat.locator(".ibutton", has_text="Mon premier vrai appel").click(timeout=WAIT)
    await expect(card).to_have_count(1, timeout=WAIT)
    first = FICTION_NUMBER.search(await card.inner_text())
    assert first, await card.inner_text()  # the contact's number, and only a fictional one
    await screenshot(page, "sandbox-newcomer-card")

    await card.locator(".ibutton", has_text="Pas de réponse").click()
    await expect(chat).not_to_contain_text(first.group(0), timeout=WAIT)  # gone from the chat
    await chat.locator(".ibutton", has_text="Appel suivant").last.click(timeout=WAIT)
    await expect(card).to_have_count(1, timeout=WAIT)  # the next card
    second = FICTION_NUMBER.search(await card.inner_text())
    assert second and second.group(0) != first.group(0)

    await write(page, "/invite")  # Lisa's link, which Fabrice got from her in another app
    await expect(chat.locator("a[href*='start=']")).to_have_count(1, timeout=WAIT)
    await tab(page, FABRICE)
    await page.reload()
    await page.locator("#chat .hint a").click(timeout=WAIT)
    await expect(chat).to_contain_text("Lisa vous a invité·e", timeout=WAIT)
    lisa = page.locator(f'.tab[data-person="{LISA}"]')
    await expect(lisa.locator(".unread")).to_be_visible(timeout=WAIT)
    await tab(page, LISA)
    await expect(chat).to_contain_text("Fabrice a rejoint grâce à vous", timeout=WAIT)
    await screenshot(page, "sandbox-newcomer-told")
    assert not errors, errors
