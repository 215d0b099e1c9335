"""The card's payloads, packed the fast way, are exactly what aiogram packs and unpacks."""

from __future__ import annotations

from bot.i18n import make_i18n
from bot.keyboards import CARD_LAYOUT, OutcomeCB, TalkingPointCB, card_keyboard
from storage.models import Outcome


def test_card_payloads_are_aiogram_packs():
    contact_id, seq = 9_223_372_036_854_775_807, 12  # the longest ids a card can carry
    with make_i18n().context():
        markup = card_keyboard(contact_id, seq, ["Pourquoi voter ?", "Procuration"])
    payloads = [b.callback_data for row in markup.inline_keyboard for b in row]
    expected = [OutcomeCB(contact_id=contact_id, seq=seq, outcome=o).pack()
                for row in CARD_LAYOUT for o in row]
    expected += [TalkingPointCB(contact_id=contact_id, seq=seq, index=i).pack() for i in (0, 1)]
    expected.append(OutcomeCB(contact_id=contact_id, seq=seq, outcome=Outcome.SKIPPED).pack())
    assert payloads == expected
    assert all(p is not None and len(p.encode()) <= 64 for p in payloads)
    assert OutcomeCB.unpack(payloads[0]) == OutcomeCB(contact_id=contact_id, seq=seq,
                                                      outcome=Outcome.WILL_VOTE)
