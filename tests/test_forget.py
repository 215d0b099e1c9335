"""/forget in storage, on SQLite and PostgreSQL: every table the schema declares is known to
the map of personal data, and a person who did everything the bot offers leaves no trace."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import select, update
from sqlmodel import SQLModel

from storage.broadcasts import create_broadcast, set_progress_message, start_due
from storage.calling import QueueRules, assign_next_contact, record_outcome
from storage.contacts import import_contacts
from storage.contacts.links import join_through_call, link_to_send
from storage.dnc_holds import decide_hold
from storage.models import (
    AuditLog,
    Contact,
    DncHold,
    Outbox,
    Outcome,
    ProxyKind,
    ProxyRequest,
    User,
)
from storage.outbox import Notice, NoticeKind, enqueue
from storage.proxies import (
    Place,
    Requester,
    answer,
    create_request,
    give_holder_details,
    mark_registered,
    match_need,
)
from storage.relay import answer_question, ask_organizers
from storage.shifts import add_shift, join_shift, mark_attendance
from storage.users import Profile, decide_volunteer, ensure_user, set_organizer
from storage.web import attribute_referral, confirm_pledge_round, invite_code, save_pledge
from tests.traces import Someone, traces

ZEPHYRIN = Someone(7_301_234_567, "Zéphyrin", "Barbentane", "zephyrin_b", "+33699887766")
AURELIEN = Someone(7_309_999_001, "Aurélien", "Castagnède", "aurelien_c", "+33611110000")
LISA, ZOE, NADIA, ORGANIZER = 7_001, 7_002, 7_003, 900
SECRET = b"the bot's own secret"
ROUND1, ROUND2 = "2024-06-30", "2024-07-07"
SAINT_DENIS_12 = Place("93066", "93", "12", "Seine-Saint-Denis 1")
LYON_3 = Place("69383", "69", "3", "Rhône 3")


def forget(db, user_id):
    from storage.forget import forget_person

    return forget_person(db, user_id, rejoin_secret=SECRET)


def numbers_csv(count: int) -> io.BytesIO:
    lines = ["telephone,prenom,circonscription"]
    lines += [f"06{i:08d},Personne{i},Seine-Saint-Denis 1" for i in range(20_000_000,
                                                                          20_000_000 + count)]
    return io.BytesIO("\n".join(lines).encode())


async def everything_of(db, campaign, clock, z: Someone) -> None:
    """Someone who did all the bot offers: joined through a link and brought someone, pledged,
    called (a number on the do-not-call list, another held for an organizer, a card held), carries a vote in a live match and
    recorded a contact's need, took the last place of a shift and came to another, asked the
    organizers and got an answer, and is due a nudge and a broadcast; told where they vote
    and was asked to carry a need nobody offered for."""
    await set_organizer(db, ORGANIZER, True, actor_id=None)
    await ensure_user(db, Profile(LISA, "Lisa"))
    await ensure_user(db, Profile(z.id, z.first_name, z.last_name, z.username, "fr"))
    await attribute_referral(db, z.id, await invite_code(db, LISA))
    await ensure_user(db, Profile(ZOE, "Zoé"))
    await attribute_referral(db, ZOE, await invite_code(db, z.id))
    await save_pledge(db, z.id, ["Ana", "Bea", "Cleo"])
    await confirm_pledge_round(db, z.id, ROUND1)

    await decide_volunteer(db, z.id, True, actor_id=ORGANIZER)
    await import_contacts(db, campaign, numbers_csv(5))
    rules = QueueRules.of(campaign)
    # Contact links last until the last round: this one's are still ahead.
    ongoing = campaign.model_copy(update={"rounds": [{"name": "1", "date": "2099-06-14"}]})
    for outcome in (Outcome.WILL_VOTE, Outcome.DO_NOT_CALL):
        card = await assign_next_contact(db, rules, z.id)
        clock.advance(minutes=1)  # a conversation
        await record_outcome(db, rules, z.id, card.contact_id, card.lease_seq, outcome)
        if outcome is Outcome.WILL_VOTE:  # the link sent after the call
            await link_to_send(db, ongoing, z.id, card.contact_id, card.lease_seq)
    card = await assign_next_contact(db, rules, ZOE)  # Zoé's call: z opens her link
    sent = await link_to_send(db, ongoing, ZOE, card.contact_id, card.lease_seq)
    assert sent is not None and await join_through_call(db, z.id, sent.code)
    await record_outcome(db, rules, ZOE, card.contact_id, card.lease_seq, Outcome.WILL_VOTE)
    card = await assign_next_contact(db, rules, z.id)  # a ⛔ too hasty: held for organizers
    await record_outcome(db, rules, z.id, card.contact_id, card.lease_seq, Outcome.DO_NOT_CALL)
    held = await assign_next_contact(db, rules, z.id)

    await asked_about_a_need(db, campaign, clock, z)
    await ensure_user(db, Profile(NADIA, "Nadia"))
    offer = await create_request(db, campaign, ProxyKind.OFFER,
                                 Requester(z.first_name, user_id=z.id, phone=z.phone),
                                 SAINT_DENIS_12, [ROUND1, ROUND2])
    need = await create_request(db, campaign, ProxyKind.NEED, Requester("Nadia", user_id=NADIA),
                                SAINT_DENIS_12, [ROUND1, ROUND2])
    match = await match_need(db, campaign, need)
    await answer(db, match, "need", True)
    await answer(db, match, "offer", True)
    assert offer
    await create_request(db, campaign, ProxyKind.NEED,
                         Requester("Jeanne", contact_id=held.contact_id, phone="+33600000001"),
                         LYON_3, [ROUND1], recorded_by=z.id)

    tomorrow = clock.now + timedelta(days=1)
    full = await add_shift(db, room="Lyon", address="1 rue X", starts_at=tomorrow,
                           ends_at=tomorrow + timedelta(hours=3), capacity=1, actor_id=ORGANIZER)
    await join_shift(db, full.id, z.id)
    other = await add_shift(db, room="Marseille", address="", starts_at=tomorrow,
                            ends_at=tomorrow + timedelta(hours=2), capacity=5,
                            actor_id=ORGANIZER)
    await join_shift(db, other.id, z.id)
    await mark_attendance(db, other.id, z.id, True, actor_id=ORGANIZER)

    await ask_organizers(db, z.id, False, f"{z.first_name} here ({z.phone}): where do I park?",
                         None, -100777)
    await answer_question(db, z.id, ORGANIZER, f"{z.first_name}, call {z.phone} back")

    await enqueue(db, [Notice(f"nudge:{z.id}:1", NoticeKind.NUDGE, z.id, {}, True)])
    await create_broadcast(db, text="Come tomorrow", visible_length=13, footer="",
                           audience_kind="everyone", audience_value=None, shift_id=None,
                           scheduled_at=None, actor_id=ORGANIZER)
    await start_due(db)


async def asked_about_a_need(db, campaign, clock, z: Someone) -> None:
    """z votes in Lyon (3e), where Lisa needs someone: a day later, z is asked. In June 2024,
    while the example campaign's rounds are ahead; the clock comes back after."""
    from datetime import UTC, datetime

    from storage.proxies import ask_nearby, set_voting_place

    now = clock.now
    clock.now = datetime(2024, 6, 19, 8, 0, tzinfo=UTC)
    await set_voting_place(db, z.id, LYON_3.commune_insee, "3")
    await create_request(db, campaign, ProxyKind.NEED, Requester("Lisa", user_id=LISA), LYON_3,
                         [ROUND1])
    clock.advance(hours=25)
    assert await ask_nearby(db, campaign) == 1
    clock.now = now


