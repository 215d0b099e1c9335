"""The bot stopped and started again inside one process, as the sandbox's "Start again"
does: the stopped one stops polling, and no update is lost between the two."""

from __future__ import annotations

import asyncio

import aiohttp

from bot.config import Settings
from bot.runner import serve
from tests.fake_telegram import FakeTelegram
from tests.test_polling_and_ticks import message_update, wait_for


async def test_a_person_who_writes_after_a_restart_is_answered(tmp_path):
    fake = FakeTelegram()
    await fake.start()
    settings = Settings(bot_token="42:TEST", telegram_api_url=fake.url, organizer_ids=[900],
                        web_port=0,  # no wall: its port is not this test's to take
                        database_url=f"sqlite+aiosqlite:///{tmp_path / 'toile.db'}",
                        _env_file=None)  # type: ignore[call-arg]
    try:
        first = asyncio.create_task(serve(settings))
        await wait_for(lambda: fake.sent("getUpdates"), 30)
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        polls = len(fake.sent("getUpdates"))
        await asyncio.sleep(1.5)  # the stopped bot's polling would have asked again
        assert len(fake.sent("getUpdates")) == polls, "the stopped bot still polls"

        second = asyncio.create_task(serve(settings))
        try:
            await wait_for(lambda: len(fake.sent("getUpdates")) > polls, 30)
            fake.updates.put_nowait(message_update(1, 555, "/start"))
            await wait_for(lambda: fake.chat(555), 10)
            assert fake.chat(555)[0].text.startswith("Bonjour Nour")
        finally:
            second.cancel()
            await asyncio.gather(second, return_exceptions=True)
    finally:
        await fake.stop()


async def test_an_update_handed_to_a_poller_that_vanished_goes_to_the_next_one():
    fake = FakeTelegram()
    await fake.start()
    url = f"{fake.url}/bot42:TEST/getUpdates"
    try:
        async with aiohttp.ClientSession() as http:
            vanishing = asyncio.create_task(http.post(url, json={"timeout": 5}))
            await wait_for(lambda: fake.sent("getUpdates"))
            vanishing.cancel()  # its connection closes before the answer comes
            await asyncio.gather(vanishing, return_exceptions=True)
            fake.updates.put_nowait(message_update(7, 555, "/start"))
            await asyncio.sleep(0.5)  # the vanished poll's handler takes it off the queue
            async with http.post(url, json={"timeout": 1}) as answer:
                assert [u["update_id"] for u in (await answer.json())["result"]] == [7]
            # Confirmed by the next offset: never handed out again.
            async with http.post(url, json={"offset": 8, "timeout": 0}) as answer:
                assert (await answer.json())["result"] == []
    finally:
        await fake.stop()
