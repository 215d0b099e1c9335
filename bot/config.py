"""Typed settings, read from the environment and `.env`."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./toile.db"
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: str = ""
    database_url: str = DEFAULT_DATABASE_URL
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    organizer_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    organizer_chat_id: int | None = None
    redis_url: str | None = None
    default_locale: str = "fr"
    timezone: str = "Europe/Paris"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = 8080
    # The sandbox (no BOT_TOKEN, or `toile sandbox`): its page and Bot API stand-in. Loopback
    # only unless told otherwise: anyone who reaches it can act as any of its cast.
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = Field(default=8080, ge=0, le=65535)
    # Messages a second the deliverer sends (nudges, reminders, broadcasts). Telegram allows
    # about 30 to different chats; more only with paid broadcasts.
    send_rate: float = Field(default=25.0, gt=0)
    # Paid broadcasts (Telegram Stars): up to 1,000 messages a second for broadcasts.
    allow_paid_broadcast: bool = False
    # The wall's web server (the room's screen, /wall); port 0 turns it off.
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8081, ge=0, le=65535)
    # The address people open, e.g. behind the same reverse proxy as the webhook.
    public_url: str | None = None

    def wall_url(self) -> str | None:
        """Where the wall's links point: PUBLIC_URL, else the server's own address; None
        when the server is off."""
        if not self.web_port:
            return None
        return (self.public_url or f"http://{self.web_host}:{self.web_port}").rstrip("/")

    def rejoin_secret(self) -> bytes:
        """The key of the hash a forgotten recruit's node keeps (storage/personal.py):
        derived from the bot's token, the one secret the bot always holds and that never
        sits in the database. A new token only means a rejoin after it counts again."""
        return hashlib.sha256(b"toile rejoin key\0" + self.bot_token.encode()).digest()

    @field_validator("organizer_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("organizer_chat_id", "redis_url", "webhook_url", "webhook_secret",
                     "public_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value


@lru_cache
def get_settings() -> Settings:
    return Settings()