def test_every_table_and_column_of_the_schema_is_in_the_map_of_personal_data():
    from storage.personal import PERSONAL_DATA, How

    schema = {table.name: {column.name for column in table.columns}
              for table in SQLModel.metadata.sorted_tables}
    mapped = {table: set(columns) for table, columns in PERSONAL_DATA.items()}
    unmapped = {t: sorted(cols - mapped.get(t, set())) for t, cols in schema.items()
                if cols - mapped.get(t, set())}
    assert not unmapped, f"classify these in storage/personal.py: {unmapped}"
    stale = {t: sorted(cols - schema.get(t, set())) for t, cols in mapped.items()
             if cols - schema.get(t, set())}
    assert not stale, f"no longer in the schema: {stale}"
    for table, columns in PERSONAL_DATA.items():
        for column, rule in columns.items():
            if rule.how in (How.KEPT, How.NOT_A_USERS):
                assert rule.why, f"{table}.{column} is kept: say why"


def test_every_step_the_map_names_is_one_forget_takes():
    from storage.forget import STEPS
    from storage.personal import PERSONAL_DATA

    named = {rule.step for columns in PERSONAL_DATA.values() for rule in columns.values()
             if rule.step}
    assert named == set(STEPS)


async def test_a_person_who_did_everything_leaves_no_trace_anywhere(db, campaign, frozen_clock):
    await everything_of(db, campaign, frozen_clock, ZEPHYRIN)
    before = await traces(db, ZEPHYRIN)
    # The fill reaches every table that holds something of a person on Telegram.
    assert {"users", "pledge", "pledge_round", "call", "do_not_call", "contact",
            "proxy_request", "proxy_ask", "shift_signup", "relay", "audit_log", "outbox",
            "dnc_hold"} <= set(before)
    assert any("proxy-ask:" in hit for hit in before["outbox"])

    await forget(db, ZEPHYRIN.id)

    assert await traces(db, ZEPHYRIN) == {}


