"""What the trail needs of a store, whichever it is (SQLite, PostgreSQL).

A store keeps, per node, two append-only tables:

- entries: (node, idx, leaf, body, tile). ``body`` holds the canonical bytes of the
  leaf record, the single source of truth; ``leaf`` is their hash as written (so that
  a verifier can tell a changed entry from a moved one); ``tile``, on every 256th
  entry, is the hash of the run of 256 leaves it completes (an aligned perfect
  subtree), from which the writer resumes and proofs are built without reading every
  leaf. The columns that find and report query are generated from ``body`` by the
  database, so they cannot diverge from what is hashed.
- checkpoints: (node, seq, body, signature), ``body`` the signed note (or, on trails
  started before notes, the signed canonical JSON).
- cosignatures: (node, seq, witness, line), a witness's cosignature line on checkpoint
  ``seq``.

Triggers refuse UPDATE and DELETE on all of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from hub.errors import ConfigError

__all__ = [
    "TILE_HEIGHT",
    "TILE_SIZE",
    "Batch",
    "EntryRow",
    "Head",
    "IndexTaken",
    "NodeBusy",
    "ReportRow",
    "Snapshot",
    "Store",
    "StoreError",
    "StoredCheckpoint",
    "WriterRow",
    "open_store",
]

#: A tile is a perfect subtree of 2**8 leaves.
TILE_HEIGHT = 8
TILE_SIZE = 1 << TILE_HEIGHT
#: Rows fetched at a time when scanning.
CHUNK = 8192
#: Bounds of all time, as entry times are written (fixed-width RFC 3339, UTC).
EARLIEST = "0000-01-01T00:00:00.000Z"
LATEST = "9999-12-31T23:59:59.999Z"


class StoreError(Exception):
    """The store cannot do what was asked (down, locked, full, cut off, in use).

    The message names the kind of failure only: never a row, a URL or a password.
    """


class NodeBusy(StoreError):
    """Another process holds the node: its file lock or its advisory lock is taken."""


class IndexTaken(StoreError):
    """A commit found one of its indices already taken: the store was written behind the writer.

    Either another process writes the same node, or someone with access to the store
    inserted a row; neither is a reason to read the store back and carry on.
    """


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A checkpoint as stored: its signed bytes and signature."""

    seq: int
    body: bytes
    signature: bytes


#: One stored entry: its position, the leaf hash written with it, its record bytes.
#: A plain tuple: verification reads millions of them.
EntryRow = tuple[int, bytes, bytes]
#: One stored entry as its writer checks it: position, leaf hash, record bytes, and the
#: MAC chained over it (None for an entry written before entries carried one).
WriterRow = tuple[int, bytes, bytes, bytes | None]


@dataclass(frozen=True, slots=True)
class ReportRow:
    """The columns of one entry that a report groups and counts."""

    node: str
    client: str
    officer: str
    procedure: str
    dossier: str
    source: str
    operation: str
    outcome: str
    upstream_ms: float | None


@dataclass(slots=True)
class Head:
    """Where a node's tree stands: what a writer needs to resume appending."""

    size: int
    #: Hashes of the complete tiles, in order.
    tiles: list[bytes]
    #: Leaf hashes after the last complete tile, recomputed from the stored bodies.
    tail: list[bytes]
    #: The newest checkpoint, if any.
    checkpoint: StoredCheckpoint | None


@dataclass(slots=True)
class Batch:
    """What one transaction adds to a node's tree."""

    #: (index, leaf hash, record bytes, hash of the tile it completes or None, MAC),
    #: consecutive indices.
    entries: list[tuple[int, bytes, bytes, bytes | None, bytes]] = field(default_factory=list)
    checkpoints: list[StoredCheckpoint] = field(default_factory=list)


class Snapshot(ABC):
    """A consistent read-only view of the whole store."""

    @abstractmethod
    async def nodes(self) -> list[str]:
        """The nodes that have entries or checkpoints, sorted."""

    @abstractmethod
    async def size(self, node: str) -> int:
        """One past the highest index stored for ``node`` (0 when none)."""

    @abstractmethod
    async def checkpoints(self, node: str, since: int = 0) -> list[StoredCheckpoint]:
        """The checkpoints of ``node`` from sequence number ``since`` on, in order."""

    @abstractmethod
    async def cosignatures(self, node: str) -> list[tuple[int, str, str]]:
        """(checkpoint seq, witness name, cosignature line) of ``node``, by seq."""

    @abstractmethod
    async def newest_checkpoint(self, node: str) -> StoredCheckpoint | None:
        """The checkpoint with the highest sequence number."""

    @abstractmethod
    async def tiles(self, node: str, count: int | None = None) -> list[tuple[int, bytes]]:
        """(index, hash) of the stored tiles, in order; the first ``count`` when given."""

    @abstractmethod
    async def bodies(self, node: str, start: int, end: int) -> list[tuple[int, bytes]]:
        """(index, record bytes) of the entries with ``start <= index < end``."""

    @abstractmethod
    async def rows(self, node: str, start: int, end: int) -> list[WriterRow]:
        """The entries with ``start <= index < end``, with their leaf hashes and MACs."""

    @abstractmethod
    def entries(self, node: str) -> AsyncIterator[list[EntryRow]]:
        """Every entry of ``node`` by index, in chunks."""

    @abstractmethod
    async def find(
        self, subject: str, since: str | None, until: str | None
    ) -> list[tuple[str, int, bytes]]:
        """(node, index, record bytes) of the entries about ``subject``, by time.

        Args:
            subject: The pseudonym.
            since: RFC 3339 UTC text (as entries write it); inclusive.
            until: Likewise; exclusive.
        """

    @abstractmethod
    async def find_page(
        self, subject: str, since: str | None, until: str | None, *, offset: int, limit: int
    ) -> tuple[int, list[tuple[str, int, bytes]]]:
        """One page of the entries about ``subject``, newest first, and how many there are.

        Only the page's record bytes are read, so that a subject with many entries
        pages as fast as one with few.

        Args:
            subject: The pseudonym.
            since: RFC 3339 UTC text (as entries write it); inclusive.
            until: Likewise; exclusive.
            offset: Entries skipped, newest first.
            limit: Entries in the page at most.

        Returns:
            The number of entries about ``subject`` in [since, until), and the page's
            (node, index, record bytes).
        """

    @abstractmethod
    def report_rows(self, since: str | None, until: str | None) -> AsyncIterator[list[ReportRow]]:
        """The entries made in [since, until), in chunks."""


