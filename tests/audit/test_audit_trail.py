"""The trail on each store: group commit, checkpoints, proofs, failures and recovery."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from hub._config import AuditSettings
from hub.audit import AuditTrail, Checkpoint
from hub.audit._entry import canonical_entry, parse_audit_id, record_bytes
from hub.audit._keys import signing_key
from hub.audit._proof import parse_checkpoint
from hub.audit._store import Batch, Head, Snapshot, Store, StoreError, open_store
from hub.audit._verify import verify_trail
from hub.audit.merkle import leaf_hash, verify_inclusion
from hub.errors import AuditUnavailable, InvalidQuery, NotFound
from tests._helpers import audit_keys
from tests.audit.conftest import NATIONAL_ID, NODE, make_entry

Settings = Callable[..., AuditSettings]


async def checkpoints(
    settings: AuditSettings, data_dir: Path, node: str = NODE
) -> list[Checkpoint]:
    store = open_store(settings.store, data_dir=data_dir, timeout=5)
    try:
        async with store.snapshot() as snapshot:
            return [parse_checkpoint(row) for row in await snapshot.checkpoints(node)]
    finally:
        await store.aclose()


async def verify(settings: AuditSettings, data_dir: Path):  # type: ignore[no-untyped-def]
    key = signing_key(settings, data_dir=data_dir, create=False)
    store = open_store(settings.store, data_dir=data_dir, timeout=5)
    try:
        return await verify_trail(store, [key.public_key()])
    finally:
        await store.aclose()


async def test_concurrent_appends_make_one_consistent_tree(
    make_settings: Settings, data_dir: Path
) -> None:
    """1,000 concurrent appends get 1,000 distinct, consecutive ids; the tree verifies."""
    settings = make_settings(checkpoint_every=300)
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    ids = await asyncio.gather(*(trail.append(make_entry()) for _ in range(1000)))
    await trail.aclose()
    assert sorted(parse_audit_id(value)[1] for value in ids) == list(range(1000))
    report = await verify(settings, data_dir)
    assert report.ok, report.problems
    assert report.entries == 1000
    assert [c.size for c in await checkpoints(settings, data_dir)] == [300, 600, 900, 1000]


async def test_append_is_durable_on_return(
    trail: AuditTrail, make_settings: Settings, data_dir: Path
) -> None:
    """Once append returns, another connection reads the entry under its id."""
    entry = make_entry()
    value = await trail.append(entry)
    node, index = parse_audit_id(value)
    store = open_store(make_settings().store, data_dir=data_dir, timeout=5)
    try:
        async with store.snapshot() as snapshot:
            rows = await snapshot.bodies(node, index, index + 1)
    finally:
        await store.aclose()
    assert rows == [(index, record_bytes(canonical_entry(entry), index))]


async def test_checkpoint_every_n_entries(make_settings: Settings, data_dir: Path) -> None:
    """With N = 10, checkpoints sign sizes 10 and 20; closing signs the rest."""
    settings = make_settings(checkpoint_every=10)
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    await asyncio.gather(*(trail.append(make_entry()) for _ in range(13)))
    for _ in range(12):
        await trail.append(make_entry())
    assert [c.size for c in await checkpoints(settings, data_dir)] == [10, 20]
    await trail.aclose()
    assert [c.size for c in await checkpoints(settings, data_dir)] == [10, 20, 25]


async def test_checkpoint_after_t_seconds(make_settings: Settings, data_dir: Path) -> None:
    """With T small and N large, a lone entry is signed without further appends."""
    settings = make_settings(checkpoint_every=10_000, checkpoint_seconds=0.05)
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    try:
        await trail.append(make_entry())
        for _ in range(400):
            if await checkpoints(settings, data_dir):
                break
            await asyncio.sleep(0.05)
        assert [c.size for c in await checkpoints(settings, data_dir)] == [1]
    finally:
        await trail.aclose()


async def test_checkpoints_form_a_signed_chain(make_settings: Settings, data_dir: Path) -> None:
    """Each checkpoint is a signed note naming the SHA-256 of the one stored before it."""
    settings = make_settings(checkpoint_every=4)
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    for _ in range(10):
        await trail.append(make_entry())
    await trail.aclose()
    # Reopened, the chain goes on from the newest checkpoint.
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    for _ in range(5):
        await trail.append(make_entry())
    await trail.aclose()
    chain = await checkpoints(settings, data_dir)
    public = signing_key(settings, data_dir=data_dir, create=False).public_key()
    assert [c.size for c in chain] == [4, 8, 10, 14, 15]
    assert chain[0].previous is None
    for before, after in itertools.pairwise(chain):
        assert before.note is not None
        assert after.previous == hashlib.sha256(before.note.encode()).hexdigest()
        assert after.time >= before.time
    assert all(c.verify(public) for c in chain)
    assert all(c.node == NODE for c in chain)


async def test_inclusion_proof_verifies_against_the_checkpoint(
    trail: AuditTrail, make_settings: Settings, data_dir: Path
) -> None:
    """A proof of any entry leads from its record's hash to the signed root."""
    entries = [make_entry(dossier=f"D{i}") for i in range(600)]
    ids = await asyncio.gather(*(trail.append(entry) for entry in entries))
    public = signing_key(make_settings(), data_dir=data_dir, create=False).public_key()
    for position in (0, 1, 255, 256, 300, 511, 512, 599):
        proof = await trail.proof(ids[position])
        index = parse_audit_id(ids[position])[1]
        assert proof.audit_id == ids[position]
        assert proof.index == index
        assert proof.tree_size == proof.checkpoint.size == 600
        assert proof.root == proof.checkpoint.root
        assert proof.checkpoint.verify(public)
        expected = leaf_hash(record_bytes(canonical_entry(entries[position]), index))
        assert proof.leaf_hash == expected.hex()
        assert verify_inclusion(
            expected,
            proof.index,
            proof.tree_size,
            [bytes.fromhex(item) for item in proof.proof],
            bytes.fromhex(proof.checkpoint.root),
        )
        assert proof.verify()


