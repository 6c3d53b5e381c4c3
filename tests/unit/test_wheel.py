"""The built wheel, installed into a fresh virtual environment, adds one import name."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import hub

ROOT = Path(hub.__file__).parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """A fresh environment with the wheel installed, and what the install added to it."""
    folder = tmp_path_factory.mktemp("wheel")
    build = "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))"
    name = subprocess.run(
        [sys.executable, "-c", build, str(folder)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    environment = folder / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(
        subprocess.run(
            [python, "-c", where], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    before = {entry.name for entry in site.iterdir()}
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            str(folder / name),
        ],
        check=True,
    )
    return python, {entry.name for entry in site.iterdir()} - before


def test_the_wheel_adds_only_the_hub_namespace(installed: tuple[Path, set[str]]) -> None:
    """`connectors`, `mocks` and `schemas` live under `hub`: a portal keeps its own."""
    _, added = installed
    assert {name for name in added if not name.endswith(".dist-info")} == {"hub"}


def test_entry_points_and_contracts_are_inside_the_namespace(
    installed: tuple[Path, set[str]],
) -> None:
    """Every connector and mock entry point resolves under `hub`; the contract files ship."""
    python, _ = installed
    probe = """
import json
from importlib.metadata import distribution, entry_points
import hub.schemas
print(json.dumps({
    "targets": sorted(ep.value for group in ("hub.connectors", "hub.mocks")
                      for ep in entry_points(group=group)),
    "files": sorted(str(f) for f in distribution("lienthong").files),
    "wsdl": hub.schemas.schema_path("population/population.wsdl").is_file(),
}))
"""
    seen = json.loads(
        subprocess.run([python, "-c", probe], check=True, capture_output=True, text=True).stdout
    )
    assert len(seen["targets"]) == 12
    assert all(target.startswith(("hub.connectors.", "hub.mocks.")) for target in seen["targets"])
    modules = {
        target.split(":")[0].replace(".", "/") + "/__init__.py" for target in seen["targets"]
    }
    assert modules <= set(seen["files"])
    assert seen["wsdl"]
    assert "hub/py.typed" in seen["files"]
