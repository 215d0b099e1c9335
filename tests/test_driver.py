"""The driver's statements: named parameters in both dialects, rows read into their type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from storage.driver import SQL
from storage.models import Outcome
from storage.rows import columns, reader

NOW = datetime(2026, 6, 18, 12, 30, 15, 250_000, tzinfo=UTC)

WRITE = SQL.of(
    "INSERT INTO audit_log (actor_id, action, detail, created_at) "
    "VALUES (:actor, :action, 'at 12:30 :not_a_name' || :details, :now)")
COUNT_SINCE = SQL.of(
    "SELECT count(*) FROM audit_log WHERE created_at >= :now AND created_at <= :now "
    "AND action = :action")


def test_a_named_statement_numbers_each_name_once_in_both_dialects():
    sql = SQL.of("SELECT :b, :a::text, ':c', :b WHERE x = 'it''s :d' AND y = :a")
    assert sql.names == ("b", "a")
    assert sql.postgres == "SELECT $1, $2::text, ':c', $1 WHERE x = 'it''s :d' AND y = $2"
    assert sql.sqlite == "SELECT ?1, ?2::text, ':c', ?1 WHERE x = 'it''s :d' AND y = ?2"
    assert sql.bind({"a": 1, "b": 2}) == (2, 1)
    assert sql.bind_rows([{"a": 1, "b": 2}, {"b": 3, "a": 4}]) == [(2, 1), (3, 4)]


def test_a_missing_or_unknown_name_is_refused_before_the_database_sees_it():
    with pytest.raises(TypeError, match=r"takes \['action', 'now'\]"):
        COUNT_SINCE.bind({"now": NOW})
    with pytest.raises(TypeError):
        COUNT_SINCE.bind({"now": NOW, "actor": "x"})
    with pytest.raises(ValueError, match="named"):
        SQL.of("SELECT ?")
    assert SQL.of("SELECT 'what?'").bind({}) == ()


async def test_a_value_named_twice_is_passed_once_and_stored_as_the_orm_would(db):
    async with db.fast_write() as tx:
        await tx.run(WRITE, actor=7, action="test.named", details=" ok", now=NOW)
        await tx.many(WRITE, [{"actor": n, "action": "test.many", "details": "",
                               "now": tx.value(NOW)} for n in (8, 9)])
    async with db.fast_read() as tx:
        assert (await tx.one(COUNT_SINCE, now=NOW, action="test.named"))[0] == 1
        assert (await tx.one(COUNT_SINCE, now=NOW, action="test.many"))[0] == 2
        row = await tx.one(SQL.of("SELECT detail FROM audit_log WHERE actor_id = :a"), a=7)
    assert row[0] == "at 12:30 :not_a_name ok"


@dataclass(frozen=True)
class Entry:
    actor_id: int | None
    action: Outcome
    created_at: datetime
    flagged: bool
    extra: dict[str, int] | None


READ_ENTRY = SQL.of(
    f"SELECT {columns(Entry)} FROM (SELECT actor_id, 'no_answer' AS action, created_at, "
    "(actor_id = 7) AS flagged, NULL AS extra FROM audit_log WHERE action = :action) e")


async def test_a_row_is_read_by_name_into_its_type_on_both_databases(db):
    async with db.fast_write() as tx:
        await tx.run(WRITE, actor=7, action="test.read", details="", now=NOW)
    async with db.fast_read() as tx:
        row = await tx.one(READ_ENTRY, action="test.read")
    entry = reader(Entry)(row)
    assert entry == Entry(7, Outcome.NO_ANSWER, NOW, True, None)
    assert columns(Entry, "e") == "e.actor_id, e.action, e.created_at, e.flagged, e.extra"
    assert columns(Entry, "e", flagged="TRUE") == (
        "e.actor_id, e.action, e.created_at, TRUE AS flagged, e.extra")
    with pytest.raises(ValueError, match="no field"):
        columns(Entry, flaged="TRUE")
