"""Authorization lives in the router tree.

A feature registers its organizer-only handlers (commands, their dialogue steps, their
buttons) on `organizer_router(...)`, and its screens with personal data on
`personal_data_router(...)`, both included in the feature's router. Nothing in a handler
body checks who may enter. Whoever knocks at a door that is not theirs meets one answer,
built from what those routers register, so a new handler is covered without more code:
- the refusal router: a non-organizer's organizer command, button or dialogue step;
- the pointer router: a personal-data screen asked for outside a private chat.
An organizer button has a CallbackData class (a prefix) of its own: a prefix is wholly
for organizers or wholly for everyone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiogram import Bot, Router
from aiogram.filters import BaseFilter, Command, StateFilter
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from ui.filters import IsOrganizer, PersonalData, PrivateChat
from ui.notify import acknowledge


def organizer_router(feature: str) -> Router:
    """Organizers only: anyone else gets the refusal."""
    router = Router(name=f"{feature}.organizers")
    router.message.filter(IsOrganizer())
    router.callback_query.filter(IsOrganizer())
    return router


def personal_data_router(feature: str) -> Router:
    """Private chats only: in a group, the pointer to the private chat."""
    router = Router(name=f"{feature}.personal")
    router.message.filter(PersonalData())
    router.callback_query.filter(PersonalData())
    return router


@dataclass(frozen=True)
class Doors:
    commands: frozenset[str]
    prefixes: frozenset[str]  # callback data prefixes, with their separator
    states: frozenset[str]


def _guarded(router: Router, observer: str, guard: type[BaseFilter]) -> bool:
    filters = router.observers[observer]._handler.filters or []  # the router's own filters
    return any(isinstance(f.callback, guard) for f in filters)


def doors_behind(routers: Iterable[Router], guard: type[BaseFilter]) -> Doors:
    """Every command, callback prefix and FSM state registered under a router (or one of its
    sub-routers) whose observer carries a `guard` filter."""
    commands: set[str] = set()
    prefixes: set[str] = set()
    states: set[str] = set()

    def visit(router: Router, behind: dict[str, bool]) -> None:
        here = {name: behind[name] or _guarded(router, name, guard)
                for name in ("message", "callback_query")}
        for name in ("message", "callback_query"):
            if not here[name]:
                continue
            for handler in router.observers[name].handlers:
                for flt in (f.callback for f in handler.filters or []):
                    if isinstance(flt, Command):
                        commands.update(str(c) for c in flt.commands)
                    elif isinstance(flt, CallbackQueryFilter):
                        data = flt.callback_data
                        prefixes.add(data.__prefix__ + data.__separator__)
                    elif isinstance(flt, StateFilter):
                        states.update(_state_names(flt))
        for sub in router.sub_routers:
            visit(sub, here)

    for router in routers:
        visit(router, {"message": False, "callback_query": False})
    return Doors(frozenset(commands), frozenset(prefixes), frozenset(states))


def _state_names(flt: StateFilter) -> set[str]:
    names: set[str] = set()
    for state in flt.states:
        if isinstance(state, State):
            names.add(state.state or "")
        elif isinstance(state, type):  # a whole StatesGroup
            names.update(s.state or "" for s in state.__states__)
        elif isinstance(state, str) and state != "*":
            names.add(state)
    return names


class AtDoor(BaseFilter):
    """The update knocks at one of these doors: a command, a button, a dialogue step."""

    def __init__(self, doors: Doors) -> None:
        self.doors = doors
        self.command = Command(*doors.commands) if doors.commands else None

    async def __call__(self, event: Message | CallbackQuery, bot: Bot,
                       raw_state: str | None = None) -> bool | dict[str, bool]:
        if isinstance(event, CallbackQuery):
            return any((event.data or "").startswith(p) for p in self.doors.prefixes)
        if raw_state is not None and raw_state in self.doors.states:
            return {"at_step": True}
        return self.command is not None and bool(await self.command(event, bot))


async def refuse(message: Message, state: FSMContext, at_step: bool = False) -> None:
    if at_step:  # in a dialogue of an organizer's, and no longer one: it ends here
        await state.set_state(None)
    await message.answer(_("Only organizers can do that."))


async def refuse_press(query: CallbackQuery) -> None:
    await acknowledge(query, _("Only organizers can do that."), show_alert=True)


def build_refusal_router(features: Iterable[Router]) -> Router:
    """One refusal for every organizer door of `features` (placed after them)."""
    door = AtDoor(doors_behind(features, IsOrganizer))
    router = Router(name="refusal")
    router.message.filter(~IsOrganizer())
    router.callback_query.filter(~IsOrganizer())
    router.message.register(refuse, door)
    router.callback_query.register(refuse_press, door)
    return router


def _pointer() -> str:
    return _("This shows personal data: open it in our private chat.")


async def point_to_private(message: Message, bot: Bot) -> None:
    me = await bot.me()  # asked once, then aiogram keeps it
    await message.answer(_pointer(), reply_markup=InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=_("Open our private chat"),
                             url=f"https://t.me/{me.username}")]]))


async def point_to_private_press(query: CallbackQuery) -> None:
    await acknowledge(query, _pointer(), show_alert=True)


def build_pointer_router(features: Iterable[Router]) -> Router:
    """Where to look, for every personal-data screen of `features` asked for in a group
    (placed after them and after the refusal: a non-organizer is refused first)."""
    door = AtDoor(doors_behind(features, PersonalData))
    router = Router(name="personal data pointer")
    router.message.filter(~PrivateChat())
    router.callback_query.filter(~PrivateChat())
    router.message.register(point_to_private, door)
    router.callback_query.register(point_to_private_press, door)
    return router