async def organizer_did_everything(db, clock, a: Someone) -> None:
    """An organizer who was made one, opened a shift, broadcast with its progress shown in
    their chat, answered a question, and decided a held do-not-call press if one waits."""
    await set_organizer(db, ORGANIZER, True, actor_id=None)
    await ensure_user(db, Profile(LISA, "Lisa"))
    await ensure_user(db, Profile(a.id, a.first_name, a.last_name, a.username, "fr"))
    await set_organizer(db, a.id, True, actor_id=ORGANIZER)
    tomorrow = clock.now + timedelta(days=1)
    await add_shift(db, room="Lyon", address="", starts_at=tomorrow,
                    ends_at=tomorrow + timedelta(hours=3), capacity=3, actor_id=a.id)
    broadcast = await create_broadcast(
        db, text="Come tomorrow", visible_length=13, footer="", audience_kind="everyone",
        audience_value=None, shift_id=None, scheduled_at=None, actor_id=a.id,
        progress_chat_id=a.id)
    await set_progress_message(db, broadcast.id, a.id, 77)
    await start_due(db)
    await answer_question(db, LISA, a.id, "Behind the town hall.")
    # A hasty ⛔ waiting for an organizer (everything_of presses one): sent back to the queue.
    async with db.read() as session:
        held = (await session.execute(select(DncHold.id).where(DncHold.status == "held")
                                      )).scalars().first()
    if held is not None:
        await decide_hold(db, held, False, actor_id=a.id)


async def test_the_fills_reach_every_column_the_map_says_names_a_person(db, campaign,
                                                                       frozen_clock):
    """A personal table or column added later is not only classified but erased: until the
    fills above put someone in it, this fails."""
    from storage.personal import PERSONAL_DATA, How

    await everything_of(db, campaign, frozen_clock, ZEPHYRIN)
    await organizer_did_everything(db, frozen_clock, AURELIEN)
    found = {(table, hit.split("=", 1)[0]) for person in (ZEPHYRIN, AURELIEN)
             for table, hits in (await traces(db, person)).items() for hit in hits}
    naming = {(table, column) for table, columns in PERSONAL_DATA.items()
              for column, rule in columns.items()
              if rule.how in (How.ROW, How.NULL, How.ANONYMOUS, How.IN_TEXT)}
    assert naming - found == set(), "fill these in everything_of or organizer_did_everything"


async def test_an_organizer_forgotten_stays_accountable_in_the_audit_log_only(db, campaign,
                                                                           frozen_clock):
    a = AURELIEN
    await organizer_did_everything(db, frozen_clock, a)

    await forget(db, a.id)

    left = await traces(db, a)
    assert set(left) == {"audit_log"}
    assert all(trace.startswith("actor_id=") for trace in left["audit_log"])
    async with db.read() as session:
        entries = list((await session.execute(select(AuditLog))).scalars())
    # Who made them an organizer stays accountable; whom it was about is anonymous.
    added = [e for e in entries if e.action == "organizers.add"][-1]
    assert added.actor_id == ORGANIZER and added.detail.startswith("user=-")
    assert all(e.actor_id == a.id for e in entries if e.action in ("shifts.add",
                                                                   "broadcasts.create"))


