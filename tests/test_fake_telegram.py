"""The fake Bot API refuses what Telegram refuses, with Telegram's own descriptions: a screen
that passes the tests cannot fail on Telegram's limits in production."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup

from tests.fake_telegram import FakeTelegram

CHAT = 101


@pytest.fixture
async def api() -> AsyncIterator[tuple[FakeTelegram, Bot]]:
    fake = FakeTelegram()
    await fake.start()
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.url))
    bot = Bot("42:TEST", session=session, default=DefaultBotProperties(parse_mode="HTML"))
    try:
        yield fake, bot
    finally:
        await bot.session.close()
        await fake.stop()


def keyboard(*buttons: InlineKeyboardButton, per_row: int = 2) -> InlineKeyboardMarkup:
    rows = [list(buttons[i:i + per_row]) for i in range(0, len(buttons), per_row)]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def button(text: str = "OK", data: str = "ok") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


async def refused(call, description: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TelegramBadRequest) as caught:
        await call
    assert caught.value.message == description


async def test_texts_are_counted_after_entity_parsing_in_utf16_code_units(api):
    fake, bot = api
    await bot.send_message(CHAT, "<b>" + "a" * 4096 + "</b>")  # the tags are not counted
    await refused(bot.send_message(CHAT, "a" * 4097), "Bad Request: message is too long")
    await bot.send_message(CHAT, "🗳" * 2048)  # outside the BMP: two code units each
    await refused(bot.send_message(CHAT, "🗳" * 2048 + "a"), "Bad Request: message is too long")
    await refused(bot.send_message(CHAT, "  \n"), "Bad Request: message text is empty")
    await refused(bot.send_message(CHAT, "<b></b>"), "Bad Request: message text is empty")
    shown = await bot.send_message(CHAT, "short")
    await refused(bot.edit_message_text("a" * 4097, chat_id=CHAT, message_id=shown.message_id),
                  "Bad Request: MESSAGE_TOO_LONG")
    assert [m.text for m in fake.chat(CHAT)][-1] == "short"


async def test_captions_and_callback_answers_have_their_own_limits(api):
    _fake, bot = api
    photo = BufferedInputFile(b"png", filename="chart.png")
    await bot.send_photo(CHAT, photo, caption="a" * 1024)
    await refused(bot.send_photo(CHAT, photo, caption="a" * 1025),
                  "Bad Request: message caption is too long")
    await bot.answer_callback_query("1", text="a" * 200)
    await refused(bot.answer_callback_query("1", text="a" * 201),
                  "Bad Request: MESSAGE_TOO_LONG")


async def test_buttons_are_checked_as_telegram_checks_them(api):
    _fake, bot = api
    await bot.send_message(CHAT, "ok", reply_markup=keyboard(button(data="x" * 64)))
    await refused(bot.send_message(CHAT, "x", reply_markup=keyboard(button(data="x" * 65))),
                  "Bad Request: BUTTON_DATA_INVALID")
    await refused(bot.send_message(CHAT, "x", reply_markup=keyboard(button(data="é" * 33))),
                  "Bad Request: BUTTON_DATA_INVALID")  # 66 bytes
    await refused(bot.send_message(CHAT, "x", reply_markup=keyboard(button(data=""))),
                  "Bad Request: BUTTON_DATA_INVALID")
    await refused(bot.send_message(CHAT, "x", reply_markup=keyboard(button(text=" "))),
                  "Bad Request: BUTTON_TEXT_INVALID")
    await bot.send_message(CHAT, "ok", reply_markup=keyboard(
        InlineKeyboardButton(text="Site", url="https://example.org"),
        InlineKeyboardButton(text="Chat", url="tg://resolve?domain=toile")))
    await refused(bot.send_message(CHAT, "x", reply_markup=keyboard(
        InlineKeyboardButton(text="Call", url="tel:+33612345678"))),
        "Bad Request: BUTTON_URL_INVALID")


async def test_at_most_100_buttons_and_10_kb_of_markup(api):
    _fake, bot = api
    await bot.send_message(CHAT, "ok", reply_markup=keyboard(
        *[button(str(i), str(i)) for i in range(100)]))
    await refused(bot.send_message(CHAT, "x", reply_markup=keyboard(
        *[button(str(i), str(i)) for i in range(101)])), "Bad Request: reply markup is too long")
    # 70 buttons of 60-character texts and 64-byte data: over 10 KB.
    big = keyboard(*[button("n" * 60, f"{i:064d}") for i in range(70)])
    await refused(bot.send_message(CHAT, "x", reply_markup=big),
                  "Bad Request: reply markup is too long")
    shown = await bot.send_message(CHAT, "small")
    await refused(bot.edit_message_reply_markup(chat_id=CHAT, message_id=shown.message_id,
                                                reply_markup=big),
                  "Bad Request: reply markup is too long")


async def test_an_edit_that_changes_nothing_is_not_modified(api):
    fake, bot = api
    markup = keyboard(button("Hide", "hide"))
    shown = await bot.send_message(CHAT, "<b>Rankings</b>", reply_markup=markup)
    same = {"chat_id": CHAT, "message_id": shown.message_id}
    not_modified = ("Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message")
    await refused(bot.edit_message_text("<b>Rankings</b>", reply_markup=markup, **same),
                  not_modified)
    await refused(bot.edit_message_reply_markup(reply_markup=markup, **same), not_modified)
    # The formatting alone, or the markup alone, is a change.
    await bot.edit_message_text("<i>Rankings</i>", reply_markup=markup, **same)
    await bot.edit_message_text("<i>Rankings</i>", **same)
    await refused(bot.edit_message_reply_markup(reply_markup=None, **same), not_modified)
    assert fake.last(CHAT).edits == 2 and fake.last(CHAT).buttons() == []
    await bot.delete_message(CHAT, shown.message_id)
    await refused(bot.edit_message_text("gone", **same),
                  "Bad Request: message to edit not found")
