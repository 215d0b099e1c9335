"""A big shift: 200 sign-ups with long names. Its roster and its attendance screen stay
within Telegram's limits (the fake enforces them): pages of people, ‹ › to turn them, and a
mark keeps the organizer on the page where they marked."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.jobs import shift_reminders_tick
from storage.shifts import join_shift, roster
from storage.users import Profile, ensure_user
from tests.conversation import ORGANIZER_ID
from tests.fake_telegram import MAX_INLINE_BUTTONS, MAX_MARKUP_BYTES, MAX_TEXT, utf16_length
from tests.test_organizers_conversation import deliver, open_shift

PEOPLE = 200
# Telegram's first names reach 64 characters.
LONG = "Marie-Éléonore Anne-Sophie de La Rochefoucauld-Liancourt"


def name(n: int) -> str:
    return f"{n:03d} {LONG}"[:64]


async def two_hundred_sign_up(db, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    for n in range(1, PEOPLE + 1):
        await ensure_user(db, Profile(id=5000 + n, first_name=name(n), last_name=None,
                                      username=None, language_code="fr"))
        assert await join_shift(db, 1, 5000 + n)


def now_shows(person, shown):  # type: ignore[no-untyped-def]
    return next(m for m in person.chat() if m.message_id == shown.message_id)


def within_limits(shown) -> None:  # type: ignore[no-untyped-def]
    """What the fake let through: asserted again here so that the test says it."""
    assert utf16_length(shown.text) <= MAX_TEXT
    assert len(shown.buttons()) <= MAX_INLINE_BUTTONS
    assert len(json.dumps(shown.reply_markup, ensure_ascii=False, separators=(",", ":"))
               .encode()) <= MAX_MARKUP_BYTES


async def test_an_organizer_pages_through_a_roster_of_200_and_marks_on_page_3(
        db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await open_shift(organizer, places=str(PEOPLE))
    await two_hundred_sign_up(db, frozen_clock)

    await organizer.send("/shifts")
    await organizer.press("Roster")
    screen = organizer.last()
    within_limits(screen)
    assert name(1) in screen.text and name(21) not in screen.text
    assert "Page 1/10" in screen.text
    assert "0 came, 0 no-shows, 200 not marked yet." in screen.text

    await organizer.press("›", screen)
    await organizer.press("›", screen)
    page3 = now_shows(organizer, screen)
    within_limits(page3)
    assert "Page 3/10" in page3.text
    assert name(41) in page3.text and name(60) in page3.text and name(61) not in page3.text

    await organizer.press(f"✅ {45:03d}", page3)
    marked = now_shows(organizer, screen)
    assert organizer.callback_answers()[-1]["text"] == "Noted."
    assert "Page 3/10" in marked.text  # still on page 3, with the mark
    assert f"✅ {name(45)}" in marked.text
    assert "1 came, 0 no-shows, 199 not marked yet." in marked.text
    assert {p.user_id: p.status for p in await roster(db, 1)}[5045] == "attended"

    await organizer.press("‹", marked)
    assert "Page 2/10" in now_shows(organizer, screen).text
    assert len(organizer.chat()) == len(set(m.message_id for m in organizer.chat()))


async def test_the_shift_over_screen_of_200_pages_too(db, campaign, harness, frozen_clock):
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await organizer.send("/start")
    await open_shift(organizer, places=str(PEOPLE))
    await two_hundred_sign_up(db, frozen_clock)

    frozen_clock.now = frozen_clock.now.replace(day=11, hour=15) + timedelta(minutes=5)
    await shift_reminders_tick(db, harness.dp["campaigns"])
    await deliver(harness)
    screen = next(m for m in organizer.chat() if m.text.startswith("🏁 Shift over"))
    within_limits(screen)
    assert "Page 1/10" in screen.text

    for _ in range(9):  # to the last page, and no further
        await organizer.press("›", screen)
    last = now_shows(organizer, screen)
    within_limits(last)
    assert "Page 10/10" in last.text and name(200) in last.text
    assert "›" not in "".join(last.button_texts())
    await organizer.press(f"❌ {200:03d}", last)
    marked = now_shows(organizer, screen)
    assert marked.text.startswith("🏁 Shift over, who came?")
    assert "Page 10/10" in marked.text and f"❌ {name(200)}" in marked.text
    assert "0 came, 1 no-shows, 199 not marked yet." in marked.text


async def test_the_widest_names_fit_and_namesakes_are_told_apart(db, campaign, harness,
                                                                 frozen_clock):
    """Forty-five people with the same name of 32 emoji (64 UTF-16 code units, Telegram's
    longest first name, 128 bytes): numbered by their place in the roster, and each page
    still within the limits."""
    organizer = harness.person(ORGANIZER_ID, "Orga", "en")
    await open_shift(organizer, places="45")
    wide = "😀" * 32
    for n in range(1, 46):
        await ensure_user(db, Profile(id=7000 + n, first_name=wide))
        await join_shift(db, 1, 7000 + n)
    await organizer.send("/shifts")
    await organizer.press("Roster")
    screen = organizer.last()
    within_limits(screen)
    assert f"· {wide} #1\n" in screen.text and f"{wide} #20\n" in screen.text
    assert "Page 1/3" in screen.text
    labels = [t for t in screen.button_texts() if t.startswith("✅")]
    assert len(labels) == len(set(labels)) == 20 and labels[0].endswith("… #1")
    await organizer.press("›", screen)
    await organizer.press("›", screen)
    last = now_shows(organizer, screen)
    within_limits(last)
    assert f"{wide} #45\n" in last.text and "Page 3/3" in last.text
    await organizer.press("#45", last)  # ✅, the first of its two buttons
    assert "1 came, 0 no-shows, 44 not marked yet." in now_shows(organizer, screen).text