async def test_what_forget_frees_goes_back_to_the_others(db, campaign, frozen_clock):
    from storage.proxies import match_view
    from storage.shifts import coming_shifts

    await everything_of(db, campaign, frozen_clock, ZEPHYRIN)
    await forget(db, ZEPHYRIN.id)
    rules = QueueRules.of(campaign)
    async with db.read() as session:
        assert (await session.execute(select(Contact).where(
            Contact.held_by.is_not(None)))).scalars().all() == []
        nadia = (await session.execute(select(ProxyRequest).where(
            ProxyRequest.user_id == NADIA))).scalar_one()
        node = (await session.execute(select(User).where(User.forgotten))).scalar_one()
    assert nadia.status == "open"  # the other side goes back to the queue
    assert node.recruits == 1 and node.referred_by == LISA  # the web keeps its shape
    await ensure_user(db, Profile(8_000, "Bruno"))
    full = next(v for v in await coming_shifts(db) if v.shift.room == "Lyon")
    assert full.left == 1
    assert await join_shift(db, full.shift.id, 8_000)
    assert await assign_next_contact(db, rules, 8_000) is not None
    offer = await create_request(db, campaign, ProxyKind.OFFER, Requester("Omar", user_id=8_000),
                                 SAINT_DENIS_12, [ROUND1, ROUND2])
    assert offer
    match = await match_need(db, campaign, nadia.id)
    assert (await match_view(db, match)).offer.first_name == "Omar"


async def test_a_rejoin_through_the_same_link_is_not_a_second_recruit(db, campaign,
                                                                      frozen_clock):
    from storage.web import progress

    await ensure_user(db, Profile(LISA, "Lisa"))
    code = await invite_code(db, LISA)
    z = ZEPHYRIN
    await ensure_user(db, Profile(z.id, z.first_name))
    assert (await attribute_referral(db, z.id, code, rejoin_secret=SECRET)).counted
    await forget(db, z.id)
    await ensure_user(db, Profile(z.id, z.first_name))
    again = await attribute_referral(db, z.id, code, rejoin_secret=SECRET)
    assert again is not None and not again.counted
    lisa = await progress(db, LISA)
    assert lisa.recruits == [z.first_name]  # back in their place, counted once
    async with db.read() as session:
        assert (await session.get(User, LISA)).recruits == 1
        assert (await session.execute(select(User).where(User.forgotten))).first() is None
    # Someone else through the same link still counts.
    await ensure_user(db, Profile(ZOE, "Zoé"))
    assert (await attribute_referral(db, ZOE, code, rejoin_secret=SECRET)).counted
    # What the anonymous node keeps tells nothing without the secret: no Telegram id in it.
    await forget(db, z.id)
    assert await traces(db, z) == {}


async def test_a_stale_attendance_mark_after_forget_writes_no_erased_id(db, campaign,
                                                                       frozen_clock):
    await set_organizer(db, 900, True, actor_id=None)
    await ensure_user(db, Profile(7_301, "Zeph"))
    start = frozen_clock.now + timedelta(days=1)
    shift = await add_shift(db, room="Lyon", address="", starts_at=start,
                            ends_at=start + timedelta(hours=2), capacity=3, actor_id=900)
    await join_shift(db, shift.id, 7_301)
    await forget(db, 7_301)
    # The roster was drawn before the erasure: its button still carries the old id.
    assert not await mark_attendance(db, shift.id, 7_301, True, actor_id=900)
    async with db.read() as session:
        details = [e.detail for e in (await session.execute(select(AuditLog))).scalars()]
    assert not any("7301" in d for d in details), details


async def test_a_double_tap_on_an_attendance_mark_is_audited_once(db, campaign, frozen_clock):
    await set_organizer(db, 900, True, actor_id=None)
    await ensure_user(db, Profile(7_302, "Yann"))
    start = frozen_clock.now + timedelta(days=1)
    shift = await add_shift(db, room="Lyon", address="", starts_at=start,
                            ends_at=start + timedelta(hours=2), capacity=3, actor_id=900)
    await join_shift(db, shift.id, 7_302)
    assert await mark_attendance(db, shift.id, 7_302, False, actor_id=900)
    assert not await mark_attendance(db, shift.id, 7_302, False, actor_id=900)
    assert await mark_attendance(db, shift.id, 7_302, True, actor_id=900)
    async with db.read() as session:
        marks = [e.detail for e in (await session.execute(
            select(AuditLog).where(AuditLog.action == "shifts.attendance"))).scalars()]
    assert len(marks) == 2, marks


# ---- a proxy's other side, when one side erases their data --------------------------------

ZEPH, OMAR = 7_301, 8_000


