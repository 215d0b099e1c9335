"""The spider's web for supporters: /invite, joining through a link, the vote-tripling
pledge, and the messages the deliverer sends for it (nudges, the eve-of-round reminder)."""

from __future__ import annotations

from datetime import date
from html import escape
from typing import Any
from urllib.parse import quote

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from handlers.vote_place import place_button
from storage.campaign_cache import CampaignCache
from storage.database import Database
from storage.outbox import Delivery, NoticeKind
from storage.proxies import voting_place
from storage.silence import silence_at
from storage.users import Person, get_user
from storage.web import (
    GOAL,
    PledgeError,
    Progress,
    attribute_referral,
    confirm_pledge_round,
    parse_pledge_names,
    pledge_names,
    progress,
    save_pledge,
    set_leaderboard_opt_out,
)
from ui.filters import MenuButton, PrivateChat
from ui.notify import acknowledge, edit_in_place
from ui.renderers import Renderers
from ui.silence import silence_line


class InviteCB(CallbackData, prefix="web"):
    action: str  # "pledge" | "hide" | "show" | "cancel"


class PledgeDoneCB(CallbackData, prefix="pdone"):
    round: str  # the round's date, 2024-06-30


class PledgeStates(StatesGroup):
    names = State()


async def invite_link(bot: Bot, code: str) -> str:
    me = await bot.me()  # cached by aiogram after the first call
    return f"https://t.me/{me.username}?start={code}"


def progress_line(p: Progress) -> str:
    names = ", ".join(escape(n) if n else _("someone") for n in p.recruits)
    if p.count == 0:
        return _("Nobody has joined through your link yet.")
    if p.count < GOAL:
        return _("{n} of your 3 so far: {names}").format(n=p.count, names=names)
    return _("🎉 {n} people joined through you: {names}. You brought your three!").format(
        n=p.count, names=names)


def share_button(link: str) -> InlineKeyboardButton:
    invitation = _("I support this campaign and I'm bringing three people along. "
                   "Join us, it takes a minute:")
    url = f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(invitation, safe='')}"
    return InlineKeyboardButton(text=_("📤 Share my link"), url=url)


def rankings_note(opt_out: bool, changed: bool) -> str:
    """The answer to "leave me out of the rankings" / "show me", here and in /me's callers'
    rankings: a second tap on the same message says it is done already."""
    if changed:
        return (_("Done: you are left out of the rankings.") if opt_out
                else _("Done: you are in the rankings again."))
    return (_("Already done: you are left out of the rankings.") if opt_out
            else _("Already done: you are in the rankings."))


async def invite_message(bot: Bot, db: Database, user: Person,
                         private: bool = True) -> tuple[str, dict[str, Any]]:
    """The link, the count and the buttons; in a private chat also the pledge and "Where do
    you vote?" (three people's names and the person's own place: never asked in a group)."""
    p = await progress(db, user.id)
    link = await invite_link(bot, p.code)
    text = "\n\n".join((
        _("🕸 <b>Everyone brings three.</b> If each of us brings three people, the campaign "
          "grows by itself."),
        _("Your personal link:\n{link}").format(link=link),
        progress_line(p),
    ))
    rows = [[share_button(link)]]
    if private:
        rows.append([InlineKeyboardButton(text=_("🗳 I'll remind 3 people to vote"),
                                          callback_data=InviteCB(action="pledge").pack())])
        rows.append([place_button(await voting_place(db, user.id))])
    hide = InviteCB(action="show" if p.leaderboard_opt_out else "hide")
    rows.append([InlineKeyboardButton(
        text=_("👀 Show me in the rankings") if p.leaderboard_opt_out
        else _("🙈 Leave me out of the rankings"), callback_data=hide.pack())])
    return text, {"reply_markup": InlineKeyboardMarkup(inline_keyboard=rows)}


async def invite(message: Message, bot: Bot, db: Database, user: Person,
                 campaigns: CampaignCache) -> None:
    campaign = await campaigns.get()
    if campaign is not None and (silence := silence_at(campaign)) is not None:
        # An invitation to pass on is campaign material: none is handed out in the silence.
        await message.answer(_("🤫 Invitations wait until the polls close: the campaign is "
                               "silent from midnight on the eve of the vote (Code électoral, "
                               "art. L49).") + "\n\n" + silence_line(campaign, silence))
        return
    text, kwargs = await invite_message(bot, db, user,
                                        private=message.chat.type == ChatType.PRIVATE)
    await message.answer(text, **kwargs)


async def welcome_through_link(message: Message, db: Database, rejoin_secret: bytes,
                               user: Person, payload: str) -> bool:
    """/start <code> from someone new: record who brought them (the referrer's "joined
    through you" is queued with it) and welcome them. Returns whether the link counted."""
    attribution = await attribute_referral(db, user.id, payload,
                                           rejoin_secret=rejoin_secret)
    if attribution is None:
        return False
    referrer = await get_user(db, attribution.referrer_id)
    if referrer is not None and not referrer.blocked and not referrer.forgotten:
        await message.answer(_("Welcome! {name} invited you. 🕸").format(
            name=escape(referrer.first_name)))
    return attribution.counted


def joined_text(name: str, recruits: int) -> str:
    if recruits < GOAL:
        return _("🕸 {name} joined through you: {n} of 3!").format(name=name, n=recruits)
    if recruits == GOAL:
        return _("🎉 {name} joined through you: that makes 3! Thank you.").format(name=name)
    return _("🕸 {name} joined through you: that makes {n}!").format(name=name, n=recruits)


