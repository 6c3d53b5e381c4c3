"""mypy accepts the documented usage of api.py and refuses misuses of the same API."""

from __future__ import annotations

import re
from pathlib import Path

import mypy.api

HERE = Path(__file__).parent
ROOT = HERE.parents[1]

# Each line marked "expect: <code>" must be reported with that error code, and no
# other line may be reported.
MISUSE = """
from typing import Any

import httpx
from starlette.routing import Route

from hub import Hub, Purpose
from hub.connector import Call, Connector, Health, HealthStatus, Query, Record, SourceSettings
from hub.testing import MockProfile, mock_app


class KeySettings(SourceSettings):
    api_key: str


class NumberQuery(Query):
    number: str


class NameQuery(Query):
    full_name: str


class KeyConnector(Connector[KeySettings, NumberQuery]):
    def __init__(self, settings: KeySettings, http: httpx.AsyncClient) -> None:
        super().__init__(settings, http)
        self._token = self.settings.api_token  # expect: attr-defined

    async def lookup(self, query: NameQuery, call: Call) -> Record:  # expect: override
        raise NotImplementedError

    async def health(self) -> Health:
        return Health(status=HealthStatus.UP)


class NotSettings(Connector[str, NumberQuery]):  # expect: type-var
    async def health(self) -> Health:
        return Health(status=HealthStatus.UP)


async def no_purpose(hub: Hub) -> None:
    await hub.lookup("population", {"national_id": "037090001234"})  # expect: call-arg


def purpose_without_a_dossier() -> Purpose:
    return Purpose(client="portal", officer="cb.1", procedure="1")  # expect: call-arg


def world_without_samples(profile: MockProfile, routes: list[Route]) -> Any:
    return mock_app(world=object(), profile=profile, routes=routes)  # expect: arg-type
"""

_REPORTED = re.compile(r"^[^:]+:(?P<line>[0-9]+): error: .*\[(?P<code>[a-z-]+)\]$")
_EXPECTED = re.compile(r"# expect: (?P<code>[a-z-]+)$")


def _where(error: str) -> tuple[int, str]:
    """The line and code of an error mypy reported; the whole text if it has no code."""
    found = _REPORTED.match(error)
    return (int(found["line"]), found["code"]) if found else (0, error)


def _mypy(path: Path) -> tuple[str, int]:
    """mypy's report on one file, with the project's configuration and cache."""
    stdout, stderr, status = mypy.api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            "--no-error-summary",
            str(path),
        ]
    )
    assert not stderr, stderr
    return stdout, status


def test_the_documented_usage_type_checks() -> None:
    """The connector, hub calls, errors, mock and contract test of api.py pass mypy strict."""
    report, status = _mypy(HERE / "api.py")
    assert (report, status) == ("", 0)


def test_a_misuse_of_the_api_is_reported(tmp_path: Path) -> None:
    """mypy reports settings a connector lacks, a wrong query type, a missing purpose ..."""
    misuse = tmp_path / "misuse.py"
    misuse.write_text(MISUSE, encoding="utf-8")
    report, status = _mypy(misuse)
    reported = {_where(line) for line in report.splitlines() if ": error: " in line}
    expected = {
        (number, marked["code"])
        for number, line in enumerate(MISUSE.splitlines(), start=1)
        if (marked := _EXPECTED.search(line))
    }
    assert status == 1
    assert reported == expected, report
