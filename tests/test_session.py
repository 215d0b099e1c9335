"""The JSON session sends what aiogram's form sends, field for field; uploads stay forms."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageText,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.types import BufferedInputFile, ReplyKeyboardRemove
from aiohttp import FormData

from bot.session import JsonSession
from handlers.cards import card_keyboard
from ui.i18n import make_i18n
from ui.keyboards import main_menu


def form_fields(bot: Bot, method: TelegramMethod[Any]) -> dict[str, str]:
    """aiogram's own urlencoded form for the method, read back."""
    return dict(parse_qsl(AiohttpSession().build_form_data(bot, method)().decode(),
                          keep_blank_values=True))


def methods() -> list[TelegramMethod[Any]]:
    with make_i18n().context():
        card = card_keyboard(123, 4, ["Pourquoi voter ?", "Procuration"])
        menu = main_menu(True)
    return [
        SendMessage(chat_id=101, text="👤 <b>Zoé</b> « & »\n📞 +33612345678", reply_markup=card),
        SendMessage(chat_id=101, text="plain", parse_mode=None, reply_markup=menu),
        SendMessage(chat_id=-100200, text="x", reply_markup=ReplyKeyboardRemove(),
                    disable_notification=False),
        EditMessageText(chat_id=101, message_id=7, text="Recorded", reply_markup=card),
        AnswerCallbackQuery(callback_query_id="42", text="Déjà noté", show_alert=True),
        AnswerCallbackQuery(callback_query_id="43"),
        DeleteMessage(chat_id=101, message_id=7),
    ]


@pytest.mark.parametrize("method", methods(), ids=lambda m: type(m).__name__)
def test_json_body_carries_the_forms_fields(method: TelegramMethod[Any]):
    session = JsonSession()
    bot = Bot("42:TEST", session=session,
              default=DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True))
    payload = session.build_form_data(bot, method)
    assert not isinstance(payload, FormData)
    assert payload.content_type == "application/json"
    sent = json.loads(payload.decode())
    # The form writes a string as is and anything else as JSON ("101", "true", a keyboard).
    assert sent == {key: value if isinstance(sent.get(key), str) else json.loads(value)
                    for key, value in form_fields(bot, method).items()}


def test_an_upload_still_goes_as_a_form():
    session = JsonSession()
    bot = Bot("42:TEST", session=session)
    photo = SendPhoto(chat_id=101, photo=BufferedInputFile(b"\x89PNG", filename="web.png"),
                      caption="Joins per day")
    assert isinstance(session.build_form_data(bot, photo), FormData)
