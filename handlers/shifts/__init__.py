"""Shifts: /shifts for volunteers (join, leave), /newshift, the roster and cancelling for
organizers, and the shift reminders the deliverer sends.

places      the list and Join/Leave for everyone, the answers to the reminders
newshift    the organizers' /newshift dialogue
roster      rosters and attendance (names: private chats only)
cancelling  cancelling a shift
messages    the outbox renderers
texts, when how a shift reads; the times organizers write
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter

from handlers.doors import organizer_router, personal_data_router
from handlers.shifts.cancelling import ShiftCancelCB, cancel_pressed
from handlers.shifts.messages import make_renderers
from handlers.shifts.newshift import NewShift, NewShiftCB, newshift, newshift_done, newshift_step
from handlers.shifts.places import ShiftCB, join_keyboard, shift_pressed, shifts_command
from handlers.shifts.roster import (
    AttendanceCB,
    RosterCB,
    RosterPageCB,
    attendance,
    roster_page,
    roster_pressed,
    roster_screen,
)
from handlers.shifts.texts import describe, local_time, where_and_when
from handlers.shifts.when import parse_when
from storage.shifts import ShiftError

__all__ = ["AttendanceCB", "NewShift", "NewShiftCB", "RosterCB", "RosterPageCB", "ShiftCB",
           "ShiftCancelCB", "ShiftError", "build_router", "describe", "join_keyboard",
           "local_time", "make_renderers", "parse_when", "roster_screen", "where_and_when"]


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="shifts")
    router.message.register(shifts_command, Command("shifts"))
    router.callback_query.register(shift_pressed, ShiftCB.filter())
    organizers = organizer_router("shifts")
    organizers.message.register(newshift, Command("newshift"))
    organizers.message.register(newshift_step, StateFilter(
        NewShift.room, NewShift.address, NewShift.start, NewShift.end, NewShift.capacity,
        NewShift.note), F.text, ~F.text.startswith("/"))
    organizers.callback_query.register(cancel_pressed, ShiftCancelCB.filter())
    organizers.callback_query.register(newshift_done, NewShiftCB.filter())
    personal = personal_data_router("shifts")  # the roster: names
    personal.callback_query.register(roster_pressed, RosterCB.filter())
    personal.callback_query.register(attendance, AttendanceCB.filter())
    personal.callback_query.register(roster_page, RosterPageCB.filter())
    organizers.include_router(personal)
    router.include_router(organizers)
    return router