async def test_proof_of_unknown_or_malformed_id(trail: AuditTrail) -> None:
    """An id the trail never gave is NotFound; text that is no id is InvalidQuery."""
    await trail.append(make_entry())
    with pytest.raises(NotFound):
        await trail.proof(f"{NODE}~5")
    with pytest.raises(NotFound):
        await trail.proof("other-node~0")
    with pytest.raises(InvalidQuery):
        await trail.proof("not an id")


async def test_entry_of_another_node_is_refused(trail: AuditTrail) -> None:
    """A trail writes only its own node's entries."""
    with pytest.raises(ValueError, match="node"):
        await trail.append(make_entry(node="elsewhere"))


async def test_reopened_trail_continues_the_tree(make_settings: Settings, data_dir: Path) -> None:
    """After closing and opening again, ids go on where they stopped; the tree verifies."""
    settings = make_settings(checkpoint_every=7)
    for round_ in range(3):
        trail = await AuditTrail.open(settings, data_dir=data_dir)
        ids = [await trail.append(make_entry()) for _ in range(300)]
        await trail.aclose()
        assert parse_audit_id(ids[0])[1] == 300 * round_
    report = await verify(settings, data_dir)
    assert report.ok, report.problems
    assert report.entries == 900
    assert report.nodes[0].unsigned == 0


async def test_nodes_share_a_store_with_a_tree_each(
    make_settings: Settings, data_dir: Path
) -> None:
    """Two nodes in one store keep separate trees, and both verify."""
    first = await AuditTrail.open(make_settings(node="hue-1"), data_dir=data_dir)
    second = await AuditTrail.open(make_settings(node="hue-2"), data_dir=data_dir)
    try:
        a = await asyncio.gather(*(first.append(make_entry(node="hue-1")) for _ in range(20)))
        b = await asyncio.gather(*(second.append(make_entry(node="hue-2")) for _ in range(30)))
    finally:
        await first.aclose()
        await second.aclose()
    assert a[0] == "hue-1~0"
    assert b[0] == "hue-2~0"
    report = await verify(make_settings(), data_dir)
    assert report.ok, report.problems
    assert {node.node: node.entries for node in report.nodes} == {"hue-1": 20, "hue-2": 30}


