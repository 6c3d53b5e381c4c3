"""The PostgreSQL store's writer connection, around a commit its caller gave up on."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from hub.audit._postgres import PostgresStore
from hub.audit._store import Batch
from tests.audit.conftest import postgres_dsn, with_search_path

pytestmark = pytest.mark.postgres

NODE = "hue-1"


async def test_a_write_given_up_on_ends_before_its_connection_is_closed(
    postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reopening the writer waits for the abandoned write: closing under it would crash libpq."""
    store = PostgresStore(with_search_path(postgres_dsn(), postgres_schema), timeout=5.0)
    await store.open_writer(NODE)
    writing, release = asyncio.Event(), asyncio.Event()
    closed_while_writing: list[bool] = []

    async def held_write(conn: psycopg.AsyncConnection[Any], node: str, batch: Batch) -> None:
        writing.set()
        await release.wait()
        closed_while_writing.append(conn.closed)

    monkeypatch.setattr(store, "_write", held_write)
    commit = asyncio.create_task(store.commit(NODE, Batch(entries=[(0, b"l", b"{}", None, b"m")])))
    await writing.wait()
    commit.cancel()
    with pytest.raises(asyncio.CancelledError):
        await commit
    reopening = asyncio.create_task(store.open_writer(NODE))
    await asyncio.sleep(0.2)
    assert not reopening.done()
    release.set()
    head = await reopening
    try:
        assert closed_while_writing == [False]
        assert head.size == 0
    finally:
        await store.aclose()
