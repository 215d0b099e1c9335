"""A shift's roster for organizers: who signed up, a page at a time, with ✅ came / ❌
no-show buttons to mark attendance (names: private chats only)."""

from __future__ import annotations

from collections import Counter
from html import escape

from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from handlers.shifts.texts import where_and_when
from storage import clock
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.models import Campaign, SignupStatus
from storage.shifts import RosterLine, ShiftView, mark_attendance, roster, shift_view
from storage.users import Person
from ui.notify import acknowledge, edit_in_place


class RosterCB(CallbackData, prefix="shr"):
    """An organizer's: who signed up (names)."""

    shift: int


class AttendanceCB(CallbackData, prefix="att"):
    shift: int
    user: int
    came: bool


class RosterPageCB(CallbackData, prefix="shp"):
    """An organizer's: another page of a shift's roster, in place."""

    shift: int
    page: int  # from 0


# People a roster page: 40 buttons and about 2,500 characters at most, with the longest
# names Telegram allows (64), well within its 100 buttons, 10 KB of markup and 4,096
# characters a message. A shift may take 1,000.
ROSTER_PAGE = 20
BUTTON_NAME = 24  # characters of a name on a ✅/❌ button
MARKS = {SignupStatus.ATTENDED: "✅", SignupStatus.NO_SHOW: "❌", SignupStatus.JOINED: "·"}


async def roster_screen(db: Database, view: ShiftView, campaign: Campaign | None, *,
                        page: int = 0, showing: int | None = None,
                        ) -> tuple[str, InlineKeyboardMarkup] | None:
    """Everyone signed up with ✅ came / ❌ no-show buttons, and the counts so far: the one
    screen where an organizer marks attendance, headed by the shift once it is over. A page
    of ROSTER_PAGE people at a time, ‹ › to turn: `page`, or the page of the person
    `showing` (just marked). None if nobody joined."""
    people = await roster(db, view.shift.id or 0)
    if not people:
        return None
    pages = -(-len(people) // ROSTER_PAGE)
    at = next((i for i, p in enumerate(people) if p.user_id == showing), None)
    page = min(max(page if at is None else at // ROSTER_PAGE, 0), pages - 1)
    shown = people[page * ROSTER_PAGE:(page + 1) * ROSTER_PAGE]
    # Two Camilles: each with their place in the roster, on the screen and on the buttons.
    twice = {n for n, count in Counter(p.first_name for p in people).items() if count > 1}
    number = {p.user_id: f" #{i}" for i, p in enumerate(people, 1) if p.first_name in twice}
    text = _roster_text(view, campaign, people, shown, number, page, pages)
    return text, _roster_keyboard(view.shift.id or 0, shown, number, page, pages)


def _roster_text(view: ShiftView, campaign: Campaign | None, people: list[RosterLine],
                 shown: list[RosterLine], number: dict[int, str], page: int,
                 pages: int) -> str:
    title = (_("🏁 Shift over, who came? {shift}").format(shift=where_and_when(view, campaign))
             if view.shift.ends_at <= clock.utcnow() else "")
    came = sum(p.status == SignupStatus.ATTENDED for p in people)
    missed = sum(p.status == SignupStatus.NO_SHOW for p in people)
    lines = ([title] if title else []) + [_("Roster:")]
    for p in shown:
        line = f"{MARKS.get(p.status, '·')} {escape(p.first_name)}{number.get(p.user_id, '')}"
        if p.no_shows_elsewhere:
            line += " " + _("(no-shows at other shifts: {n})").format(n=p.no_shows_elsewhere)
        lines.append(line)
    lines.append(_("{came} came, {missed} no-shows, {left} not marked yet.").format(
        came=came, missed=missed, left=len(people) - came - missed))
    if pages > 1:
        lines.append(_("Page {page}/{pages}").format(page=page + 1, pages=pages))
    return "\n".join(lines)


def _roster_keyboard(shift_id: int, shown: list[RosterLine], number: dict[int, str],
                     page: int, pages: int) -> InlineKeyboardMarkup:
    rows = []
    for p in shown:
        label = _button_name(p.first_name) + number.get(p.user_id, "")
        rows.append([
            InlineKeyboardButton(text=f"✅ {label}", callback_data=AttendanceCB(
                shift=shift_id, user=p.user_id, came=True).pack()),
            InlineKeyboardButton(text=f"❌ {label}", callback_data=AttendanceCB(
                shift=shift_id, user=p.user_id, came=False).pack())])
    turn = []
    if page > 0:
        turn.append(InlineKeyboardButton(text=f"‹ {page}", callback_data=RosterPageCB(
            shift=shift_id, page=page - 1).pack()))
    if page < pages - 1:
        turn.append(InlineKeyboardButton(text=f"{page + 2} ›", callback_data=RosterPageCB(
            shift=shift_id, page=page + 1).pack()))
    if turn:
        rows.append(turn)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _button_name(name: str) -> str:
    return name if len(name) <= BUTTON_NAME else name[:BUTTON_NAME - 1].rstrip() + "…"


async def roster_page(query: CallbackQuery, callback_data: RosterPageCB, db: Database,
                      campaigns: CampaignCache) -> None:
    await acknowledge(query)
    view = await shift_view(db, callback_data.shift)
    screen = None if view is None else await roster_screen(
        db, view, await campaigns.get(), page=callback_data.page)
    if screen is not None:  # a double tap on ‹ or ›: "not modified", done
        await edit_in_place(query.message, screen[0], reply_markup=screen[1])


async def roster_pressed(query: CallbackQuery, callback_data: RosterCB, db: Database,
                         campaigns: CampaignCache) -> None:
    await acknowledge(query)
    view = await shift_view(db, callback_data.shift)
    if view is None or not isinstance(query.message, Message):
        return
    screen = await roster_screen(db, view, await campaigns.get())
    if screen is None:
        await query.message.answer(_("Nobody has joined this shift yet."))
        return
    text, markup = screen
    await query.message.answer(text, reply_markup=markup)


async def attendance(query: CallbackQuery, callback_data: AttendanceCB, db: Database,
                     campaigns: CampaignCache, user: Person) -> None:
    await mark_attendance(db, callback_data.shift, callback_data.user, callback_data.came,
                          actor_id=user.id)
    await acknowledge(query, _("Noted."))
    view = await shift_view(db, callback_data.shift)
    # The page of the person just marked: the organizer stays where they were.
    screen = None if view is None else await roster_screen(
        db, view, await campaigns.get(), showing=callback_data.user)
    if screen is not None:  # the same mark again: "not modified", done
        await edit_in_place(query.message, screen[0], reply_markup=screen[1])
