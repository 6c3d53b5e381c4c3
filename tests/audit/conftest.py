"""Fixtures of the audit trail's tests: entries, settings, and a store of each kind.

PostgreSQL tests run against the server of ``HUB_TEST_POSTGRES_DSN`` (default
``postgresql://postgres@127.0.0.1:5432/test``), each in a schema of its own, dropped
after (the triggers refuse DELETE, not DROP). When the server is unreachable they skip,
unless ``CI`` is set: then they fail.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub._config import AuditSettings
from hub.audit import AuditEntry, AuditTrail, Outcome
from hub.audit._keys import SIGNING_KEY_FILE, signing_key
from tests._helpers import audit_keys

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
NODE = "hue-1"
NATIONAL_ID = "037090001234"


def postgres_dsn() -> str:
    return os.environ.get("HUB_TEST_POSTGRES_DSN", DEFAULT_DSN)


def with_search_path(dsn: str, schema: str) -> str:
    """The DSN, its sessions confined to ``schema``."""
    joiner = "&" if "?" in dsn else "?"
    return f"{dsn}{joiner}options=-csearch_path%3D{schema}"


_reachable: bool | None = None


def require_postgres() -> None:
    """Skip (or, under CI, fail) unless the PostgreSQL test server answers."""
    global _reachable
    if _reachable is None:
        try:
            with psycopg.connect(postgres_dsn(), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _reachable = True
        except psycopg.OperationalError:
            _reachable = False
    if not _reachable:
        message = f"PostgreSQL is unreachable at {postgres_dsn()}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh schema on the PostgreSQL test server; its DSN is ``with_search_path``."""
    require_postgres()
    schema = f"audit_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'trail' / 'audit.db'}"
    schema = request.getfixturevalue("postgres_schema")
    return with_search_path(postgres_dsn(), schema)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def make_settings(store_url: str, tmp_path: Path) -> Callable[..., AuditSettings]:
    """Audit settings on the test's store; keyword arguments override.

    A PostgreSQL trail is shared, so it gets configured keys; SQLite uses the
    development keys of the data directory.
    """

    def make(**overrides: Any) -> AuditSettings:
        values: dict[str, Any] = {
            "store": store_url,
            "node": NODE,
            "checkpoint_every": 1000,
            "checkpoint_seconds": 3600.0,
            "append_timeout": 5.0,
        }
        if store_url.startswith("postgresql:"):
            values.update(audit_keys(tmp_path))
        values.update(overrides)
        return AuditSettings(**values)

    return make


@pytest.fixture
async def trail(
    make_settings: Callable[..., AuditSettings], data_dir: Path
) -> AsyncIterator[AuditTrail]:
    opened = await AuditTrail.open(make_settings(), data_dir=data_dir)
    try:
        yield opened
    finally:
        await opened.aclose()


def public_key_file(data_dir: Path, settings: AuditSettings) -> Path:
    """Write the trail's public key (PEM) next to the development key; return its path."""
    from hub.audit._keys import public_key_pem

    key = signing_key(settings, data_dir=data_dir, create=False)
    path = data_dir / "keys" / f"{SIGNING_KEY_FILE}.pub"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(public_key_pem(key.public_key()), encoding="utf-8")
    return path


def make_entry(**overrides: Any) -> AuditEntry:
    """A plausible entry of node hue-1; keyword arguments override its fields."""
    values: dict[str, Any] = {
        "time": dt.datetime.now(dt.UTC),
        "node": NODE,
        "request_id": uuid.uuid4().hex,
        "client": "portal-ninhbinh",
        "officer": "cb.0042",
        "procedure": "1.001757",
        "dossier": "H37.22-240315-0001",
        "source": "population",
        "operation": "lookup",
        "subject": None,
        "fields": ["date_of_birth", "full_name", "national_id"],
        "outcome": Outcome.OK,
        "error": None,
        "attempts": 1,
        "upstream_ms": 12.5,
        "total_ms": 15.25,
        "cache": "miss",
    }
    values.update(overrides)
    return AuditEntry(**values)
