"""Shared fixtures: the mocks over real HTTP, hubs on temporary data, the leak check.

What test modules import (constants, helpers) is in tests/_helpers.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub import Hub
from hub._registry import installed_mocks
from hub.testing import LeakCheck, ServedApp
from tests._helpers import LEAKS, MockAdmin, hub_settings, population_source, serve_mock


def pytest_sessionstart(session: pytest.Session) -> None:
    LEAKS.install()
    # The upstream credentials the mocks accept: none may show in a log line or a body.
    for mock in installed_mocks().values():
        for key, value in mock.hub_settings("http://127.0.0.1:1").items():
            if isinstance(value, str) and any(
                word in key for word in ("secret", "key", "password")
            ):
                LEAKS.add_values([value])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The whole suite's log lines and error bodies hold no personal data."""
    LEAKS.uninstall()
    findings = LEAKS.findings()
    if findings:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"LEAK CHECK FAILED: {len(findings)} finding(s)", red=True)
            for finding in findings[:20]:
                reporter.write_line(f"  {finding}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif os.environ.get("HUB_LEAK_REPORT"):
        print(f"\nleak check: {len(LEAKS.texts)} texts, {len(LEAKS.values)} values, clean")


@pytest.fixture(scope="session")
def leaks() -> LeakCheck:
    """The suite-wide leak check: tests add error bodies and outputs to it."""
    return LEAKS


@pytest.fixture(scope="session")
def population_mock() -> Iterator[ServedApp]:
    with serve_mock("population", seed=1, citizens=10_000) as served:
        yield served


@pytest.fixture
def population(population_mock: ServedApp) -> Iterator[MockAdmin]:
    admin = MockAdmin(population_mock)
    admin.clear()
    yield admin
    admin.clear()


@pytest.fixture
async def hub(tmp_path: Path, population_mock: ServedApp) -> Any:
    async with Hub(hub_settings(tmp_path, population=population_source(population_mock))) as h:
        yield h