class Store(ABC):
    """Where the trail lives. One writer per node; any number of snapshots."""

    #: Where the store is, for people: no password, no query string.
    description: str
    #: What tells this store from another (location and options, never a password),
    #: for the state its writers keep outside it.
    identity: str

    @abstractmethod
    async def open_writer(self, node: str) -> Head:
        """Connect (again) as the only writer of ``node``; create the schema if needed.

        Raises:
            NodeBusy: another process writes ``node``.
            StoreError: the store is unreachable.
        """

    @abstractmethod
    async def claim_meta(self, values: dict[str, str]) -> dict[str, str]:
        """Record each of ``values`` the store does not hold yet; return what it holds.

        The writer's way to record facts about the trail that every writer must agree
        on (the fingerprints of the shared keys) on first use.

        Raises:
            StoreError: the store cannot be written.
        """

    @abstractmethod
    async def commit(self, node: str, batch: Batch) -> None:
        """Add the batch in one durable transaction; all of it or none.

        After a StoreError the outcome may be unknown (a cut during COMMIT): the
        writer must call `open_writer` again, which reads back what is there.

        Raises:
            IndexTaken: an index of the batch is already stored (nothing was added).
            StoreError: the store failed; the outcome may be unknown.
        """

    @abstractmethod
    async def add_cosignature(self, node: str, seq: int, witness: str, line: str) -> None:
        """Keep a witness's cosignature of checkpoint ``seq`` (once; a repeat is ignored).

        Raises:
            StoreError: the store cannot be written.
        """

    @abstractmethod
    async def probe(self) -> None:
        """Raise StoreError unless the store can take a write now."""

    @abstractmethod
    def snapshot(self) -> AbstractAsyncContextManager[Snapshot]:
        """A consistent read-only view, for proofs, verification and reports.

        Raises:
            StoreError: the store is unreachable or holds no trail.
        """

    def writer_snapshot(self) -> AbstractAsyncContextManager[Snapshot]:
        """A consistent read-only view on the writer's own connection, where it has one.

        The writer's checks of its stored tree read through it, so that they never wait
        for (or hold) a connection that readers such as /readyz need while the store is
        failing. Without a writer connection of its own, a store gives `snapshot`.
        """
        return self.snapshot()

    @abstractmethod
    async def close_writer(self) -> None:
        """Give up the writer's connection and its claim on the node."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close every connection."""


def head_from(size: int, tiles: Sequence[tuple[int, bytes]], tail: list[bytes]) -> Head:
    """A Head, checking that the stored tiles cover the tree up to its tail.

    Raises:
        StoreError: a tile is missing (the store was tampered with); the writer must
            not extend a tree it cannot recompute.
    """
    complete = size // TILE_SIZE
    if len(tiles) < complete or any(index != i for i, (index, _) in enumerate(tiles[:complete])):
        raise StoreError("the store lacks tile hashes; run `hub audit verify`")
    return Head(
        size=size, tiles=[value for _, value in tiles[:complete]], tail=tail, checkpoint=None
    )


def open_store(url: SecretStr | str | None, *, data_dir: Path, timeout: float) -> Store:
    """The store a URL names.

    Args:
        url: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or
            ``postgresql://...``, as a secret (``audit.store``: a DSN may hold a
            password) or plain; None means SQLite at ``<data_dir>/audit.db``.
        data_dir: The hub's data directory.
        timeout: Seconds a write may wait for a lock or the network.

    Raises:
        ConfigError: the URL names no known kind of store.
    """
    if isinstance(url, SecretStr):
        url = url.get_secret_value()
    if url is None:
        from hub.audit._sqlite import SqliteStore

        return SqliteStore(data_dir / "audit.db", timeout=timeout)
    if url.startswith("sqlite:///"):
        from hub.audit._sqlite import SqliteStore

        path = url.removeprefix("sqlite:///")
        if not path or path == ":memory:":
            raise ConfigError(
                "audit.store: a SQLite trail needs a file path (sqlite:///var/audit.db)"
            )
        return SqliteStore(Path(path), timeout=timeout)
    if url.startswith(("postgresql://", "postgres://")):
        from hub.audit._postgres import PostgresStore

        return PostgresStore(url, timeout=timeout)
    raise ConfigError("audit.store: expected sqlite:///PATH or postgresql://... ")
