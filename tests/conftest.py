"""Shared fixtures: the mocks over real HTTP, hubs on temporary data, the leak check."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import Hub, Purpose, load_settings
from hub._registry import installed_mocks
from hub.testing import LeakCheck, ServedApp

PURPOSE = Purpose(
    client="portal-test", officer="cb.0042", procedure="1.001757", dossier="H37.22-240315-0001"
)

# Fast and deterministic enough for tests: short backoff; the breaker only trips
# where a test asks for it.
FAST: dict[str, Any] = {
    "retry": {"attempts": 4, "backoff_initial": 0.01, "backoff_max": 0.05},
    "breaker": {"min_calls": 1000},
}

_leaks = LeakCheck()


def pytest_sessionstart(session: pytest.Session) -> None:
    _leaks.install()
    # The upstream credentials the mocks accept: none may show in a log line or a body.
    for mock in installed_mocks().values():
        for key, value in mock.hub_settings("http://127.0.0.1:1").items():
            if isinstance(value, str) and any(
                word in key for word in ("secret", "key", "password")
            ):
                _leaks.add_values([value])


def collect_problem(response: httpx.Response) -> None:
    """An httpx response hook: every problem-details body goes to the leak check."""
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        response.read()
        _leaks.add(response.text)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The whole suite's log lines and error bodies hold no personal data."""
    _leaks.uninstall()
    findings = _leaks.findings()
    if findings:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"LEAK CHECK FAILED: {len(findings)} finding(s)", red=True)
            for finding in findings[:20]:
                reporter.write_line(f"  {finding}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif os.environ.get("HUB_LEAK_REPORT"):
        print(f"\nleak check: {len(_leaks.texts)} texts, {len(_leaks.values)} values, clean")


@contextlib.contextmanager
def muted(*names: str) -> Iterator[None]:
    """Silence these loggers below WARNING meanwhile.

    For clients that are not the hub (a test's own HTTP client, a browser): their
    request lines rightly carry identifiers, and the leak check reads every log line.
    """
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@pytest.fixture(scope="session")
def leaks() -> LeakCheck:
    """The suite-wide leak check: tests add error bodies and outputs to it."""
    return _leaks


def serve_mock(name: str, **options: Any) -> ServedApp:
    return ServedApp(installed_mocks()[name].create_app(**options))


@pytest.fixture(scope="session")
def population_mock() -> Iterator[ServedApp]:
    with serve_mock("population", seed=1, citizens=10_000) as served:
        yield served


class MockAdmin:
    """The admin surface every mock shares."""

    def __init__(self, served: ServedApp) -> None:
        self.url = served.url

    def sample(self, n: int = 1, kind: str | None = None) -> list[str]:
        params: dict[str, Any] = {"n": n}
        if kind:
            params["kind"] = kind
        keys: list[str] = httpx.get(f"{self.url}/_admin/sample", params=params).json()["keys"]
        _leaks.add_values(keys)
        return keys

    def requests(self) -> int:
        count: int = httpx.get(f"{self.url}/_admin/stats").json()["requests"]
        return count

    def fault(self, plan: dict[str, Any] | list[dict[str, Any]]) -> None:
        httpx.put(f"{self.url}/_admin/faults", json=plan).raise_for_status()

    def clear(self) -> None:
        httpx.delete(f"{self.url}/_admin/faults").raise_for_status()


@pytest.fixture
def population(population_mock: ServedApp) -> Iterator[MockAdmin]:
    admin = MockAdmin(population_mock)
    admin.clear()
    yield admin
    admin.clear()


def hub_settings(tmp_path: Path, **sources: dict[str, Any]) -> Any:
    """Settings for a hub whose audit trail lives in ``tmp_path``."""
    return load_settings(None, data_dir=str(tmp_path), sources=sources)


def population_source(mock: ServedApp, **overrides: Any) -> dict[str, Any]:
    return {**installed_mocks()["population"].hub_settings(mock.url), **FAST, **overrides}


@pytest.fixture
async def hub(tmp_path: Path, population_mock: ServedApp) -> Any:
    async with Hub(hub_settings(tmp_path, population=population_source(population_mock))) as h:
        yield h
