"""What the audit benchmarks share (not a benchmark): entries, and a PostgreSQL schema."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Iterator

import psycopg

from hub.audit import AuditEntry, Outcome

POSTGRES_DSN = os.environ.get("HUB_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def entries(count: int, node: str = "bench-1") -> list[AuditEntry]:
    """Distinct, plausible entries of ``node`` (built before the clock starts)."""
    now = dt.datetime.now(dt.UTC)
    return [
        AuditEntry(
            time=now,
            node=node,
            request_id=uuid.uuid4().hex,
            client="portal-ninhbinh",
            officer=f"cb.{i % 97:04d}",
            procedure="1.001757",
            dossier=f"H37.22-240315-{i:06d}",
            source="population",
            operation="lookup",
            subject=uuid.uuid4().hex * 2,
            fields=["date_of_birth", "full_name", "national_id", "permanent_residence"],
            outcome=Outcome.OK,
            error=None,
            attempts=1,
            upstream_ms=12.345,
            total_ms=15.5,
            cache="miss",
        )
        for i in range(count)
    ]


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(POSTGRES_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema for one run; yields the store URL confined to it."""
    schema = f"audit_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in POSTGRES_DSN else "?"
    try:
        yield f"{POSTGRES_DSN}{joiner}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