async def test_one_writer_per_node(
    trail: AuditTrail, make_settings: Settings, data_dir: Path
) -> None:
    """A second process (or trail) writing the same node is refused at open."""
    with pytest.raises(AuditUnavailable, match="another process"):
        await AuditTrail.open(make_settings(), data_dir=data_dir)


async def test_pseudonym_is_stored_never_the_identifier(
    make_settings: Settings, data_dir: Path, store_url: str
) -> None:
    """The identifier appears nowhere in the store; its pseudonym does."""
    settings = make_settings()
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    pseudonym = trail.pseudonymise(f"  {NATIONAL_ID} ")
    assert pseudonym == trail.pseudonymise(NATIONAL_ID)
    await trail.append(make_entry(subject=pseudonym))
    await trail.aclose()
    if store_url.startswith("sqlite"):
        stored = b"".join(path.read_bytes() for path in Path(store_url[10:]).parent.iterdir())
    else:
        with psycopg.connect(store_url) as conn:
            rows = conn.execute("SELECT body, subject FROM audit_entries").fetchall()
        stored = repr(rows).encode()
    assert NATIONAL_ID.encode() not in stored
    assert pseudonym.encode() in stored


async def test_store_refuses_update_and_delete(
    trail: AuditTrail, make_settings: Settings, store_url: str
) -> None:
    """The append-only triggers refuse UPDATE and DELETE on entries and checkpoints."""
    await trail.append(make_entry())
    await trail.proof(f"{NODE}~0")
    statements = [
        "UPDATE audit_entries SET body = body",
        "DELETE FROM audit_entries",
        "UPDATE audit_checkpoints SET body = body",
        "DELETE FROM audit_checkpoints",
    ]
    for statement in statements:
        if store_url.startswith("sqlite"):
            conn = sqlite3.connect(store_url[10:])
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
            conn.close()
        else:
            with (
                psycopg.connect(store_url) as pg,
                pytest.raises(psycopg.Error, match="append-only"),
            ):
                pg.execute(statement)


async def test_check_passes_on_a_working_store(trail: AuditTrail) -> None:
    """check() returns quietly while the store can take entries."""
    await trail.check()


async def test_close_commits_what_is_pending(make_settings: Settings, data_dir: Path) -> None:
    """Appends in flight when the trail closes are committed; later ones are refused."""
    settings = make_settings()
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    pending = [asyncio.create_task(trail.append(make_entry())) for _ in range(50)]
    await asyncio.sleep(0)
    await trail.aclose()
    assert len({await task for task in pending}) == 50
    with pytest.raises(AuditUnavailable, match="closed"):
        await trail.append(make_entry())
    assert [c.size for c in await checkpoints(settings, data_dir)] == [50]


# Failures


class FlakyStore(Store):
    """A store that fails on demand, before or after really committing a batch.

    Like a real store, after a failure it refuses every commit until open_writer.
    """

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.description = inner.description
        self.identity = inner.identity
        self.fail: str | None = None
        self.hang = False
        self.broken = False

    async def open_writer(self, node: str) -> Head:
        self.broken = False
        return await self.inner.open_writer(node)

    async def commit(self, node: str, batch: Batch) -> None:
        if self.broken:
            raise StoreError("test: an earlier commit failed")
        failure, self.fail = self.fail, None
        if failure is not None or self.hang:
            self.broken = True
        if self.hang:
            await asyncio.sleep(3600)
        if failure == "before":
            raise StoreError("test: the commit failed")
        await self.inner.commit(node, batch)
        if failure == "after":
            raise StoreError("test: the connection was cut during COMMIT")

    async def claim_meta(self, values: dict[str, str]) -> dict[str, str]:
        return await self.inner.claim_meta(values)

    async def add_cosignature(self, node: str, seq: int, witness: str, line: str) -> None:
        await self.inner.add_cosignature(node, seq, witness, line)

    async def probe(self) -> None:
        await self.inner.probe()

    def snapshot(self) -> AbstractAsyncContextManager[Snapshot]:
        return self.inner.snapshot()

    async def close_writer(self) -> None:
        await self.inner.close_writer()

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def flaky_trail(
    settings: AuditSettings, data_dir: Path
) -> AsyncIterator[tuple[AuditTrail, FlakyStore]]:
    store = FlakyStore(
        open_store(settings.store, data_dir=data_dir, timeout=settings.append_timeout)
    )
    trail = await AuditTrail._start(store, settings, data_dir=data_dir)
    try:
        yield trail, store
    finally:
        await trail.aclose()


