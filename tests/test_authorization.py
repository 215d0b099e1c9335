"""Authorization lives in the router tree. Walking every command, callback prefix and FSM
state the dispatcher registers: everyone but organizers meets one polite refusal at each
organizer door and nothing else happens; organizers get through; and screens with
personal data answer in a group only with where to look."""

from __future__ import annotations

import itertools
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

from aiogram import Dispatcher, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter
from aiogram.fsm.state import State
from sqlalchemy import text

from bot.app import ORGANIZER_COMMANDS
from storage import clock
from storage.broadcasts import create_broadcast
from storage.shifts import add_shift, join_shift
from storage.users import request_to_call
from tests.botclient import Harness, Person
from tests.conftest import TABLES
from tests.conversation import ORGANIZER_ID
from tests.fake_telegram import ShownMessage
from tests.test_calling_conversation import ready_volunteer
from ui.filters import IsOrganizer, PersonalData

REFUSAL = "Only organizers can do that."
POINTER = "This shows personal data: open it in our private chat."
BOT_LINK = "https://t.me/toile_test_bot"
GROUP = -100123  # a group chat the bot is in

# The buttons meant for everyone. A new button is either listed here, or registered on its
# feature's organizer router (then the refusal covers it): never by default.
PUBLIC_PREFIXES = {"o", "cbl", "tp", "call", "pr", "prp", "prw", "forget", "web", "pdone", "rank",
                   "px", "pxc", "pxr", "pxa", "pxm", "pxk", "sh", "lnk", "vp", "vpc"}
# Screens that must never show their data in a group, whatever else changes: the commands,
# and the buttons by prefix (the shift roster and its attendance marks, proxy follow-ups).
PERSONAL_SCREENS = {"/proxies", "/volunteers", "shr", "att", "pxoa", "pxom"}


# ---- what the dispatcher registers ----------------------------------------------------------

@dataclass
class Door:
    """One way in: a command, a callback prefix, or an FSM state, and what guards it."""

    kind: str  # command | callback | state
    key: str
    organizer: bool  # behind an IsOrganizer filter on a router
    personal: bool  # behind a PersonalData filter on a router
    callback_data: type[CallbackData] | None = None


@dataclass
class Doors:
    found: list[Door] = field(default_factory=list)

    def of(self, kind: str, *, organizer: bool | None = None,
           personal: bool | None = None) -> list[Door]:
        return sorted({(d.kind, d.key): d for d in self.found if d.kind == kind
                       and (organizer is None or d.organizer == organizer)
                       and (personal is None or d.personal == personal)}.values(),
                      key=lambda d: d.key)


def _guards(router: Router, observer: str) -> list[Any]:
    filters = router.observers[observer]._handler.filters or []  # the router-level filters
    return [f.callback for f in filters]


def walk(dp: Dispatcher) -> Doors:
    doors = Doors()

    def visit(router: Router, guarded: dict[str, tuple[bool, bool]]) -> None:
        here = {}
        for name in ("message", "callback_query"):
            guards = _guards(router, name)
            organizer = guarded[name][0] or any(isinstance(g, IsOrganizer) for g in guards)
            personal = guarded[name][1] or any(isinstance(g, PersonalData) for g in guards)
            here[name] = (organizer, personal)
            for handler in router.observers[name].handlers:
                for f in handler.filters or []:
                    doors.found.extend(_doors_of(f.callback, organizer, personal))
        for sub in router.sub_routers:
            visit(sub, here)

    visit(dp, {"message": (False, False), "callback_query": (False, False)})
    return doors


def _doors_of(flt: Any, organizer: bool, personal: bool) -> Iterator[Door]:
    if isinstance(flt, Command):
        for command in flt.commands:
            yield Door("command", "/" + str(command), organizer, personal)
    elif isinstance(flt, CallbackQueryFilter):
        yield Door("callback", flt.callback_data.__prefix__, organizer, personal,
                   flt.callback_data)
    elif isinstance(flt, StateFilter):
        for state in flt.states:
            states = state.__states__ if isinstance(state, type) else (state,)
            for one in states:
                yield Door("state", one.state if isinstance(one, State) else str(one),
                           organizer, personal)


def forged(cls: type[CallbackData], ids: dict[str, int]) -> list[str]:
    """Callback data of class `cls` as a forger would write it: plausible ids (real rows),
    each field varied in turn over the values such a button carries."""
    words = ["", "now", "cancel", "confirm", "roster", "cancel_yes", "audience", "shift",
             "later", "details", "registered", "need", "offer", "everyone", "3"]
    hints = typing.get_type_hints(cls)
    choices: dict[str, list[Any]] = {}
    for name in cls.model_fields:
        kind = hints[name]
        if kind is bool:
            choices[name] = [True, False]
        elif kind is int:
            choices[name] = [ids.get(name, 1)]
        elif isinstance(kind, type) and issubclass(kind, Enum):
            choices[name] = list(kind)
        else:
            choices[name] = words
    base = {name: values[0] for name, values in choices.items()}
    variants = [dict(base, **{name: value}) for name, values in choices.items()
                for value in values] or [{}]
    return sorted({cls(**v).pack() for v in variants})