# ---- the pledge -------------------------------------------------------------------------------

async def pressed(query: CallbackQuery, callback_data: InviteCB, bot: Bot, db: Database,
                  user: Person, state: FSMContext) -> None:
    if callback_data.action in ("hide", "show"):
        opt_out = callback_data.action == "hide"
        changed = await set_leaderboard_opt_out(db, user.id, opt_out)
        await acknowledge(query, rankings_note(opt_out, changed))
        if isinstance(query.message, Message):
            text, kwargs = await invite_message(
                bot, db, user, private=query.message.chat.type == ChatType.PRIVATE)
            await edit_in_place(query.message, text, **kwargs)
        return
    if not isinstance(query.message, Message) or query.message.chat.type != ChatType.PRIVATE:
        # A pledge button of an older /invite in a group: names are not asked there.
        await acknowledge(query, _("Send /invite in our private chat to name the three "
                                   "people you will remind."), show_alert=True)
        return
    await acknowledge(query)
    if callback_data.action == "cancel":
        await state.set_state(None)  # set_state, not clear: a shown card's data stays
        await edit_in_place(query.message, _("All right, no pledge for now."))
        return
    await state.set_state(PledgeStates.names)
    cancel = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("Cancel"), callback_data=InviteCB(action="cancel").pack())]])
    await query.message.answer(_(
        "Who are the three people you will remind to vote? Write their <b>first names "
        "only</b>, separated by commas: <i>Fabrice, Élodie, Nicolas</i>"),
        reply_markup=cancel)


async def pledge_written(message: Message, db: Database, user: Person, state: FSMContext,
                         campaigns: Any) -> None:
    try:
        names = parse_pledge_names(message.text or "")
    except PledgeError as exc:
        await message.answer({
            "count": _("Please write exactly three first names, separated by commas."),
            "long": _("A first name is enough (at most 40 characters each)."),
            "digits": _("First names only, please: no phone numbers."),
        }[exc.reason])
        return
    await save_pledge(db, user.id, names)
    await state.set_state(None)
    campaign = await campaigns.get()
    rounds = [r["name"] for r in (campaign.rounds if campaign else [])]
    # Two days before: the eve is in the electoral silence (storage.silence).
    when = (_("two days before each round ({rounds})").format(rounds=escape(", ".join(rounds)))
            if rounds else _("two days before the vote"))
    await message.answer(_(
        "🗳 Thank you! I will remind you {when}: {names}.").format(
        when=when, names=escape(", ".join(names))))


async def pledge_done(query: CallbackQuery, callback_data: PledgeDoneCB, db: Database,
                      user: Person) -> None:
    first = await confirm_pledge_round(db, user.id, callback_data.round)
    await acknowledge(query, _("Thank you! Every vote counts.") if first
                      else _("Already noted, thank you!"))
    if first and isinstance(query.message, Message):
        await edit_in_place(query.message,
                            query.message.html_text + "\n\n" + _("✅ Done, thank you!"))


# ---- what the deliverer sends -----------------------------------------------------------------

def make_renderers(bot: Bot, db: Database) -> Renderers:
    async def nudge(_delivery: Delivery, user: Person) -> tuple[str, dict[str, Any]] | None:
        p = await progress(db, user.id)
        if p.count >= GOAL:
            return None  # reached three since it was planned
        link = await invite_link(bot, p.code)
        text = "\n\n".join((
            _("🕸 Hello {name}! Have you thought of three people who could join the "
              "campaign?").format(name=escape(user.first_name)),
            progress_line(p),
            _("Your personal link:\n{link}").format(link=link),
        ))
        markup = InlineKeyboardMarkup(inline_keyboard=[[share_button(link)]])
        return text, {"reply_markup": markup}

    async def pledge_reminder(delivery: Delivery,
                              user: Person) -> tuple[str, dict[str, Any]] | None:
        names = await pledge_names(db, user.id)
        if not names:
            return None
        text = _("🗳 The {round} is on {day}. Remind {names} to vote!").format(
            round=escape(delivery.params.get("name", "")),
            day=date.fromisoformat(delivery.params["round"]).strftime("%d/%m"),
            names=escape(_(" and ").join((", ".join(names[:-1]), names[-1]))))
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
            text=_("✅ Done, I reminded them"),
            callback_data=PledgeDoneCB(round=delivery.params["round"]).pack())]])
        return text, {"reply_markup": markup}

    async def joined(delivery: Delivery, _user: Person) -> tuple[str, dict[str, Any]] | None:
        recruit = await get_user(db, int(delivery.params.get("recruit", 0)))
        # Erased before this went out: someone joined all the same.
        name = (escape(recruit.first_name) if recruit is not None and not recruit.forgotten
                else _("Someone"))
        return joined_text(name, int(delivery.params.get("n", 0))), {}

    return {
        NoticeKind.NUDGE: nudge,
        NoticeKind.PLEDGE_REMINDER: pledge_reminder,
        NoticeKind.WEB_JOINED: joined,
    }


def build_router() -> Router:
    """A fresh router: aiogram attaches a router to one dispatcher only."""
    router = Router(name="invite")
    router.message.register(invite, Command("invite"))
    router.message.register(invite, MenuButton("🕸 Invite 3 people"))
    router.message.register(pledge_written, StateFilter(PledgeStates.names), F.text,
                            ~F.text.startswith("/"), PrivateChat())
    router.callback_query.register(pressed, InviteCB.filter())
    router.callback_query.register(pledge_done, PledgeDoneCB.filter())
    return router
