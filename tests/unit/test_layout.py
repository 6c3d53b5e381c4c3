"""The walls between the rooms: who may import whom (docs/development.md, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hub

SRC = Path(hub.__file__).parent


def _imports(path: Path) -> set[str]:
    """The absolute module names one file imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _room(path: Path) -> str:
    relative = path.relative_to(SRC).parts
    return relative[0] if relative[0] in {"connectors", "mocks", "schemas"} else "core"


def _imports_by_room() -> dict[str, set[tuple[str, str]]]:
    rooms: dict[str, set[tuple[str, str]]] = {}
    for path in SRC.rglob("*.py"):
        imported = {name for name in _imports(path) if name == "hub" or name.startswith("hub.")}
        rooms.setdefault(_room(path), set()).update(
            (str(path.relative_to(SRC)), name) for name in imported
        )
    return rooms


@pytest.mark.parametrize(
    ("room", "forbidden"),
    [
        ("core", ("hub.connectors", "hub.mocks")),
        ("connectors", ("hub.mocks",)),
        ("schemas", ("hub",)),
    ],
)
def test_a_room_does_not_import_what_it_must_not(room: str, forbidden: tuple[str, ...]) -> None:
    """The core finds connectors and mocks by entry point; connectors never use a mock."""
    offending = sorted(
        (path, name)
        for path, name in _imports_by_room()[room]
        if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
    )
    assert offending == []


def test_the_mocks_import_only_themselves_and_the_contracts() -> None:
    """A mock stands in for a system we do not own: it shares only ``hub.schemas``."""
    offending = sorted(
        (path, name)
        for path, name in _imports_by_room()["mocks"]
        if not name.startswith(("hub.mocks", "hub.schemas"))
    )
    assert offending == []
