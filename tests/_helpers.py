"""Helpers that tests of several folders share."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from hub.audit._keys import generate_audit_keys

__all__ = ["audit_keys", "audit_keys_toml", "redis_database", "requires_service"]

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = bool(os.environ.get("CI"))


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
