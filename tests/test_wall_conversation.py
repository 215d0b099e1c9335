"""/wall as organizers live it: the link to the room's screen, and a new one when the old
one leaked; nobody else gets it, nor does a group."""

from __future__ import annotations

import re

from storage.wall.tokens import open_wall
from tests.conversation import ORGANIZER_ID
from tests.test_authorization import GROUP, POINTER, REFUSAL
from tests.test_calling_conversation import ready_volunteer
from tests.test_storage_wall import load_with_rounds

LINK = re.compile(r"http://127\.0\.0\.1:8081/wall/([A-Za-z0-9_-]{43,})")


def sent_html(harness) -> str:
    return harness.fake.sent("sendMessage")[-1].params["text"]


async def test_an_organizer_gets_the_walls_link_and_revokes_it(db, harness, frozen_clock):
    campaign = await load_with_rounds(db)
    organizer = harness.person(ORGANIZER_ID, "Clément", "en")
    await organizer.send("/wall")
    screen = organizer.last()
    (token,) = set(LINK.findall(screen.text))
    assert "today's figures, live" in screen.text and "Nothing personal" in screen.text
    assert "The links stop working after the last round (21/06/2026)" in screen.text
    (button,) = screen.buttons()
    assert button["text"] == "🖥 Open the wall"
    assert button["url"] == f"http://127.0.0.1:8081/wall/{token}"
    html = sent_html(harness)
    for room in ("Saint-Denis", "Lyon", "Marseille"):
        assert f'href="http://127.0.0.1:8081/wall/{token}?room={room}">{room}</a>' in html
    assert f'href="http://127.0.0.1:8081/wall/{token}?lang=en">en</a>' in html
    assert (await open_wall(db, token)).id == campaign.id

    await organizer.send("/wall")  # asked again: the same link
    assert set(LINK.findall(organizer.last().text)) == {token}

    await organizer.send("/wall revoke")
    revoked = organizer.last()
    assert revoked.text.startswith("🔒 New link: the old one no longer works.")
    (new,) = set(LINK.findall(revoked.text))
    assert new != token
    assert await open_wall(db, token) is None and await open_wall(db, new) is not None


async def test_in_french_and_when_telegram_refuses_the_button(db, harness, frozen_clock):
    await load_with_rounds(db)
    organizer = harness.person(ORGANIZER_ID, "Clément", "fr")
    harness.fake.fail("sendMessage", 400, description="Bad Request: BUTTON_URL_INVALID")
    await organizer.send("/wall")
    screen = organizer.last()
    assert screen.text.startswith("🖥 Le mur : les chiffres du jour")
    assert LINK.search(screen.text) and screen.buttons() == []  # the link alone, still there
    assert "Une seule salle : Saint-Denis · Lyon · Marseille" in screen.text


async def test_volunteers_and_groups_get_no_link(db, harness, frozen_clock):
    await load_with_rounds(db)
    volunteer = await ready_volunteer(db, harness)
    await volunteer.send("/wall")
    assert volunteer.last().text == REFUSAL
    await volunteer.send("/wall revoke")
    assert volunteer.last().text == REFUSAL
    organizer = harness.person(ORGANIZER_ID, "Clément", "en")
    await organizer.send("/wall", in_chat=GROUP)
    assert harness.fake.last(GROUP).text == POINTER
    assert not any(LINK.search(m.text) for m in harness.fake.chat(GROUP))
    async with db.fast_read() as tx:
        from storage.driver import SQL

        assert await tx.one(SQL.of("SELECT count(*) FROM wall_token")) == (0,)


async def test_no_wall_once_the_campaign_is_over_or_the_server_is_off(db, campaign, harness,
                                                                     frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Clément", "en")
    await organizer.send("/wall")  # the example's rounds were in 2024
    assert organizer.last().text == ("The campaign's last round is over (07/07/2024): its "
                                     "wall is closed.")
    await load_with_rounds(db)
    harness.dp["wall_url"] = None  # WEB_PORT=0
    await organizer.send("/wall")
    assert organizer.last().text == ("The wall's web server is not running (WEB_PORT=0, or "
                                     "its port was taken at the start: the bot's log says "
                                     "which).")


async def test_no_link_when_the_walls_port_was_taken_at_the_start(tmp_path):
    # Whatever holds the port would be handed the link, token and all, in its own logs.
    import asyncio
    import socket
    from datetime import date, timedelta

    from bot.config import Settings
    from bot.runner import serve
    from storage.database import Database
    from storage.migrate import upgrade
    from tests.fake_telegram import FakeTelegram
    from tests.test_polling_and_ticks import message_update, wait_for

    url = f"sqlite+aiosqlite:///{tmp_path / 'toile.db'}"
    upgrade(url)
    db = Database(url)
    try:
        # The real clock here: a round a week from today.
        await load_with_rounds(db, rounds=[{"name": "Premier tour", "date": (
            date.today() + timedelta(days=7)).isoformat()}])
    finally:
        await db.dispose()
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    fake = FakeTelegram()
    await fake.start()
    settings = Settings(bot_token="42:TEST", telegram_api_url=fake.url, database_url=url,
                        organizer_ids=[ORGANIZER_ID], web_port=squatter.getsockname()[1],
                        _env_file=None)  # type: ignore[call-arg]
    serving = asyncio.create_task(serve(settings))
    try:
        await wait_for(lambda: fake.sent("getUpdates"), 30)
        fake.updates.put_nowait(message_update(1, ORGANIZER_ID, "/wall"))
        await wait_for(lambda: fake.chat(ORGANIZER_ID), 10)
        answer = fake.chat(ORGANIZER_ID)[-1].text
        assert "/wall/" not in answer and answer.startswith("Le serveur web du mur")
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await fake.stop()
        squatter.close()