async def test_failed_commit_uses_no_index(make_settings: Settings, data_dir: Path) -> None:
    """A batch that fails is AuditUnavailable; the next entry takes the index it had."""
    settings = make_settings()
    async with flaky_trail(settings, data_dir) as (trail, store):
        assert await trail.append(make_entry()) == f"{NODE}~0"
        store.fail = "before"
        with pytest.raises(AuditUnavailable, match="did not take the entry"):
            await trail.append(make_entry())
        assert await trail.append(make_entry()) == f"{NODE}~1"
    report = await verify(settings, data_dir)
    assert report.ok, report.problems
    assert report.entries == 2


async def test_commit_of_unknown_outcome_skips_and_reuses_nothing(
    make_settings: Settings, data_dir: Path
) -> None:
    """Cut during COMMIT (written, yet reported failed): the trail reads its state back."""
    settings = make_settings()
    async with flaky_trail(settings, data_dir) as (trail, store):
        await trail.append(make_entry())
        store.fail = "after"
        with pytest.raises(AuditUnavailable, match="did not take the entry"):
            await trail.append(make_entry())
        # The failed entry was written as ~1, so the next one is ~2: no index used twice.
        assert await trail.append(make_entry()) == f"{NODE}~2"
    report = await verify(settings, data_dir)
    assert report.ok, report.problems
    assert report.entries == 3


async def test_failure_amid_concurrent_appends(make_settings: Settings, data_dir: Path) -> None:
    """A commit fails with another queued behind it: both fail; no index is reused."""
    settings = make_settings()
    async with flaky_trail(settings, data_dir) as (trail, store):
        first = await asyncio.gather(*(trail.append(make_entry()) for _ in range(50)))
        store.fail = "after"
        burst = await asyncio.gather(
            *(trail.append(make_entry()) for _ in range(200)), return_exceptions=True
        )
        after = await asyncio.gather(*(trail.append(make_entry()) for _ in range(50)))
    failed = [result for result in burst if isinstance(result, AuditUnavailable)]
    acknowledged = [*first, *(r for r in burst if isinstance(r, str)), *after]
    assert failed
    assert len(failed) + len(acknowledged) == 300
    report = await verify(settings, data_dir)
    assert report.ok, report.problems
    indices = [parse_audit_id(value)[1] for value in acknowledged]
    assert len(set(indices)) == len(indices)
    assert max(indices) < report.entries


async def test_append_timeout(make_settings: Settings, data_dir: Path) -> None:
    """A store that does not answer within append_timeout gives AuditUnavailable."""
    settings = make_settings(append_timeout=0.3)
    async with flaky_trail(settings, data_dir) as (trail, store):
        store.hang = True
        with pytest.raises(AuditUnavailable):
            await trail.append(make_entry())
        store.hang = False
        # Recovery (reading the tree back) races the short deadline on a busy machine.
        for _ in range(50):
            try:
                value = await trail.append(make_entry())
                break
            except AuditUnavailable:
                continue
    report = await verify(settings, data_dir)
    assert report.ok, report.problems
    # The entry that hung never took an index: the one acknowledged is the last.
    assert parse_audit_id(value)[1] == report.entries - 1


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> AuditSettings:
    return AuditSettings(
        store=f"sqlite:///{tmp_path / 'audit.db'}",
        node=NODE,
        append_timeout=0.3,
        checkpoint_seconds=3600,
    )


