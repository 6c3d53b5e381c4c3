"""The walls between the rooms: who may import whom (docs/development.md, "Layout")."""

from __future__ import annotations

import ast
import subprocess
import sys
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


def _offered_to_other_mocks(path: str, name: str) -> bool:
    """`hub.testing` offers the mocks outside the hub the machinery the bundled ones share."""
    return path.startswith("testing/") and name == "hub.mocks._common"


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
        and not _offered_to_other_mocks(path, name)
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


def test_the_shared_mock_machinery_needs_no_bundled_mock() -> None:
    """`hub.mocks._common`, offered through `hub.testing`, stands without the world or a mock."""
    imported = sorted(
        name for path, name in _imports_by_room()["mocks"] if path.startswith("mocks/_common/")
    )
    assert imported
    assert [name for name in imported if not name.startswith("hub.mocks._common")] == []


def test_a_mock_on_hub_testing_needs_no_pytest() -> None:
    """A third-party mock served outside a test run imports `hub.testing` without pytest."""
    code = "import sys; sys.modules['pytest'] = None; from hub.testing import MockProfile, mock_app"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
