"""The embedded store: one SQLite file in WAL mode, durable at every commit.

SQLite's calls block, so they run off the event loop: the writer's in a thread of its
own (one connection, one transaction at a time), a snapshot's in worker threads.
One process writes a node at a time, which an exclusive lock on a file next to the
database (``audit.db.<node>.lock``) enforces; other nodes may share the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from hub._files import private_dir
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

__all__ = ["SqliteStore"]

T = TypeVar("T")

#: 2: entries carry a MAC; the trail records facts its writers must agree on.
SCHEMA_VERSION = 3
#: The oldest schema a snapshot reads (a writer brings it up to date when it starts).
READABLE_VERSION = 2
#: The subject index is keyed (node, run, subject), a run being 2**12 consecutive
#: entries. Pseudonyms are random: indexed across the whole tree, each new entry would
#: land on a page of its own, and every commit would write (and sync) a page per entry.
#: Within the current run they fall on a few pages at the end of the index, which keeps
#: appends three times faster; a search probes each run, a few hundred per million.
RUN_SHIFT = 12
#: The page cache of each connection, KiB.
CACHE_KIB = 32 * 1024
#: Rows one INSERT statement adds (6 parameters each, below SQLite's 32,766).
ROWS_PER_INSERT = 512

_GENERATED = {
    "time": "TEXT",
    "subject": "TEXT",
    "client": "TEXT",
    "officer": "TEXT",
    "procedure": "TEXT",
    "dossier": "TEXT",
    "source": "TEXT",
    "operation": "TEXT",
    "outcome": "TEXT",
    "upstream_ms": "REAL",
}


def _refuse_changes(tables: tuple[str, ...]) -> str:
    return "".join(
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {verb.upper()} ON {table}\n"
        f"BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;\n"
        for table in tables
        for verb in ("update", "delete")
    )


_META_TABLE = (
    "CREATE TABLE IF NOT EXISTS audit_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
    " WITHOUT ROWID;\n"
)


_COSIGNATURES_TABLE = (
    "CREATE TABLE IF NOT EXISTS audit_cosignatures (\n"
    "    node TEXT NOT NULL, seq INTEGER NOT NULL, witness TEXT NOT NULL, line TEXT NOT NULL,\n"
    "    PRIMARY KEY (node, seq, witness)\n"
    ") WITHOUT ROWID;\n"
    f"{_refuse_changes(('audit_cosignatures',))}"
)


def _schema() -> str:
    generated = "".join(
        f"    {name} {kind} GENERATED ALWAYS AS (json_extract(body, '$.entry.{name}')) VIRTUAL,\n"
        for name, kind in _GENERATED.items()
    )
    return (
        "CREATE TABLE IF NOT EXISTS audit_entries (\n"
        "    node TEXT NOT NULL,\n"
        "    idx INTEGER NOT NULL,\n"
        "    leaf BLOB NOT NULL,\n"
        "    body TEXT NOT NULL,\n"
        "    tile BLOB,\n"
        "    mac BLOB,\n"
        f"{generated}"
        "    UNIQUE (node, idx)\n"
        ");\n"
        # Subjects are indexed per run of entries (see RUN_SHIFT), not across the tree.
        f"CREATE INDEX IF NOT EXISTS audit_entries_by_subject"
        f" ON audit_entries (node, idx >> {RUN_SHIFT}, subject);\n"
        "CREATE INDEX IF NOT EXISTS audit_entries_by_time ON audit_entries (time);\n"
        "CREATE INDEX IF NOT EXISTS audit_entries_tiles ON audit_entries (node, idx)"
        " WHERE tile IS NOT NULL;\n"
        "CREATE TABLE IF NOT EXISTS audit_checkpoints (\n"
        "    node TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,\n"
        "    signature BLOB NOT NULL,\n"
        "    PRIMARY KEY (node, seq)\n"
        ") WITHOUT ROWID;\n"
        f"{_META_TABLE}"
        f"{_refuse_changes(('audit_entries', 'audit_checkpoints', 'audit_meta'))}"
        f"{_COSIGNATURES_TABLE}"
        f"PRAGMA user_version = {SCHEMA_VERSION};\n"
    )


def _migration(version: int) -> str:
    """The statements that bring a trail of schema ``version`` (0: none yet) up to date."""
    if version == 0:
        return _schema()
    # Version 2: no cosignatures table.
    if version == 2:
        return f"{_COSIGNATURES_TABLE}PRAGMA user_version = {SCHEMA_VERSION};\n"
    # Version 1: entries without MACs (those rows keep a NULL one), no meta table.
    return (
        "ALTER TABLE audit_entries ADD COLUMN mac BLOB;\n"
        f"{_META_TABLE}"
        f"{_refuse_changes(('audit_meta',))}"
        f"{_COSIGNATURES_TABLE}"
        f"PRAGMA user_version = {SCHEMA_VERSION};\n"
    )


@functools.cache
def _insert_entries(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)
    return f"INSERT INTO audit_entries (node, idx, leaf, body, tile, mac) VALUES {values}"  # noqa: S608


def _error(exc: BaseException) -> StoreError:
    # The error's name (SQLITE_BUSY, SQLITE_FULL ...) says what happened without
    # quoting a statement or a row.
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return StoreError(f"SQLite: {name}")


class SqliteStore(Store):
    """The audit trail in a SQLite file.

    Args:
        path: The database file; created (with its directory) by the first writer.
        timeout: Seconds a statement waits for another connection's lock.
    """

    def __init__(self, path: Path, *, timeout: float) -> None:
        self.path = path
        self.description = f"sqlite:///{path}"
        self.identity = f"sqlite:///{path.absolute()}"
        self._timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._lock_node: str | None = None
        # Set when a commit fails or is abandoned: the batches queued behind it were
        # planned on top of it and must not be committed. Cleared by open_writer.
        self._broken = False
        # Set by a commit that fails or is abandoned, cleared by one that succeeds:
        # while it is set, a probe writes (see `_probe`).
        self._failing = False

    def __repr__(self) -> str:
        return f"SqliteStore({self.description!r})"

    async def _in_writer(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the writer's thread; a cancelled wait interrupts the statement."""
        future = self._executor.submit(fn)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            conn = self._conn
            if conn is not None:
                conn.interrupt()
            raise

    def _connect(self, *, create: bool) -> sqlite3.Connection:
        if create:
            _private_file(self.path)
            target = str(self.path)
            uri = False
        else:
            if not self.path.is_file():
                raise StoreError(f"no audit trail at {self.path}")
            target = f"{self.path.absolute().as_uri()}?mode=rw"
            uri = True
        try:
            conn = sqlite3.connect(
                target,
                timeout=self._timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=uri,
            )
        except sqlite3.Error as exc:
            raise _error(exc) from None
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a commit returns once the WAL is on disk, so an acknowledged
            # entry survives a power cut, not only a crash of the process.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        except sqlite3.Error as exc:
            conn.close()
            raise _error(exc) from None
        if create:
            # SQLite gives the WAL and shared-memory files the database file's mode; a
            # trail made before it was private is made so now. Where the mode cannot be
            # changed (another owner, an immutable file), the store still works.
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.chmod(f"{self.path}{suffix}", 0o600)
        return conn

    # The writer

    def _lock(self, node: str) -> None:
        if self._lock_node == node:
            return
        path = self.path.with_name(f"{self.path.name}.{node}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise NodeBusy(f"another process is writing node {node} of this trail") from None
        self._lock_fd, self._lock_node = fd, node

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
        self._lock_fd = self._lock_node = None

    def _open_writer(self, node: str) -> Head:
        self._broken = False
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        conn = self._connect(create=True)
        try:
            self._lock(node)
            if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                # Read again under the write lock: writers starting together agree.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    (version,) = conn.execute("PRAGMA user_version").fetchone()
                    if version < SCHEMA_VERSION:
                        for statement in _migration(version).split(";\n"):
                            if statement.strip():
                                conn.execute(statement)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            conn.execute("BEGIN")
            try:
                head = _read_head(conn, node)
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            conn.close()
            raise _error(exc) from None
        except StoreError:
            conn.close()
            raise
        self._conn = conn
        return head

    async def open_writer(self, node: str) -> Head:
        return await self._in_writer(lambda: self._open_writer(node))

    def _commit(self, node: str, batch: Batch) -> None:
        conn = self._conn
        if conn is None or self._broken:
            raise StoreError("an earlier commit failed; the writer must read the tree back")
        if not (batch.entries or batch.checkpoints):
            return
        # Many rows per statement: one trip into SQLite, and one wait for the GIL on the
        # way back, per statement rather than per row. A batch that is one statement
        # needs no BEGIN and COMMIT: the statement is its own transaction.
        statements: list[tuple[str, list[object]]] = []
        entries = batch.entries
        for start in range(0, len(entries), ROWS_PER_INSERT):
            chunk = entries[start : start + ROWS_PER_INSERT]
            params: list[object] = []
            for index, leaf, body, tile, mac in chunk:
                params += (node, index, leaf, body.decode(), tile, mac)
            statements.append((_insert_entries(len(chunk)), params))
        for checkpoint in batch.checkpoints:
            statements.append(
                (
                    "INSERT INTO audit_checkpoints (node, seq, body, signature)"
                    " VALUES (?, ?, ?, ?)",
                    [node, checkpoint.seq, checkpoint.body.decode(), checkpoint.signature],
                )
            )
        try:
            if len(statements) == 1:
                conn.execute(*statements[0])
                self._failing = False
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    conn.execute(sql, params)
                conn.execute("COMMIT")
                self._failing = False
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except BaseException as exc:
            self._broken = self._failing = True
            if isinstance(exc, sqlite3.IntegrityError):
                raise IndexTaken(f"SQLite: an index of node {node} is already taken") from None
            if isinstance(exc, sqlite3.Error):
                raise _error(exc) from None
            raise

    def _claim_meta(self, values: dict[str, str]) -> dict[str, str]:
        conn = self._conn
        if conn is None:
            raise StoreError("the writer is not open")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR IGNORE INTO audit_meta (name, value) VALUES (?, ?)",
                    list(values.items()),
                )
                stored = dict(conn.execute("SELECT name, value FROM audit_meta").fetchall())
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise _error(exc) from None
        return stored

    async def claim_meta(self, values: dict[str, str]) -> dict[str, str]:
        return await self._in_writer(lambda: self._claim_meta(values))

    async def commit(self, node: str, batch: Batch) -> None:
        future = self._executor.submit(self._commit, node, batch)
        try:
            await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            self._broken = self._failing = True
            # Not started: dropped from the queue. Started: its statement is interrupted.
            if not future.cancel() and self._conn is not None:
                self._conn.interrupt()
            raise

    def _probe(self) -> None:
        conn = self._connect(create=False)
        try:
            if self._failing:
                # The last commit failed: only a write, rolled back, tells whether the
                # next would succeed (another process may hold the write lock). SQLite
                # opens a file it may not write read-only, and only a write (not the
                # lock) then fails.
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("ROLLBACK")
            else:
                # While commits succeed, a read: probes neither queue for the write lock
                # nor hold the writer up.
                conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.Error as exc:
            raise _error(exc) from None
        finally:
            conn.close()
        if not os.access(self.path, os.W_OK):
            raise StoreError("SQLite: the database file cannot be written")

    async def probe(self) -> None:
        await asyncio.to_thread(self._probe)

    def _add_cosignature(self, node: str, seq: int, witness: str, line: str) -> None:
        # Its own connection: a cosignature never waits behind, or breaks, a batch.
        conn = self._connect(create=False)
        try:
            conn.execute(
                "INSERT OR IGNORE INTO audit_cosignatures (node, seq, witness, line)"
                " VALUES (?, ?, ?, ?)",
                (node, seq, witness, line),
            )
        except sqlite3.Error as exc:
            raise _error(exc) from None
        finally:
            conn.close()

    async def add_cosignature(self, node: str, seq: int, witness: str, line: str) -> None:
        await asyncio.to_thread(self._add_cosignature, node, seq, witness, line)

    def _close_writer(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._unlock()

    async def close_writer(self) -> None:
        await self._in_writer(self._close_writer)

    async def aclose(self) -> None:
        await self.close_writer()
        self._executor.shutdown(wait=True)

    # Reading

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Snapshot]:
        conn = await asyncio.to_thread(self._connect, create=False)
        try:
            (version,) = await asyncio.to_thread(
                lambda: conn.execute("PRAGMA user_version").fetchone()
            )
            if version < READABLE_VERSION:
                raise StoreError(f"no audit trail in {self.path}")
            # A read transaction: every query below sees the same state of the file.
            await asyncio.to_thread(conn.execute, "BEGIN")
            yield _SqliteSnapshot(conn)
        finally:
            await asyncio.to_thread(conn.close)