async def test_sqlite_lock_timeout_then_recovery(
    sqlite_settings: AuditSettings, data_dir: Path
) -> None:
    """While another connection holds the write lock, appends fail; after, they succeed."""
    trail = await AuditTrail.open(sqlite_settings, data_dir=data_dir)
    try:
        await trail.append(make_entry())
        store = sqlite_settings.store.get_secret_value()  # type: ignore[union-attr]
        blocker = sqlite3.connect(store[10:], isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(AuditUnavailable):
            await trail.append(make_entry())
        with pytest.raises(AuditUnavailable):
            await trail.check()
        blocker.execute("ROLLBACK")
        blocker.close()
        # Recovery races the short deadline on a busy machine: a few tries.
        for _ in range(50):
            try:
                value = await trail.append(make_entry())
                break
            except AuditUnavailable:
                continue
        await trail.check()
    finally:
        await trail.aclose()
    report = await verify(sqlite_settings, data_dir)
    assert report.ok, report.problems
    # The entry refused while locked took no index: the one acknowledged is the last.
    assert parse_audit_id(value)[1] == report.entries - 1


async def test_unreachable_store_at_open(tmp_path: Path, data_dir: Path) -> None:
    """A store that cannot be reached at open is AuditUnavailable, promptly."""
    settings = AuditSettings(
        store="postgresql://postgres@127.0.0.1:9/nothing",
        node=NODE,
        append_timeout=1,
        **audit_keys(data_dir),
    )
    with pytest.raises(AuditUnavailable, match="cannot be opened"):
        await AuditTrail.open(settings, data_dir=data_dir)


class Proxy:
    """A TCP relay to the database that the test can cut and restore."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.refusing = False
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def cut(self) -> None:
        """Reset every open connection and refuse new ones."""
        self.refusing = True
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def restore(self) -> None:
        self.refusing = False

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.mark.postgres
async def test_postgres_cut_then_recovery(postgres_schema: str, data_dir: Path) -> None:
    """Connections cut: appends fail with AuditUnavailable; restored, they succeed."""
    from tests.audit.conftest import postgres_dsn, with_search_path

    parts = psycopg.conninfo.conninfo_to_dict(postgres_dsn())
    proxy = Proxy(str(parts.get("host", "127.0.0.1")), int(parts.get("port", 5432)))
    await proxy.start()
    credentials = quote(str(parts.get("user", "postgres")), safe="")
    if parts.get("password"):
        credentials += ":" + quote(str(parts["password"]), safe="")
    relayed = f"postgresql://{credentials}@127.0.0.1:{proxy.port}/{parts.get('dbname', 'test')}"
    settings = AuditSettings(
        store=with_search_path(relayed, postgres_schema),
        node=NODE,
        append_timeout=2,
        checkpoint_seconds=3600,
        **audit_keys(data_dir),
    )
    trail = await AuditTrail.open(settings, data_dir=data_dir)
    try:
        assert await trail.append(make_entry()) == f"{NODE}~0"
        proxy.cut()
        with pytest.raises(AuditUnavailable):
            await trail.append(make_entry())
        with pytest.raises(AuditUnavailable):
            await trail.check()
        proxy.restore()
        async with asyncio.timeout(30):
            while True:
                try:
                    value = await trail.append(make_entry())
                    break
                except AuditUnavailable:
                    await asyncio.sleep(0.2)
        assert value == f"{NODE}~1"
        await trail.check()
    finally:
        await trail.aclose()
        await proxy.stop()
    direct = settings.model_copy(
        update={"store": with_search_path(postgres_dsn(), postgres_schema)}
    )
    report = await verify(direct, data_dir)
    assert report.ok, report.problems
    assert report.entries == 2


async def test_sqlite_is_wal_and_durable_at_commit(tmp_path: Path) -> None:
    """The SQLite store runs in WAL mode and syncs at every commit (synchronous=FULL)."""
    from hub.audit._sqlite import SqliteStore

    store = SqliteStore(tmp_path / "audit.db", timeout=5)
    try:
        await store.open_writer(NODE)
        assert store._conn is not None
        assert store._conn.execute("PRAGMA synchronous").fetchone() == (2,)
    finally:
        await store.aclose()
    other = sqlite3.connect(tmp_path / "audit.db")
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    other.close()