# ---- the scene ----------------------------------------------------------------------------

@dataclass
class Scene:
    organizer: Person
    supporter: Person
    volunteer: Person
    ids: dict[str, int]


async def scene(db, harness: Harness) -> Scene:
    organizer = harness.person(ORGANIZER_ID, "Orga", "en", username="orga")
    supporter = harness.person(666, "Eve", "en", username="eve")
    pending = harness.person(102, "Samir", "en", username="samir")
    for person in (organizer, supporter, pending):
        await person.send("/help")
    volunteer = await ready_volunteer(db, harness)
    await volunteer.send("/help")
    await request_to_call(db, pending.id)
    now = clock.utcnow()
    shift = await add_shift(db, room="Saint-Denis", address="6 rue de la République",
                            starts_at=now + timedelta(days=1),
                            ends_at=now + timedelta(days=1, hours=3), capacity=5,
                            actor_id=ORGANIZER_ID)
    await join_shift(db, shift.id or 0, volunteer.id)
    broadcast = await create_broadcast(
        db, text="Hello", visible_length=5, footer="— Toile", audience_kind="everyone",
        audience_value=None, shift_id=None, scheduled_at=now + timedelta(days=2),
        actor_id=ORGANIZER_ID, progress_chat_id=ORGANIZER_ID)
    await volunteer.send("/ask")
    await volunteer.send("Where is the room?")
    async with db.read() as session:
        relay = (await session.execute(text("SELECT max(id) FROM relay"))).scalar_one()
    ids = {"shift": shift.id or 0, "user": volunteer.id, "user_id": pending.id,
           "broadcast": broadcast.id or 0, "relay": relay or 1, "match": 1, "request": 1}
    return Scene(organizer, supporter, volunteer, ids)


async def dump(db) -> dict[str, list[str]]:
    tables = {}
    async with db.read() as session:
        for table in TABLES:
            rows = (await session.execute(text(f'SELECT * FROM "{table}"'))).all()
            tables[table] = sorted(repr(tuple(row)) for row in rows)
    return tables


def bot_calls(harness: Harness, since: int) -> list[tuple[str, dict[str, Any]]]:
    return [(c.method, c.params) for c in harness.fake.calls[since:] if c.method != "getMe"]


def said(harness: Harness, since: int) -> list[tuple[Any, ...]]:
    """What the bot did since: (method, chat, text, alert?) of each Bot API call."""
    return [(m, p.get("chat_id"), p.get("text"), p.get("show_alert"))
            for m, p in bot_calls(harness, since)]


async def set_state(harness: Harness, person: Person, state: str | None) -> None:
    context = harness.dp.fsm.get_context(bot=harness.bot, chat_id=person.id, user_id=person.id)
    await context.set_state(state)


async def get_state(harness: Harness, person: Person) -> str | None:
    context = harness.dp.fsm.get_context(bot=harness.bot, chat_id=person.id, user_id=person.id)
    return await context.get_state()


_targets = itertools.count(1)


def press_target(person: Person, chat_id: int | None = None) -> ShownMessage:
    """A fresh message of the bot's in that chat, for a forged press to come from (an edit
    of it then changes it: the forgery meets no stale-message path)."""
    fake = person.harness.fake
    shown = ShownMessage(message_id=next(fake._ids), chat_id=chat_id or person.id,
                         text=f"A message of the bot's ({next(_targets)})")
    fake.chats[shown.chat_id][shown.message_id] = shown
    return shown


# ---- the tests ------------------------------------------------------------------------------

async def test_every_organizer_door_is_behind_the_organizer_filter(db, harness):
    doors = walk(harness.dp)
    commands = {d.key for d in doors.of("command", organizer=True)}
    assert {"/" + c for c in ORGANIZER_COMMANDS} <= commands
    public = {d.key for d in doors.of("callback", organizer=False)}
    assert public == PUBLIC_PREFIXES, (
        "a button for everyone is listed in PUBLIC_PREFIXES; an organizer's button is "
        "registered on its feature's organizer router")
    for kind in ("command", "callback", "state"):  # a door is wholly one or the other
        behind = {d.key for d in doors.of(kind, organizer=True)}
        outside = {d.key for d in doors.of(kind, organizer=False)}
        assert not behind & outside, (kind, behind & outside)
    assert PERSONAL_SCREENS <= {d.key for d in doors.found if d.personal}


