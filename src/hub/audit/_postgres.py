"""The shared store: PostgreSQL, for several sidecar replicas, each node with its own tree.

Reads (proofs, verification, reports, probes) take connections from psycopg_pool's
async pool. The writer has a connection of its own, kept for as long as it works,
on which it holds a session advisory lock on its node, so that two processes never
extend the same tree. After the network is cut, the server may keep
the old session (and its lock) until TCP keepalives end it; the writer then ends its
own stale session itself (``pg_terminate_backend``) rather than wait.

Requires PostgreSQL 12 or later (stored generated columns).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import Format
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from hub._logging import get_logger
from hub.audit._store import (
    CHUNK,
    EARLIEST,
    LATEST,
    TILE_SIZE,
    Batch,
    EntryRow,
    Head,
    IndexTaken,
    NodeBusy,
    ReportRow,
    Snapshot,
    Store,
    StoredCheckpoint,
    StoreError,
    WriterRow,
    head_from,
)
from hub.audit.merkle import leaf_hash

__all__ = ["PostgresStore"]

log = get_logger("hub.audit")

_LOCK_PREFIX = "lienthong.audit/"
_SCHEMA_LOCK = "lienthong.audit/schema"

_GENERATED = (
    "time",
    "subject",
    "client",
    "officer",
    "procedure",
    "dossier",
    "source",
    "operation",
    "outcome",
)


def _schema() -> list[str]:
    # Byte order (COLLATE "C"): the fixed-width RFC 3339 times then sort as instants.
    generated = "".join(
        f'    {name} text COLLATE "C" GENERATED ALWAYS AS'
        f" ((body::jsonb) #>> '{{entry,{name}}}') STORED,\n"
        for name in _GENERATED
    )
    statements = [
        "CREATE TABLE IF NOT EXISTS audit_entries (\n"
        "    node text NOT NULL,\n"
        "    idx bigint NOT NULL,\n"
        "    leaf bytea NOT NULL,\n"
        "    body text NOT NULL,\n"
        "    tile bytea,\n"
        "    mac bytea,\n"
        f"{generated}"
        "    upstream_ms double precision GENERATED ALWAYS AS"
        " (((body::jsonb) #>> '{entry,upstream_ms}')::double precision) STORED,\n"
        "    PRIMARY KEY (node, idx)\n"
        ")",
        "CREATE INDEX IF NOT EXISTS audit_entries_by_subject ON audit_entries (subject)",
        "CREATE INDEX IF NOT EXISTS audit_entries_by_time ON audit_entries (time)",
        "CREATE INDEX IF NOT EXISTS audit_entries_tiles ON audit_entries (node, idx)"
        " WHERE tile IS NOT NULL",
        "CREATE TABLE IF NOT EXISTS audit_checkpoints (\n"
        "    node text NOT NULL, seq bigint NOT NULL, body text NOT NULL,\n"
        "    signature bytea NOT NULL,\n"
        "    PRIMARY KEY (node, seq)\n"
        ")",
        "CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    RAISE EXCEPTION 'the audit trail is append-only' USING ERRCODE = '42501';\n"
        "END\n"
        "$$",
    ]
    for table in ("audit_entries", "audit_checkpoints"):
        statements += [
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
        ]
    return statements + _meta_table()


def _cosignatures_table() -> list[str]:
    return [
        "CREATE TABLE audit_cosignatures (node text NOT NULL, seq bigint NOT NULL,"
        " witness text NOT NULL, line text NOT NULL, PRIMARY KEY (node, seq, witness))",
        "CREATE TRIGGER audit_cosignatures_append_only BEFORE UPDATE OR DELETE"
        " ON audit_cosignatures FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
        "CREATE TRIGGER audit_cosignatures_no_truncate BEFORE TRUNCATE ON audit_cosignatures"
        " FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
    ]


def _meta_table() -> list[str]:
    return [
        "CREATE TABLE audit_meta (name text PRIMARY KEY, value text NOT NULL)",
        "CREATE TRIGGER audit_meta_append_only BEFORE UPDATE OR DELETE ON audit_meta"
        " FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
        "CREATE TRIGGER audit_meta_no_truncate BEFORE TRUNCATE ON audit_meta"
        " FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
    ]


def _error(exc: BaseException) -> StoreError:
    if isinstance(exc, PoolTimeout):
        return StoreError("PostgreSQL: no connection within the timeout")
    # The class and SQLSTATE say what happened; the message may quote a row or a host.
    sqlstate = getattr(exc, "sqlstate", None)
    suffix = f" ({sqlstate})" if sqlstate else ""
    return StoreError(f"PostgreSQL: {type(exc).__name__}{suffix}")


def _describe(url: str) -> str:
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://"
    host = parts.get("host", "")
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{host}{port}/{parts.get('dbname', '')}"


def _identity(url: str) -> str:
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://"
    parts.pop("password", None)
    return "postgresql:" + " ".join(f"{key}={parts[key]}" for key in sorted(parts))


class PostgresStore(Store):
    """The audit trail in a PostgreSQL database.

    Args:
        url: A libpq connection URI (``postgresql://user@host:5432/db``); its
            ``options`` may set a ``search_path`` to keep the tables in a schema.
        timeout: Seconds to wait for a connection, a lock or a statement.
    """

    def __init__(self, url: str, *, timeout: float) -> None:
        self.description = _describe(url)
        self.identity = _identity(url)
        self._url = url
        self._timeout = timeout
        self._kwargs: dict[str, Any] = {
            "autocommit": True,
            "application_name": "lienthong-audit",
            # The bodies are compared byte for byte with what was hashed: UTF-8 always.
            "client_encoding": "UTF8",
            # libpq counts whole seconds and at least 2.
            "connect_timeout": max(2, round(timeout)),
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }
        self._pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=3,
            open=False,
            timeout=timeout,
            name="hub-audit",
            configure=self._configure,
            check=AsyncConnectionPool.check_connection,
            kwargs=self._kwargs,
        )
        self._pool_open = False
        self._writer: psycopg.AsyncConnection[Any] | None = None
        self._writer_pid: int | None = None
        # Commits run one after the other; after one fails (or is abandoned), the ones
        # queued behind it were planned on top of it and are refused until open_writer.
        self._commit_lock = asyncio.Lock()
        self._broken = False
        # A write its caller stopped waiting for runs on until its cut socket fails it.
        self._abandoned_write: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({self.description!r})"

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        timeout_ms = max(1, round(self._timeout * 1000))
        await conn.execute(f"SET statement_timeout = {timeout_ms}")
        await conn.execute(f"SET lock_timeout = {timeout_ms}")
        # The server side of keepalives: a session whose client vanished ends in ~25 s.
        await conn.execute("SET tcp_keepalives_idle = 10")
        await conn.execute("SET tcp_keepalives_interval = 5")
        await conn.execute("SET tcp_keepalives_count = 3")

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if not self._pool_open:
            # One direct attempt first: a wrong address or password fails at once,
            # where the pool would keep retrying until the timeout.
            first = await self._connect()
            await first.close()
            await self._pool.open(wait=False)
            self._pool_open = True
        try:
            return await self._pool.getconn(timeout=self._timeout)
        except PoolTimeout as exc:
            raise _error(exc) from None

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        """A connection of its own, outside the pool."""
        try:
            async with asyncio.timeout(self._timeout):
                conn = await psycopg.AsyncConnection.connect(self._url, **self._kwargs)
                await self._configure(conn)
        except TimeoutError:
            raise StoreError(f"PostgreSQL: no connection to {self.description} in time") from None
        except psycopg.Error as exc:
            # libpq's message may quote the user or the DSN: only its SQLSTATE is kept.
            sqlstate = f" ({exc.sqlstate})" if exc.sqlstate else ""
            raise StoreError(
                f"PostgreSQL: cannot connect to {self.description}{sqlstate}"
            ) from None
        return conn

    async def _close_writer(self) -> None:
        conn, self._writer = self._writer, None
        abandoned, self._abandoned_write = self._abandoned_write, None
        if abandoned is not None and not abandoned.done():
            # psycopg's C generators hold libpq's raw connection while they wait: closing
            # the connection under a write still inside one frees what it then reads (a
            # crash, not an error). Its socket is cut, so it ends at its next read.
            await asyncio.wait({abandoned}, timeout=self._timeout)
            if not abandoned.done():
                log.warning("audit write still running after its timeout; connection left open")
                return
        if conn is not None:
            # Closing the session releases its advisory lock.
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()

    # The writer

    async def _create_schema(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_SCHEMA_LOCK,)
            )
            cur = await conn.execute(
                "SELECT to_regclass('audit_checkpoints') IS NOT NULL,"
                " to_regclass('audit_meta') IS NOT NULL,"
                " to_regclass('audit_cosignatures') IS NOT NULL"
            )
            row = await cur.fetchone()
            trail, meta, cosignatures = row if row is not None else (False, False, False)
            if not trail:
                statements = [*_schema(), *_cosignatures_table()]
            elif not meta:
                # A trail made before entries carried MACs: those rows keep a NULL one.
                statements = [
                    "ALTER TABLE audit_entries ADD COLUMN IF NOT EXISTS mac bytea",
                    *_meta_table(),
                    *_cosignatures_table(),
                ]
            elif not cosignatures:
                statements = _cosignatures_table()
            else:
                return
            for statement in statements:
                await conn.execute(statement)

    async def _lock_node(self, conn: psycopg.AsyncConnection[Any], node: str) -> None:
        # Advisory locks are the database's; the schema keeps two trails of one database
        # (each in a schema of its own) from taking each other's nodes.
        cur = await conn.execute("SELECT current_schema()")
        row = await cur.fetchone()
        key = f"{_LOCK_PREFIX}{row[0] if row else ''}/{node}"
        deadline = time.monotonic() + self._timeout
        while True:
            cur = await conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,))
            row = await cur.fetchone()
            if row is not None and row[0]:
                return
            cur = await conn.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND objsubid = 1"
                " AND ((classid::bigint << 32) | objid::bigint) = hashtextextended(%s, 0)",
                (key,),
            )
            holders = {pid for (pid,) in await cur.fetchall()}
            if self._writer_pid is None or holders != {self._writer_pid}:
                raise NodeBusy(f"another process is writing node {node} of this trail")
            # Our own session from before a cut, not yet ended by the server: end it.
            await conn.execute("SELECT pg_terminate_backend(%s)", (self._writer_pid,))
            if time.monotonic() > deadline:
                raise StoreError(f"the previous session of node {node} does not end")
            await asyncio.sleep(0.05)

    async def _read_head(self, conn: psycopg.AsyncConnection[Any], node: str) -> Head:
        async with conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur = await conn.execute("SELECT max(idx) FROM audit_entries WHERE node = %s", (node,))
            row = await cur.fetchone()
            size = 0 if row is None or row[0] is None else int(row[0]) + 1
            cur = await conn.execute(
                "SELECT idx, tile FROM audit_entries WHERE node = %s AND tile IS NOT NULL"
                " ORDER BY idx",
                (node,),
            )
            tiles = [
                (int(index) // TILE_SIZE, bytes(value)) for index, value in await cur.fetchall()
            ]
            start = size // TILE_SIZE * TILE_SIZE
            cur = await conn.execute(
                "SELECT idx, convert_to(body, 'UTF8') FROM audit_entries"
                " WHERE node = %s AND idx >= %s ORDER BY idx",
                (node, start),
            )
            tail_rows = await cur.fetchall()
            if [int(index) for index, _ in tail_rows] != list(range(start, size)):
                raise StoreError("entries are missing from the store; run `hub audit verify`")
            head = head_from(size, tiles, [leaf_hash(bytes(body)) for _, body in tail_rows])
            cur = await conn.execute(
                "SELECT seq, convert_to(body, 'UTF8'), signature FROM audit_checkpoints"
                " WHERE node = %s ORDER BY seq DESC LIMIT 1",
                (node,),
            )
            newest = await cur.fetchone()
        if newest is not None:
            head.checkpoint = StoredCheckpoint(int(newest[0]), bytes(newest[1]), bytes(newest[2]))
        return head

    async def open_writer(self, node: str) -> Head:
        self._broken = False
        await self._close_writer()
        conn = await self._connect()
        self._writer = conn
        try:
            await self._create_schema(conn)
            await self._lock_node(conn, node)
            head = await self._read_head(conn, node)
        except psycopg.Error as exc:
            await self._close_writer()
            raise _error(exc) from None
        except BaseException:
            await self._close_writer()
            raise
        self._writer_pid = conn.info.backend_pid
        return head

    async def commit(self, node: str, batch: Batch) -> None:
        async with self._commit_lock:
            conn = self._writer
            if conn is None or self._broken:
                raise StoreError("an earlier commit failed; the writer must read the tree back")
            if not (batch.entries or batch.checkpoints):
                return
            write = asyncio.ensure_future(self._write(conn, node, batch))
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError:
                # The caller's timeout: psycopg would first try to cancel the query on a
                # server that may not answer (seconds). Cut the socket so the write fails
                # at once; its outcome is unknown either way, and the writer reads the
                # tree back before the next commit.
                self._broken = True
                _cut(conn)
                write.add_done_callback(_retrieve)
                self._abandoned_write = write
                raise
            except BaseException as exc:
                self._broken = True
                if isinstance(exc, psycopg.errors.UniqueViolation):
                    raise IndexTaken(
                        f"PostgreSQL: an index of node {node} is already taken"
                    ) from None
                if isinstance(exc, psycopg.Error):
                    raise _error(exc) from None
                raise

    async def claim_meta(self, values: dict[str, str]) -> dict[str, str]:
        conn = self._writer
        if conn is None:
            raise StoreError("the writer is not open")
        try:
            async with conn.transaction():
                cur = conn.cursor()
                await cur.executemany(
                    "INSERT INTO audit_meta (name, value) VALUES (%s, %s)"
                    " ON CONFLICT (name) DO NOTHING",
                    list(values.items()),
                )
                await cur.execute("SELECT name, value FROM audit_meta")
                return dict(await cur.fetchall())
        except psycopg.Error as exc:
            raise _error(exc) from None

    async def _write(self, conn: psycopg.AsyncConnection[Any], node: str, batch: Batch) -> None:
        async with conn.transaction():
            cur = conn.cursor()
            async with cur.copy(
                "COPY audit_entries (node, idx, leaf, body, tile, mac) FROM STDIN"
            ) as copy:
                for index, leaf, body, tile, mac in batch.entries:
                    await copy.write_row((node, index, leaf, body.decode(), tile, mac))
            if batch.checkpoints:
                await cur.executemany(
                    "INSERT INTO audit_checkpoints (node, seq, body, signature)"
                    " VALUES (%s, %s, %s, %s)",
                    [(node, c.seq, c.body.decode(), c.signature) for c in batch.checkpoints],
                )

    async def probe(self) -> None:
        conn = await self._connection()
        try:
            cur = await conn.execute("SELECT pg_is_in_recovery()")
            row = await cur.fetchone()
        except psycopg.Error as exc:
            raise _error(exc) from None
        finally:
            # A broken connection handed back is dropped by the pool, which opens another.
            await self._pool.putconn(conn)
        if row is None or row[0]:
            raise StoreError("PostgreSQL: the server is read-only (in recovery)")

    async def add_cosignature(self, node: str, seq: int, witness: str, line: str) -> None:
        conn = await self._connection()
        try:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO audit_cosignatures (node, seq, witness, line)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (node, seq, witness, line),
                )
        except psycopg.Error as exc:
            raise _error(exc) from None
        finally:
            await self._pool.putconn(conn)

    async def close_writer(self) -> None:
        await self._close_writer()
        self._writer_pid = None

    async def aclose(self) -> None:
        await self.close_writer()
        if self._pool_open:
            await self._pool.close()
            self._pool_open = False

    # Reading

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Snapshot]:
        conn = await self._connection()
        try:
            async with self._read_only(conn) as snapshot:
                yield snapshot
        finally:
            await self._pool.putconn(conn)

    @contextlib.asynccontextmanager
    async def writer_snapshot(self) -> AsyncIterator[Snapshot]:
        conn = self._writer
        if conn is None:
            raise StoreError("the writer is not open")
        async with self._read_only(conn) as snapshot:
            yield snapshot

    @contextlib.asynccontextmanager
    async def _read_only(self, conn: psycopg.AsyncConnection[Any]) -> AsyncIterator[Snapshot]:
        try:
            async with conn.transaction():
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur = await conn.execute("SELECT to_regclass('audit_checkpoints') IS NOT NULL")
                row = await cur.fetchone()
                if row is None or not row[0]:
                    raise StoreError(f"no audit trail in {self.description}")
                yield _PostgresSnapshot(conn)
        except psycopg.Error as exc:
            raise _error(exc) from None


class _TextAsBytes(Loader):
    """Text as the UTF-8 bytes the server sent, not decoded (to be hashed as they are)."""

    format = Format.BINARY

    def load(self, data: Buffer) -> bytes:
        return bytes(data)


class _PostgresSnapshot(Snapshot):
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn
        self._cursors = 0

    async def _all(self, sql: str, *params: Any) -> list[Any]:
        try:
            cur = await self._conn.execute(sql, params)
            return await cur.fetchall()
        except psycopg.Error as exc:
            raise _error(exc) from None

    async def _chunks(
        self, sql: str, *params: Any, raw_text: bool = False
    ) -> AsyncIterator[list[Any]]:
        self._cursors += 1
        # A server-side cursor: rows come CHUNK at a time, not all at once. Binary:
        # byte strings travel as they are, not as hex text twice their size.
        async with self._conn.cursor(name=f"audit_scan_{self._cursors}", binary=True) as cur:
            if raw_text:
                cur.adapters.register_loader("text", _TextAsBytes)
            try:
                await cur.execute(sql, params)
                rows = await cur.fetchmany(CHUNK)
            except psycopg.Error as exc:
                raise _error(exc) from None
            while rows:
                # The next chunk travels while the caller works on this one.
                following = asyncio.ensure_future(cur.fetchmany(CHUNK))
                try:
                    yield rows
                finally:
                    try:
                        rows = await following
                    except psycopg.Error as exc:
                        raise _error(exc) from None

    async def nodes(self) -> list[str]:
        rows = await self._all(
            "SELECT node FROM audit_entries UNION SELECT node FROM audit_checkpoints ORDER BY 1"
        )
        return [node for (node,) in rows]

    async def size(self, node: str) -> int:
        ((highest,),) = await self._all("SELECT max(idx) FROM audit_entries WHERE node = %s", node)
        return 0 if highest is None else int(highest) + 1

    async def checkpoints(self, node: str, since: int = 0) -> list[StoredCheckpoint]:
        rows = await self._all(
            "SELECT seq, convert_to(body, 'UTF8'), signature FROM audit_checkpoints"
            " WHERE node = %s AND seq >= %s ORDER BY seq",
            node,
            since,
        )
        return [StoredCheckpoint(int(seq), bytes(body), bytes(sig)) for seq, body, sig in rows]

    async def cosignatures(self, node: str) -> list[tuple[int, str, str]]:
        present = await self._all("SELECT to_regclass('audit_cosignatures') IS NOT NULL")
        if not present or not present[0][0]:
            return []
        rows = await self._all(
            "SELECT seq, witness, line FROM audit_cosignatures WHERE node = %s ORDER BY seq",
            node,
        )
        return [(int(seq), str(witness), str(line)) for seq, witness, line in rows]

    async def newest_checkpoint(self, node: str) -> StoredCheckpoint | None:
        rows = await self._all(
            "SELECT seq, convert_to(body, 'UTF8'), signature FROM audit_checkpoints"
            " WHERE node = %s ORDER BY seq DESC LIMIT 1",
            node,
        )
        if not rows:
            return None
        seq, body, sig = rows[0]
        return StoredCheckpoint(int(seq), bytes(body), bytes(sig))

    async def tiles(self, node: str, count: int | None = None) -> list[tuple[int, bytes]]:
        rows = await self._all(
            "SELECT idx, tile FROM audit_entries WHERE node = %s AND tile IS NOT NULL"
            " ORDER BY idx LIMIT %s",
            node,
            count,
        )
        return [(int(index) // TILE_SIZE, bytes(value)) for index, value in rows]

    async def bodies(self, node: str, start: int, end: int) -> list[tuple[int, bytes]]:
        rows = await self._all(
            "SELECT idx, convert_to(body, 'UTF8') FROM audit_entries"
            " WHERE node = %s AND idx >= %s AND idx < %s ORDER BY idx",
            node,
            start,
            end,
        )
        return [(int(index), bytes(body)) for index, body in rows]

    async def rows(self, node: str, start: int, end: int) -> list[WriterRow]:
        rows = await self._all(
            "SELECT idx, leaf, convert_to(body, 'UTF8'), mac FROM audit_entries"
            " WHERE node = %s AND idx >= %s AND idx < %s ORDER BY idx",
            node,
            start,
            end,
        )
        return [
            (int(index), bytes(leaf), bytes(body), None if mac is None else bytes(mac))
            for index, leaf, body, mac in rows
        ]

    async def entries(self, node: str) -> AsyncIterator[list[EntryRow]]:
        async for rows in self._chunks(
            "SELECT idx, leaf, body FROM audit_entries WHERE node = %s ORDER BY idx",
            node,
            raw_text=True,
        ):
            yield rows

    async def find(
        self, subject: str, since: str | None, until: str | None
    ) -> list[tuple[str, int, bytes]]:
        rows = await self._all(
            "SELECT node, idx, convert_to(body, 'UTF8') FROM audit_entries"
            " WHERE subject = %s AND time >= %s AND time < %s ORDER BY time, node, idx",
            subject,
            since or EARLIEST,
            until or LATEST,
        )
        return [(node, int(index), bytes(body)) for node, index, body in rows]

    async def find_page(
        self, subject: str, since: str | None, until: str | None, *, offset: int, limit: int
    ) -> tuple[int, list[tuple[str, int, bytes]]]:
        total = await self._all(
            "SELECT count(*) FROM audit_entries WHERE subject = %s AND time >= %s AND time < %s",
            subject,
            since or EARLIEST,
            until or LATEST,
        )
        rows = await self._all(
            "SELECT node, idx, convert_to(body, 'UTF8') FROM audit_entries"
            " WHERE subject = %s AND time >= %s AND time < %s"
            " ORDER BY time DESC, node DESC, idx DESC LIMIT %s OFFSET %s",
            subject,
            since or EARLIEST,
            until or LATEST,
            limit,
            offset,
        )
        return int(total[0][0]), [(node, int(index), bytes(body)) for node, index, body in rows]

    async def report_rows(
        self, since: str | None, until: str | None
    ) -> AsyncIterator[list[ReportRow]]:
        async for rows in self._chunks(
            "SELECT node, client, officer, procedure, dossier, source, operation, outcome,"
            " upstream_ms FROM audit_entries WHERE time >= %s AND time < %s",
            since or EARLIEST,
            until or LATEST,
        ):
            yield [ReportRow(*row) for row in rows]


def _cut(conn: psycopg.AsyncConnection[Any]) -> None:
    """Shut the connection's socket down under psycopg, so that what waits on it fails now."""
    with contextlib.suppress(OSError):
        # fromfd duplicates the descriptor; shutdown acts on the connection itself.
        cut = socket.fromfd(conn.pgconn.socket, socket.AF_INET, socket.SOCK_STREAM)
        try:
            cut.shutdown(socket.SHUT_RDWR)
        finally:
            cut.close()


def _retrieve(task: asyncio.Future[None]) -> None:
    """Read a cut write's exception, which nobody awaits any more."""
    if not task.cancelled():
        task.exception()
