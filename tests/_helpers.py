"""Helpers that tests of several folders share: constants, mocks' admin, settings.

Fixtures live in the conftest files; what a test module imports lives here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from hub import Purpose, load_settings
from hub._registry import installed_mocks
from hub.audit._keys import generate_audit_keys
from hub.testing import LeakCheck, ServedApp

__all__ = [
    "FAST",
    "LEAKS",
    "PURPOSE",
    "MockAdmin",
    "audit_keys",
    "audit_keys_toml",
    "collect_problem",
    "hub_settings",
    "muted",
    "population_source",
    "redis_database",
    "requires_service",
    "serve_mock",
]

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = bool(os.environ.get("CI"))

PURPOSE = Purpose(
    client="portal-test", officer="cb.0042", procedure="1.001757", dossier="H37.22-240315-0001"
)

# Fast and deterministic enough for tests: short backoff; the breaker only trips
# where a test asks for it.
FAST: dict[str, Any] = {
    "retry": {"attempts": 4, "backoff_initial": 0.01, "backoff_max": 0.05},
    "breaker": {"min_calls": 1000},
}

#: The suite-wide leak check (installed by the root conftest): every log line, and
#: the error bodies and values tests add, are searched for personal data.
LEAKS = LeakCheck()


def collect_problem(response: httpx.Response) -> None:
    """An httpx response hook: every problem-details body goes to the leak check."""
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        response.read()
        LEAKS.add(response.text)


@contextmanager
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


def serve_mock(name: str, **options: Any) -> ServedApp:
    return ServedApp(installed_mocks()[name].create_app(**options))


class MockAdmin:
    """The admin surface every mock shares."""

    def __init__(self, served: ServedApp) -> None:
        self.url = served.url

    def sample(self, n: int = 1, kind: str | None = None) -> list[str]:
        params: dict[str, Any] = {"n": n}
        if kind:
            params["kind"] = kind
        keys: list[str] = httpx.get(f"{self.url}/_admin/sample", params=params).json()["keys"]
        LEAKS.add_values(keys)
        return keys

    def requests(self) -> int:
        count: int = httpx.get(f"{self.url}/_admin/stats").json()["requests"]
        return count

    def fault(self, plan: dict[str, Any] | list[dict[str, Any]]) -> None:
        httpx.put(f"{self.url}/_admin/faults", json=plan).raise_for_status()

    def clear(self) -> None:
        httpx.delete(f"{self.url}/_admin/faults").raise_for_status()


def hub_settings(tmp_path: Path, **sources: dict[str, Any]) -> Any:
    """Settings for a hub whose audit trail lives in ``tmp_path``."""
    return load_settings(None, data_dir=str(tmp_path), sources=sources)


def population_source(mock: ServedApp, **overrides: Any) -> dict[str, Any]:
    return {**installed_mocks()["population"].hub_settings(mock.url), **FAST, **overrides}


def requires_service(name: str, reachable: bool, why: str) -> None:
    """Skip when a service is down outside CI; fail under CI, where it must run."""
    if reachable:
        return
    if IN_CI:
        pytest.fail(f"{name} is unreachable under CI: {why}")
    pytest.skip(f"{name} is unreachable ({why}); set CI=1 to make this a failure")


def audit_keys(folder: Path) -> dict[str, str]:
    """Configured audit keys, made under ``folder`` once: the ``[audit]`` values naming them.

    A shared (PostgreSQL) trail refuses development keys; the replicas of a test share
    these by passing the same folder.
    """
    keys = folder / "audit-keys"
    if not keys.exists():
        generate_audit_keys(keys)
    return {
        name: f"file:{keys / file}"
        for name, file in (
            ("signing_key", "audit-signing.pem"),
            ("pseudonym_key", "audit-pseudonym.key"),
            ("mac_key", "audit-mac.key"),
        )
    }


def audit_keys_toml(folder: Path) -> str:
    """`audit_keys` as lines of an ``[audit]`` table."""
    return "".join(f'{name} = "{value}"\n' for name, value in audit_keys(folder).items())


@contextmanager
def redis_database(number: int) -> Iterator[str]:
    """The URL of Redis database ``number`` of the test server, emptied before and after.

    Each test module that uses Redis takes a database of its own, so that modules never
    touch each other's keys. Skips (or, under CI, fails) when Redis is unreachable.
    """
    url = REDIS_URL.rsplit("/", 1)[0] + f"/{number}"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        requires_service("Redis", False, f"{url}: {type(exc).__name__}")
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