async def test_everyone_else_gets_the_refusal_and_nothing_else(db, campaign, harness,
                                                              frozen_clock):
    stage = await scene(db, harness)
    doors = walk(harness.dp)
    before = await dump(db)
    wrong = []
    for person in (stage.supporter, stage.volunteer):
        refused = [("sendMessage", person.id, REFUSAL, None)]
        for door in doors.of("command", organizer=True):
            since = len(harness.fake.calls)
            await person.send(door.key)
            if said(harness, since) != refused:
                wrong.append((person.first_name, door.key, said(harness, since)))
        for door in doors.of("callback", organizer=True):
            assert door.callback_data is not None
            for data in forged(door.callback_data, stage.ids):
                since = len(harness.fake.calls)
                await person.press_data(data, press_target(person))
                if said(harness, since) != [("answerCallbackQuery", None, REFUSAL, True)]:
                    wrong.append((person.first_name, data, said(harness, since)))
        for door in doors.of("state", organizer=True):
            await set_state(harness, person, door.key)
            since = len(harness.fake.calls)
            await person.send("18/06 14:00")
            if said(harness, since) != refused:
                wrong.append((person.first_name, door.key, said(harness, since)))
            if await get_state(harness, person) is not None:  # no dialogue to carry on
                wrong.append((person.first_name, door.key, "state kept"))
            await set_state(harness, person, None)
        for door in doors.of("command", organizer=True):  # in a group: the same refusal
            since = len(harness.fake.calls)
            await person.send(door.key, in_chat=GROUP)
            if said(harness, since) != [("sendMessage", GROUP, REFUSAL, None)]:
                wrong.append((person.first_name, "group " + door.key, said(harness, since)))
    assert wrong == []
    assert await dump(db) == before


async def test_organizers_get_past_the_refusal_at_every_door(db, campaign, harness,
                                                             frozen_clock):
    stage = await scene(db, harness)
    doors = walk(harness.dp)
    organizer = stage.organizer
    answers = []
    for door in doors.of("command", organizer=True):
        since = len(harness.fake.calls)
        await organizer.send(door.key)
        answers.append((door.key, bot_calls(harness, since)))
    for door in doors.of("callback", organizer=True):
        assert door.callback_data is not None
        for data in forged(door.callback_data, stage.ids):
            since = len(harness.fake.calls)
            await organizer.press_data(data, press_target(organizer))
            answers.append((data, bot_calls(harness, since)))
    for key, calls in answers:
        assert calls, f"{key}: the organizer got no answer at all"
    for door in doors.of("state", organizer=True):  # a step without its dialogue's data
        await set_state(harness, organizer, door.key)
        since = len(harness.fake.calls)
        await organizer.send("18/06 14:00")
        answers.append((door.key, bot_calls(harness, since)))
    for key, calls in answers:
        assert all(REFUSAL not in str(p.get("text")) for _m, p in calls), key


async def test_personal_data_screens_answer_in_a_group_with_where_to_look(
        db, campaign, harness, frozen_clock):
    stage = await scene(db, harness)
    doors = walk(harness.dp)
    organizer = stage.organizer
    wrong, shown = [], set()
    for door in doors.of("command", personal=True):
        since = len(harness.fake.calls)
        await organizer.send(door.key, in_chat=GROUP)
        calls = bot_calls(harness, since)
        if said(harness, since) != [("sendMessage", GROUP, POINTER, None)] or (
                calls[0][1]["reply_markup"]["inline_keyboard"][0][0].get("url") != BOT_LINK):
            wrong.append((door.key, said(harness, since)))
        shown.add(door.key)
    for door in doors.of("callback", personal=True):
        assert door.callback_data is not None
        for data in forged(door.callback_data, stage.ids):
            since = len(harness.fake.calls)
            await organizer.press_data(data, press_target(organizer, GROUP))
            if said(harness, since) != [("answerCallbackQuery", None, POINTER, True)]:
                wrong.append((data, said(harness, since)))
        shown.add(door.key)
    assert wrong == []
    assert PERSONAL_SCREENS <= shown
    # In the private chat, the same screens show their data.
    await organizer.send("/volunteers")
    assert organizer.sees("Samir (@samir)")
    # And /call in a group still hands out no contact.
    since = len(harness.fake.calls)
    await stage.volunteer.send("/call", in_chat=GROUP)
    assert [m for m, *_rest in said(harness, since)] == ["sendMessage"]
    assert harness.fake.last(GROUP).text.startswith("Contacts are handed out in private")


def test_forged_data_covers_each_field() -> None:
    from handlers.shifts import AttendanceCB

    packed = forged(AttendanceCB, {"shift": 7, "user": 101})
    assert packed == ["att:7:101:0", "att:7:101:1"]
