"""The browser the page tests drive: it starts from the system's Chromium and renders a page
served on loopback (what every page test builds on)."""

from __future__ import annotations

from aiohttp import web
from playwright.async_api import Page

from tests.browser import screenshot


async def test_chromium_renders_a_page_served_on_loopback(page: Page) -> None:
    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="<h1 id=t>Bonjour</h1><button onclick=\"this.textContent="
                                 "'Merci'\">Appuyer</button>", content_type="text/html")

    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        await page.goto(f"http://127.0.0.1:{port}/")
        assert await page.text_content("#t") == "Bonjour"
        await page.click("text=Appuyer")
        assert await page.text_content("button") == "Merci"
        shot = await screenshot(page, "browser-smoke")
        assert shot.stat().st_size > 0
    finally:
        await runner.cleanup()