def _private_file(path: Path) -> None:
    """Create ``path`` (and its folder) readable by this user alone: the trail is personal data.

    Raises:
        StoreError: the folder or the file cannot be made.
    """
    if path.exists():
        return
    try:
        private_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror}") from None
    # The mode given to open is masked by the umask; the trail's must not be.
    os.fchmod(fd, 0o600)
    os.close(fd)


def _read_head(conn: sqlite3.Connection, node: str) -> Head:
    (highest,) = conn.execute(
        "SELECT max(idx) FROM audit_entries WHERE node = ?", (node,)
    ).fetchone()
    size = 0 if highest is None else highest + 1
    tiles = [
        (index // TILE_SIZE, value)
        for index, value in conn.execute(
            "SELECT idx, tile FROM audit_entries WHERE node = ? AND tile IS NOT NULL ORDER BY idx",
            (node,),
        ).fetchall()
    ]
    start = size // TILE_SIZE * TILE_SIZE
    tail_rows = conn.execute(
        "SELECT idx, CAST(body AS BLOB) FROM audit_entries WHERE node = ? AND idx >= ?"
        " ORDER BY idx",
        (node, start),
    ).fetchall()
    if [index for index, _ in tail_rows] != list(range(start, size)):
        raise StoreError("entries are missing from the store; run `hub audit verify`")
    head = head_from(size, tiles, [leaf_hash(body) for _, body in tail_rows])
    row = conn.execute(
        "SELECT seq, CAST(body AS BLOB), signature FROM audit_checkpoints WHERE node = ?"
        " ORDER BY seq DESC LIMIT 1",
        (node,),
    ).fetchone()
    if row is not None:
        head.checkpoint = StoredCheckpoint(seq=row[0], body=row[1], signature=row[2])
    return head


class _SqliteSnapshot(Snapshot):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def _all(self, sql: str, *params: Any) -> list[Any]:
        def run() -> list[Any]:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _error(exc) from None

        return await asyncio.to_thread(run)

    async def _chunks(self, sql: str, *params: Any) -> AsyncIterator[list[Any]]:
        cursor = self._conn.cursor()

        def first() -> list[Any]:
            try:
                return cursor.execute(sql, params).fetchmany(CHUNK)
            except sqlite3.Error as exc:
                raise _error(exc) from None

        def more() -> list[Any]:
            try:
                return cursor.fetchmany(CHUNK)
            except sqlite3.Error as exc:
                raise _error(exc) from None

        try:
            rows = await asyncio.to_thread(first)
            while rows:
                # The next chunk is read in its thread while the caller works on this one.
                following = asyncio.ensure_future(asyncio.to_thread(more))
                try:
                    yield rows
                finally:
                    rows = await following
        finally:
            cursor.close()

    async def nodes(self) -> list[str]:
        def run() -> list[str]:
            # One index seek per node, where DISTINCT would read the whole index.
            found: set[str] = set()
            for table in ("audit_entries", "audit_checkpoints"):
                (node,) = self._conn.execute(f"SELECT min(node) FROM {table}").fetchone()  # noqa: S608
                while node is not None:
                    found.add(node)
                    (node,) = self._conn.execute(
                        f"SELECT min(node) FROM {table} WHERE node > ?",  # noqa: S608
                        (node,),
                    ).fetchone()
            return sorted(found)

        try:
            return await asyncio.to_thread(run)
        except sqlite3.Error as exc:
            raise _error(exc) from None

    async def size(self, node: str) -> int:
        ((highest,),) = await self._all("SELECT max(idx) FROM audit_entries WHERE node = ?", node)
        return 0 if highest is None else int(highest) + 1

    async def checkpoints(self, node: str, since: int = 0) -> list[StoredCheckpoint]:
        rows = await self._all(
            "SELECT seq, CAST(body AS BLOB), signature FROM audit_checkpoints"
            " WHERE node = ? AND seq >= ? ORDER BY seq",
            node,
            since,
        )
        return [StoredCheckpoint(seq=seq, body=body, signature=sig) for seq, body, sig in rows]

    async def cosignatures(self, node: str) -> list[tuple[int, str, str]]:
        tables = await self._all(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_cosignatures'"
        )
        if not tables:
            return []
        rows = await self._all(
            "SELECT seq, witness, line FROM audit_cosignatures WHERE node = ? ORDER BY seq",
            node,
        )
        return [(int(seq), str(witness), str(line)) for seq, witness, line in rows]

    async def newest_checkpoint(self, node: str) -> StoredCheckpoint | None:
        rows = await self._all(
            "SELECT seq, CAST(body AS BLOB), signature FROM audit_checkpoints"
            " WHERE node = ? ORDER BY seq DESC LIMIT 1",
            node,
        )
        return (
            StoredCheckpoint(seq=rows[0][0], body=rows[0][1], signature=rows[0][2])
            if rows
            else None
        )

    async def tiles(self, node: str, count: int | None = None) -> list[tuple[int, bytes]]:
        limit = -1 if count is None else count
        rows = await self._all(
            "SELECT idx, tile FROM audit_entries WHERE node = ? AND tile IS NOT NULL"
            " ORDER BY idx LIMIT ?",
            node,
            limit,
        )
        return [(index // TILE_SIZE, value) for index, value in rows]

    async def bodies(self, node: str, start: int, end: int) -> list[tuple[int, bytes]]:
        rows = await self._all(
            "SELECT idx, CAST(body AS BLOB) FROM audit_entries"
            " WHERE node = ? AND idx >= ? AND idx < ? ORDER BY idx",
            node,
            start,
            end,
        )
        return [(index, body) for index, body in rows]

    async def rows(self, node: str, start: int, end: int) -> list[WriterRow]:
        rows = await self._all(
            "SELECT idx, leaf, CAST(body AS BLOB), mac FROM audit_entries"
            " WHERE node = ? AND idx >= ? AND idx < ? ORDER BY idx",
            node,
            start,
            end,
        )
        return [(index, leaf, body, mac) for index, leaf, body, mac in rows]

    async def entries(self, node: str) -> AsyncIterator[list[EntryRow]]:
        async for rows in self._chunks(
            "SELECT idx, leaf, CAST(body AS BLOB) FROM audit_entries WHERE node = ? ORDER BY idx",
            node,
        ):
            yield rows

    async def find(
        self, subject: str, since: str | None, until: str | None
    ) -> list[tuple[str, int, bytes]]:
        found: list[tuple[str, str, int, bytes]] = []
        for node in await self.nodes():
            size = await self.size(node)
            if size == 0:
                continue
            # One probe of the subject index per run of the node's entries; the index's
            # expression must be written as it is in the index, hence no parameter.
            rows = await self._all(
                "WITH RECURSIVE runs(run) AS"  # noqa: S608 (RUN_SHIFT is a constant)
                " (SELECT 0 UNION ALL SELECT run + 1 FROM runs WHERE run < ?)"
                " SELECT e.time, e.idx, CAST(e.body AS BLOB) FROM runs"
                " CROSS JOIN audit_entries AS e INDEXED BY audit_entries_by_subject"
                f" WHERE e.node = ? AND e.idx >> {RUN_SHIFT} = runs.run AND e.subject = ?"
                " AND e.time >= ? AND e.time < ?",
                (size - 1) >> RUN_SHIFT,
                node,
                subject,
                since or EARLIEST,
                until or LATEST,
            )
            found += [(when, node, index, body) for when, index, body in rows]
        found.sort()
        return [(node, index, body) for _, node, index, body in found]

    async def find_page(
        self, subject: str, since: str | None, until: str | None, *, offset: int, limit: int
    ) -> tuple[int, list[tuple[str, int, bytes]]]:
        nodes = [node for node in await self.nodes() if await self.size(node) > 0]
        if len(nodes) == 1 and since is None and until is None:
            return await self._node_page(nodes[0], subject, offset=offset, limit=limit)
        # Positions and times first (the subject index, and each entry's time), then
        # the record bytes of the page alone.
        found: list[tuple[str, str, int]] = []
        for node in nodes:
            size = await self.size(node)
            rows = await self._all(
                "WITH RECURSIVE runs(run) AS"  # noqa: S608 (RUN_SHIFT is a constant)
                " (SELECT 0 UNION ALL SELECT run + 1 FROM runs WHERE run < ?)"
                " SELECT e.time, e.idx FROM runs"
                " CROSS JOIN audit_entries AS e INDEXED BY audit_entries_by_subject"
                f" WHERE e.node = ? AND e.idx >> {RUN_SHIFT} = runs.run AND e.subject = ?"
                " AND e.time >= ? AND e.time < ?",
                (size - 1) >> RUN_SHIFT,
                node,
                subject,
                since or EARLIEST,
                until or LATEST,
            )
            found += [(when, node, index) for when, index in rows]
        found.sort(reverse=True)
        page = found[offset : offset + limit]
        bodies: dict[tuple[str, int], bytes] = {}
        for node in {node for _, node, _ in page}:
            indices = [index for _, at, index in page if at == node]
            marks = ", ".join("?" * len(indices))
            rows = await self._all(
                "SELECT idx, CAST(body AS BLOB) FROM audit_entries"  # noqa: S608 (marks only)
                f" WHERE node = ? AND idx IN ({marks})",
                node,
                *indices,
            )
            bodies.update(((node, index), body) for index, body in rows)
        return len(found), [(node, index, bodies[node, index]) for _, node, index in page]

    async def _node_page(
        self, node: str, subject: str, *, offset: int, limit: int
    ) -> tuple[int, list[tuple[str, int, bytes]]]:
        """A page of one node's entries about ``subject``, newest first, read by runs.

        Within a node, index order is time order (the writer never lets a time go
        back). The subject index alone counts the entries of each run; only the runs
        that hold the page are then read from the table.
        """
        size = await self.size(node)
        counts = await self._all(
            "WITH RECURSIVE runs(run) AS"  # noqa: S608 (RUN_SHIFT is a constant)
            " (SELECT 0 UNION ALL SELECT run + 1 FROM runs WHERE run < ?)"
            " SELECT runs.run, count(*) FROM runs"
            " CROSS JOIN audit_entries AS e INDEXED BY audit_entries_by_subject"
            f" WHERE e.node = ? AND e.idx >> {RUN_SHIFT} = runs.run AND e.subject = ?"
            " GROUP BY runs.run ORDER BY runs.run DESC",
            (size - 1) >> RUN_SHIFT,
            node,
            subject,
        )
        total = sum(count for _, count in counts)
        skipped, wanted = 0, []
        for run, count in counts:
            if skipped + count > offset:
                wanted.append(run)
            skipped += count
            if skipped >= offset + limit:
                break
        if not wanted:
            return total, []
        # The newest run wanted starts the page after this many of the newer entries.
        before = sum(count for run, count in counts if run > wanted[0])
        marks = ", ".join("?" * len(wanted))
        rows = await self._all(
            "SELECT e.idx, CAST(e.body AS BLOB) FROM audit_entries AS e"  # noqa: S608
            " INDEXED BY audit_entries_by_subject"
            f" WHERE e.node = ? AND e.idx >> {RUN_SHIFT} IN ({marks}) AND e.subject = ?"
            " ORDER BY e.idx DESC",
            node,
            *wanted,
            subject,
        )
        page = rows[offset - before : offset - before + limit]
        return total, [(node, index, body) for index, body in page]

    async def report_rows(
        self, since: str | None, until: str | None
    ) -> AsyncIterator[list[ReportRow]]:
        async for rows in self._chunks(
            "SELECT node, client, officer, procedure, dossier, source, operation, outcome,"
            " upstream_ms FROM audit_entries WHERE time >= ? AND time < ?",
            since or EARLIEST,
            until or LATEST,
        ):
            yield [ReportRow(*row) for row in rows]
