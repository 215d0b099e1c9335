"""The house's rules, checked: small modules and functions, and one SQL style in storage/.
A module that grows past them is split by concern, a function into steps."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("bot", "handlers", "ui", "storage")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60



def modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
                  if "migrations" not in path.parts and "data" not in path.parts)


def name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def functions(tree: ast.AST, prefix: str = ""):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield f"{prefix}{node.name}", node
            yield from functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from functions(node, f"{prefix}{node.name}.")


def is_sql_of(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "of" and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "SQL")


def old_style(path: Path, tree: ast.Module) -> list[str]:
    found = []
    for qualified, function in functions(tree):
        if any(is_sql_of(node) for node in ast.walk(function)):
            found.append(f"{qualified}: a statement built inside a function")
    text = path.read_text()
    if "session." in text or "db.read()" in text or "db.write()" in text:
        found.append("the ORM session")
    return found


def test_no_module_is_longer_than_400_lines():
    long = {name(p) for p in modules() if len(p.read_text().splitlines()) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {sorted(long)}"


def test_no_function_is_longer_than_60_lines():
    long = set()
    for path in modules():
        for qualified, node in functions(ast.parse(path.read_text())):
            if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                long.add(f"{name(path)}::{qualified}")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {sorted(long)}"


def test_storage_writes_its_statements_one_way():
    """Every statement a named module constant, run on the driver (SQL.of itself refuses
    `?` markers: parameters are named)."""
    old = set()
    for path in sorted((ROOT / "storage").glob("*.py")) + sorted(
            (ROOT / "storage").glob("*/*.py")):
        if "migrations" in path.parts or "data" in path.parts or path.name in (
                "driver.py", "database.py"):
            continue
        if old_style(path, ast.parse(path.read_text())):
            old.add(name(path))
    assert not old, f"statements written another way: {sorted(old)}"


def test_the_style_check_sees_a_statement_built_in_a_function_and_a_session(tmp_path):
    module = tmp_path / "made_up.py"
    module.write_text("async def f(db, tx):\n"
                      "    await tx.one(SQL.of('SELECT 1'))\n"
                      "    async with db.read() as session:\n"
                      "        await session.get(User, 1)\n")
    found = old_style(module, ast.parse(module.read_text()))
    assert found == ["f: a statement built inside a function", "the ORM session"]