async def _accepted_match(db, campaign):
    await set_organizer(db, ORGANIZER, True, actor_id=None)
    for uid, name in ((NADIA, "Nadia"), (ZEPH, "Zeph"), (OMAR, "Omar")):
        await ensure_user(db, Profile(uid, name))
    await create_request(db, campaign, ProxyKind.OFFER, Requester("Zeph", user_id=ZEPH),
                         SAINT_DENIS_12, [ROUND1, ROUND2])
    need = await create_request(db, campaign, ProxyKind.NEED, Requester("Nadia", user_id=NADIA),
                                SAINT_DENIS_12, [ROUND1, ROUND2])
    match = await match_need(db, campaign, need)
    await answer(db, match, "need", True)
    await answer(db, match, "offer", True)
    return need, match


async def _queued_kinds(db, chat_id):
    """What is still to be sent to them."""
    async with db.read() as session:
        return [r.kind for r in (await session.execute(select(Outbox).where(
            Outbox.chat_id == chat_id, Outbox.status == "pending").order_by(Outbox.id)))
            .scalars()]


async def test_a_holder_who_erases_their_data_is_a_withdrawal_for_the_giver(db, campaign):
    need, _match = await _accepted_match(db, campaign)
    assert "proxy_cancelled" not in await _queued_kinds(db, NADIA)
    await forget(db, ZEPH)
    assert "proxy_cancelled" in await _queued_kinds(db, NADIA)
    async with db.read() as session:
        assert (await session.get(ProxyRequest, need)).status == "open"


async def test_a_registered_giver_whose_holder_erases_their_data_is_open_again(db, campaign):
    need, match = await _accepted_match(db, campaign)
    await give_holder_details(db, campaign, match, "123456789", "01/01/1990")
    await mark_registered(db, match)
    await forget(db, ZEPH)
    async with db.read() as session:
        assert (await session.get(ProxyRequest, need)).status == "open"
    assert "proxy_cancelled" in await _queued_kinds(db, NADIA)


async def test_a_giver_who_erases_their_data_is_a_withdrawal_for_the_holder(db, campaign):
    _need, match = await _accepted_match(db, campaign)
    await give_holder_details(db, campaign, match, "123456789", "01/01/1990")
    assert "proxy_cancelled" not in await _queued_kinds(db, ZEPH)
    await forget(db, NADIA)
    assert "proxy_cancelled" in await _queued_kinds(db, ZEPH)


async def test_a_new_match_after_an_erasure_gets_its_proposals(db, campaign):
    need, _match = await _accepted_match(db, campaign)
    async with db.write() as session:
        await session.execute(update(Outbox).values(status="sent"))
    await forget(db, ZEPH)
    await create_request(db, campaign, ProxyKind.OFFER, Requester("Omar", user_id=OMAR),
                         SAINT_DENIS_12, [ROUND1, ROUND2])
    assert await match_need(db, campaign, need) is not None
    async with db.read() as session:
        proposed = sorted(r.chat_id for r in (await session.execute(select(Outbox).where(
            Outbox.status == "pending", Outbox.kind == "proxy_proposal"))).scalars())
    assert proposed == [NADIA, OMAR]


async def test_an_erasure_while_a_holder_is_matched_with_the_need_still_goes_through(
        db, campaign, monkeypatch):
    """Nadia erases her data just as Zeph offers at her station and is matched with her
    need: the two queue one behind the other. Her erasure goes through, her need goes, and
    Zeph is left with no match of hers, free for someone else."""
    import asyncio

    from storage import forget as forgetting
    from storage.proxies import match_offer

    await ensure_user(db, Profile(NADIA, "Nadia"))
    await ensure_user(db, Profile(ZEPH, "Zeph"))
    need = await create_request(db, campaign, ProxyKind.NEED, Requester("Nadia", user_id=NADIA),
                                SAINT_DENIS_12, [ROUND1])
    zeph = await create_request(db, campaign, ProxyKind.OFFER, Requester("Zeph", user_id=ZEPH),
                                SAINT_DENIS_12, [ROUND1])
    run, offered = forgetting.Forgetting.run, []

    async def zeph_offers_meanwhile(self, sql, **fixed):
        if sql is forgetting._DROP_REQUESTS and not offered:  # her needs are about to go
            offered.append(asyncio.ensure_future(match_offer(db, campaign, zeph)))
            await asyncio.wait(offered, timeout=1)  # done, unless it waits its turn
        return await run(self, sql, **fixed)

    monkeypatch.setattr(forgetting.Forgetting, "run", zeph_offers_meanwhile)
    await forget(db, NADIA)
    assert await offered[0] == []  # her need was gone by the time it was Zeph's turn
    async with db.read() as session:
        assert await session.get(ProxyRequest, need) is None
        assert (await session.get(ProxyRequest, zeph)).status == "open"
