"""The Bot API stand-in answers every method Toile calls with Telegram's shape and checks,
and does what the sandbox's page needs: people write and tap, screens watch the chats."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramNotFound
from aiogram.methods import GetUpdates
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    BufferedInputFile,
    CopyTextButton,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
    Update,
)
from aiohttp import ClientSession, web

from bot.standin import StandIn, updates

CHAT = 101
PNG = b"\x89PNG\r\n\x1a\n chart"


def second_type(standin: StandIn) -> str:
    return shown(standin)[1].file.mime_type
LISA = updates.user(CHAT, "Lisa", "fr")


@pytest.fixture
async def api() -> AsyncIterator[tuple[StandIn, Bot]]:
    standin = StandIn(username="toile_sandbox_bot")
    await standin.start()
    session = AiohttpSession(api=TelegramAPIServer.from_base(standin.url))
    bot = Bot("42:TEST", session=session, default=DefaultBotProperties(parse_mode="HTML"))
    try:
        yield standin, bot
    finally:
        await bot.session.close()
        await standin.stop()


async def refused(call, description: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TelegramBadRequest) as caught:
        await call
    assert caught.value.message == description


def shown(standin: StandIn, chat_id: int = CHAT):
    return sorted(standin.chats[chat_id].values(), key=lambda m: m.message_id)


async def test_get_me_names_the_configured_bot(api):
    _standin, bot = api
    me = await bot.get_me()
    assert (me.username, me.is_bot) == ("toile_sandbox_bot", True)


async def test_a_photo_and_a_document_keep_their_bytes_and_name(api):
    standin, bot = api
    photo = await bot.send_photo(CHAT, BufferedInputFile(PNG, filename="web.png"),
                                 caption="<b>Joins</b> per day")
    assert photo.caption == "Joins per day" and photo.photo
    assert photo.caption_entities[0].type == "bold"
    document = await bot.send_document(
        CHAT, BufferedInputFile(b"id,name\n", filename="export.csv"), caption="Export")
    assert document.document.file_name == "export.csv"
    first, second = shown(standin)
    assert (first.kind, first.file.data, first.caption) == ("photo", PNG, "Joins per day")
    # aiogram uploads every file as application/octet-stream: the bytes say what it is
    assert (first.file.mime_type, second_type(standin)) == ("image/png", "text/csv")
    assert (second.kind, second.file.data, second.file.filename) == (
        "document", b"id,name\n", "export.csv")
    await refused(bot.edit_message_text("x", chat_id=CHAT, message_id=photo.message_id),
                  "Bad Request: there is no text in the message to edit")
    await bot.edit_message_caption(chat_id=CHAT, message_id=photo.message_id, caption="New")
    assert shown(standin)[0].text == "[photo] New"


async def test_entities_come_back_in_utf16_units_with_links_and_commands_found(api):
    _standin, bot = api
    sent = await bot.send_message(
        CHAT, "🗳 <b>Vote</b> <a href=\"https://example.org\">here</a>, "
              "https://t.me/toile_sandbox_bot?start=abc or /help")
    kinds = {(e.type, e.offset, e.length) for e in sent.entities}
    assert ("bold", 3, 4) in kinds  # the emoji counts two units, its space one
    assert ("text_link", 8, 4) in kinds
    assert ("url", 14, len("https://t.me/toile_sandbox_bot?start=abc")) in kinds
    assert any(e.type == "bot_command" for e in sent.entities)


async def test_replies_need_the_message_they_answer(api):
    standin, bot = api
    first = await bot.send_message(CHAT, "The question")
    answer = await bot.send_message(CHAT, "The answer",
                                    reply_parameters=ReplyParameters(message_id=first.message_id))
    assert answer.reply_to_message.message_id == first.message_id
    await refused(bot.send_message(CHAT, "x", reply_parameters=ReplyParameters(message_id=999)),
                  "Bad Request: message to be replied not found")
    lenient = ReplyParameters(message_id=999, allow_sending_without_reply=True)
    assert (await bot.send_message(CHAT, "ok", reply_parameters=lenient)).reply_to_message is None
    assert shown(standin)[1].reply_to == first.message_id


async def test_deleting_a_message_twice_is_refused_the_second_time(api):
    standin, bot = api
    sent = await bot.send_message(CHAT, "A number")
    assert await bot.delete_message(CHAT, sent.message_id)
    await refused(bot.delete_message(CHAT, sent.message_id),
                  "Bad Request: message to delete not found")
    assert shown(standin) == []


async def test_the_command_menu_is_kept_per_scope_and_language(api):
    standin, bot = api
    everyone = [BotCommand(command="start", description="Commencer")]
    await bot.set_my_commands(everyone, scope=BotCommandScopeDefault())
    await bot.set_my_commands([BotCommand(command="start", description="Start")],
                              scope=BotCommandScopeDefault(), language_code="en")
    await bot.set_my_commands([*everyone, BotCommand(command="stats", description="Chiffres")],
                              scope=BotCommandScopeChat(chat_id=1001))
    menu = standin.commands.for_private_chat
    assert [c["description"] for c in menu(CHAT, "en")] == ["Start"]
    assert [c["description"] for c in menu(CHAT, "fr")] == ["Commencer"]
    assert [c["command"] for c in menu(1001, "en")] == ["start", "stats"]
    assert [c.command for c in await bot.get_my_commands(
        scope=BotCommandScopeChat(chat_id=1001))] == ["start", "stats"]
    await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=1001))
    assert [c["description"] for c in menu(1001, "en")] == ["Start"]
    await refused(bot.set_my_commands([BotCommand(command="Stats", description="x")]),
                  "Bad Request: BOT_COMMAND_INVALID")
    await refused(bot.set_my_commands([BotCommand(command="stats", description=" ")]),
                  "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")


async def test_a_reply_keyboard_stays_until_replaced_or_removed(api):
    standin, bot = api
    menu = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="📞 Next call")]],
                               resize_keyboard=True)
    sent = await bot.send_message(CHAT, "Welcome", reply_markup=menu)
    await bot.delete_message(CHAT, sent.message_id)  # the keyboard stays, as on Telegram
    assert standin.keyboards[CHAT]["keyboard"][0][0]["text"] == "📞 Next call"
    await bot.send_message(CHAT, "Bye", reply_markup=ReplyKeyboardRemove())
    assert CHAT not in standin.keyboards


async def test_people_write_and_tap_and_screens_see_every_change(api):
    standin, bot = api
    async with standin.watching() as events:
        standin.say(LISA, "/start")
        update = (await bot(GetUpdates(timeout=1)))[0]
        assert update.message.text == "/start" and update.message.entities[0].type == (
            "bot_command")
        assert shown(standin)[0].sender["first_name"] == "Lisa"
        card = await bot.send_message(CHAT, "Card", reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="No answer", callback_data="o:1")]]))
        standin.press(LISA, standin.chats[CHAT][card.message_id], "o:1")
        # The offset confirms the /start, which Telegram would hand out again otherwise.
        press = (await bot(GetUpdates(offset=update.update_id + 1, timeout=1)))[0].callback_query
        assert (press.data, press.message.message_id, press.from_user.id) == (
            "o:1", card.message_id, CHAT)
        await bot.answer_callback_query(press.id, text="Recorded", show_alert=True)
        await bot.delete_message(CHAT, card.message_id)
        seen = [events.get_nowait() for _ in range(events.qsize())]
    assert [e.kind for e in seen] == ["shown", "shown", "toast", "deleted"]
    assert (seen[2].chat_id, seen[2].text, seen[2].alert) == (CHAT, "Recorded", True)
    standin.reset()
    assert not standin.chats and standin.updates.empty()


async def test_a_screen_that_stops_reading_is_dropped_not_waited_for(api):
    standin, _bot = api
    async with standin.watching() as events:
        for i in range(1001):
            standin.say(LISA, f"hello {i}")
        assert not standin.watched(events)
    assert standin.updates.qsize() == 1001


async def test_a_chat_keeps_its_latest_messages_only():
    standin = StandIn(max_messages=3)
    for i in range(5):
        standin.say(LISA, f"message {i}")
    assert [m.text for m in shown(standin)] == ["message 2", "message 3", "message 4"]


async def test_the_api_shares_an_application_and_answers_unknown_or_bad_requests():
    standin = StandIn()
    app = web.Application()
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="page")

    app.router.add_get("/", page)
    standin.install(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    try:
        async with ClientSession() as http:
            assert await (await http.get(url + "/")).text() == "page"
            answer = await (await http.post(url + "/bot42:T/getMe")).json()
            assert answer["result"]["username"] == "toile_sandbox_bot"
            bad = await http.post(url + "/bot42:T/sendMessage", data=b"{nope",
                                  headers={"Content-Type": "application/json"})
            assert bad.status == 400
            missing = await http.post(url + "/bot42:T/sendMessage", json={"text": "hi"})
            assert (await missing.json())["description"] == "Bad Request: chat_id is empty"
        session = AiohttpSession(api=TelegramAPIServer.from_base(url))
        bot = Bot("42:TEST", session=session)
        with pytest.raises(TelegramNotFound):
            await bot.send_poll(CHAT, "?", options=["a", "b"])
        await bot.session.close()
    finally:
        await runner.cleanup()


def test_the_updates_built_are_what_aiogram_reads_from_telegram():
    start = updates.start_update(1, 7, LISA, "abc_DEF-1")
    message = Update.model_validate(start).message
    assert message.text == "/start abc_DEF-1" and message.entities[0].length == 6
    assert message.chat.type == "private" and message.from_user.language_code == "fr"
    bot_message = {"message_id": 8, "date": 0, "chat": {"id": CHAT, "type": "private"},
                   "from": {"id": 1, "is_bot": True, "first_name": "Toile"}, "text": "Card"}
    query = Update.model_validate(updates.callback_query_update(2, LISA, bot_message, "o:1"))
    assert (query.callback_query.data, query.callback_query.message.message_id) == ("o:1", 8)
    reply = Update.model_validate(updates.message_update(3, 9, LISA, "Oui", reply_to=bot_message))
    assert reply.message.reply_to_message.text == "Card" and not reply.message.entities


async def test_an_update_stays_until_a_later_call_confirms_it(api):
    standin, bot = api
    standin.say(LISA, "hello")
    first = await bot(GetUpdates(timeout=1))
    again = await bot(GetUpdates(timeout=0))  # no offset: nothing confirmed yet
    assert [u.update_id for u in again] == [u.update_id for u in first]
    assert await bot(GetUpdates(offset=first[-1].update_id + 1, timeout=0)) == []


async def test_a_copy_text_button_holds_1_to_256_characters_as_telegram_checks(api):
    standin, bot = api

    def copy(text: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text="📋 Copy", copy_text=CopyTextButton(text=text))]])

    sent = await bot.send_message(CHAT, "A message to send", reply_markup=copy("é" * 256))
    assert shown(standin)[0].buttons()[0]["copy_text"] == {"text": "é" * 256}
    for wrong in ("", "x" * 257):
        await refused(bot.send_message(CHAT, "x", reply_markup=copy(wrong)),
                      "Bad Request: BUTTON_COPY_TEXT_INVALID")
        await refused(bot.edit_message_reply_markup(chat_id=CHAT, message_id=sent.message_id,
                                                    reply_markup=copy(wrong)),
                      "Bad Request: BUTTON_COPY_TEXT_INVALID")
