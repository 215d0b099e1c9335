"""The bot's HTTP session: Bot API requests as one JSON body instead of a form."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import TelegramMethod
from aiogram.types import InputFile
from aiohttp import FormData
from aiohttp.payload import BytesPayload


class JsonSession(AiohttpSession):
    """aiogram sends every request as a urlencoded form: each nested field (a card's
    seventeen-button keyboard) is dumped to JSON, then percent-encoded character by
    character, about three times the CPU of one `json.dumps` of the whole request. The Bot
    API takes JSON as well; a request that uploads a file still goes as a multipart form."""

    # aiogram's make_request passes whatever this returns to aiohttp as `data`, which takes a
    # ready payload as well as a form: the rest of the request (errors, timeouts, the
    # answer's parsing) stays aiogram's.
    def build_form_data(  # type: ignore[override]
            self, bot: Bot, method: TelegramMethod[Any]) -> FormData | BytesPayload:
        files: dict[str, InputFile] = {}
        payload: dict[str, Any] = {}
        # exclude_none: the form leaves None out too, and the walk below then skips the
        # dozen unset fields of every button.
        for key, value in method.model_dump(warnings=False, exclude_none=True).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None and prepared != "":  # as the form: left out
                payload[key] = prepared
        if files:
            return super().build_form_data(bot, method)
        return BytesPayload(self.json_dumps(payload).encode(), content_type="application/json")
