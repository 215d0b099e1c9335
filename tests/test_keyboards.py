"""The card's keyboard, built the fast way, is exactly what aiogram builds, packs and unpacks."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.cards import (
    CARD_LAYOUT,
    OutcomeCB,
    SendLinkCB,
    TalkingPointCB,
    card_keyboard,
    send_link_button,
)
from storage.models import Outcome
from ui.i18n import make_i18n
from ui.keyboards import outcome_label


def test_card_payloads_are_aiogram_packs():
    contact_id, seq = 9_223_372_036_854_775_807, 12  # the longest ids a card can carry
    with make_i18n().context():
        markup = card_keyboard(contact_id, seq, ["Pourquoi voter ?", "Procuration"])
    payloads = [b.callback_data for row in markup.inline_keyboard for b in row]
    expected = [OutcomeCB(contact_id=contact_id, seq=seq, outcome=o).pack()
                for row in CARD_LAYOUT for o in row]
    expected += [TalkingPointCB(contact_id=contact_id, seq=seq, index=i).pack() for i in (0, 1)]
    expected.append(SendLinkCB(contact_id=contact_id, seq=seq).pack())
    expected.append(OutcomeCB(contact_id=contact_id, seq=seq, outcome=Outcome.SKIPPED).pack())
    assert payloads == expected
    assert all(p is not None and len(p.encode()) <= 64 for p in payloads)
    assert OutcomeCB.unpack(payloads[0]) == OutcomeCB(contact_id=contact_id, seq=seq,
                                                      outcome=Outcome.WILL_VOTE)


def test_card_keyboard_is_the_one_built_button_by_button_in_each_locale():
    i18n = make_i18n()
    for locale in ("fr", "en", "fr"):  # back to fr: the cached buttons are per locale
        with i18n.context(), i18n.use_locale(locale):
            points = ["Pourquoi voter ?", "Procuration"]
            expected = [[InlineKeyboardButton(
                text=outcome_label(o), callback_data=OutcomeCB(contact_id=7, seq=3,
                                                               outcome=o).pack()) for o in row]
                for row in CARD_LAYOUT]
            expected += [[InlineKeyboardButton(text="💬 " + title, callback_data=TalkingPointCB(
                contact_id=7, seq=3, index=i).pack())] for i, title in enumerate(points)]
            expected.append([send_link_button(7, 3, None)])
            expected.append([InlineKeyboardButton(
                text=outcome_label(Outcome.SKIPPED),
                callback_data=OutcomeCB(contact_id=7, seq=3, outcome=Outcome.SKIPPED).pack())])
            assert card_keyboard(7, 3, points) == InlineKeyboardMarkup(inline_keyboard=expected)
            assert card_keyboard(8, 1, points) != card_keyboard(7, 3, points)


def test_the_ready_message_fits_a_copy_button_whole_with_its_link_and_way_out():
    from handlers.callees import COPY_TEXT_MAX, ready_message

    link = "https://t.me/" + "b" * 32 + "?start=c_" + "X" * 16  # the longest bot name
    i18n = make_i18n()
    for locale, way_out in (("fr", "Répondez STOP"), ("en", "Reply STOP")):
        with i18n.context(), i18n.use_locale(locale):
            for campaign, volunteer, contact in (("Législatives 2024", "Lisa", "Fabrice"),
                                                 ("C" * 200, "V" * 64, "F" * 64),
                                                 ("C" * 200, "V" * 64, None)):
                text = ready_message(campaign, volunteer, contact, link)
                assert len(text) <= COPY_TEXT_MAX and link in text and way_out in text
                assert volunteer[:5] in text and campaign[:5] in text
