"""The audit trail: durable, group-committed appends to a node's Merkle tree.

Callers hand their entries to one writer task. The writer takes what is waiting (up to
``batch_max``), gives the entries consecutive indices, hashes them into the tree, and
hands the store one transaction holding them, the tiles they complete and any
checkpoint that falls due; when it commits, every caller of the batch is released.

Two batches may be in the store's hands at once, committed strictly one after the
other: while one commits (in SQLite's thread, or on the server), the callers released
by the one before append again and form the next. When the writer is idle it splits
what waits in two, so that the callers settle into two cohorts and the disk and the
event loop work at the same time rather than in turns.

Indices are given out only when a batch is planned, and a batch is committed whole or
not at all. When a commit fails (or its outcome is unknown, as when the connection is
cut during COMMIT), the store refuses the batch queued behind it, and the writer reads
its state back from the store before the next one: no index is skipped or used twice.

The store's administrator is not trusted. Every entry carries a MAC chained over the
one before it, under a key kept outside the store; before it writes (at start, and
after any failed commit) the writer proves the stored tree is the one it signed and
MACed (`hub.audit._resume`), and a commit that finds an index taken is a tamper alarm,
never a reason to read the store back and carry on. A writer that finds tampering
refuses to write: the hub fails closed.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import re
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub._config import AUDIT_COMMITS_IN_FLIGHT, AuditSettings
from hub._logging import get_logger
from hub._patterns import NODE_PATTERN
from hub.audit._checkpoint import origin_of, sign_note_checkpoint
from hub.audit._entry import (
    AuditEntry,
    audit_id,
    canonical_entry,
    parse_audit_id,
    record_bytes,
)
from hub.audit._keys import (
    EntryMac,
    Pseudonymiser,
    fingerprint,
    key_id,
    mac_key,
    pseudonym_key,
    require_configured_keys,
    signing_key,
    trusted_keys,
)
from hub.audit._proof import InclusionProof, NotCovered, build_proof
from hub.audit._receipt import ProofBundle, ReceiptSigner
from hub.audit._resume import Tampered, check_stored_tree
from hub.audit._state import SignedState, WriterState
from hub.audit._store import (
    Batch,
    IndexTaken,
    NodeBusy,
    Snapshot,
    Store,
    StoredCheckpoint,
    StoreError,
    open_store,
)
from hub.audit._tree import TileTree
from hub.audit._witnessing import Witnessing, WitnessLag
from hub.audit.merkle import leaf_hash
from hub.audit.note import NoteSignature, parse_note
from hub.errors import AuditUnavailable, ConfigError, InvalidQuery, NotFound

__all__ = ["MAX_SLOTS", "AuditTrail", "writer_names"]

log = get_logger("hub.audit")

_Pending = tuple[bytes, "asyncio.Future[str]"]


@dataclass(slots=True)
class _Signed:
    """The newest checkpoint the writer knows of."""

    seq: int
    size: int
    root: bytes | None
    signature: bytes | None
    #: What the next checkpoint names as its previous (`hub.audit._checkpoint.link`).
    link: bytes | None
    time: datetime | None
    #: When it was made, on the monotonic clock (for the T-seconds cadence).
    made: float


#: What the trail records of its shared keys, so that writers holding other keys
#: refuse to start rather than write pseudonyms or MACs nobody else can match.
_FINGERPRINTS = {"pseudonym_key": "pseudonym-key-fingerprint", "mac_key": "mac-key-fingerprint"}

#: Writer slots a node has at most when its name is not set: processes of one host
#: writing one trail at once (gunicorn workers, sidecar workers, scripts).
MAX_SLOTS = 256


def writer_names(settings: AuditSettings) -> list[str]:
    """The writers a process may be, in the order it tries them.

    A node named in ``[audit] node`` is one writer, as an operator who names it means
    (a second process naming it is refused). Otherwise the node is the host name, and a
    process takes the first free writer slot ``<node>.1``, ``<node>.2``...: each of a
    host's processes writes its own tree, held for the life of the process by a lock the
    operating system (or PostgreSQL) drops when it ends, and a restarted process takes a
    freed slot, so the trees number as many as the processes that ever ran at once.

    Raises:
        ConfigError: the host name leaves no room for a slot number in a node name.
    """
    if "node" in settings.model_fields_set:
        return [settings.node]
    names = [f"{settings.node}.{slot}" for slot in range(1, MAX_SLOTS + 1)]
    if re.fullmatch(NODE_PATTERN, names[-1]) is None:
        raise ConfigError(
            f"audit.node: the host name {settings.node!r} is not a node name with room for"
            f" a writer slot (.{MAX_SLOTS}); set [audit] node"
        )
    return names


class AuditTrail:
    """The tamper-evident audit trail of one hub node. Open it with `AuditTrail.open`.

    Args:
        store: Where the trail lives.
        node: This node's name.
        key: The Ed25519 key that signs checkpoints.
        pseudonymiser: The HMAC of subjects.
        mac: The MAC chain of entries.
        trusted: Other public keys whose checkpoints this node accepts (a rotation).
        state: Where the writer remembers the newest checkpoint it signed.
        settings: The ``[audit]`` settings (cadence, timeouts, batch size).
    """

    def __init__(
        self,
        store: Store,
        *,
        node: str,
        key: Ed25519PrivateKey,
        pseudonymiser: Pseudonymiser,
        mac: EntryMac,
        trusted: list[Ed25519PublicKey],
        state: WriterState,
        settings: AuditSettings,
    ) -> None:
        self._store = store
        self._node = node
        self._origin = origin_of(settings.origin_prefix, node)
        self._key = key
        self._key_id = key_id(key.public_key())
        self._receipts = ReceiptSigner(key)
        self._keys = {key_id(public): public for public in trusted}
        self._keys[self._key_id] = key.public_key()
        self._witnessing = (
            Witnessing(
                store,
                node=node,
                witnesses=settings.witnesses,
                quorum=settings.quorum,
                max_lag=settings.witness_max_lag,
            )
            if settings.witnesses
            else None
        )
        self._witness_names = frozenset(settings.witnesses)
        self._quorum = settings.quorum
        self._pseudonymise = pseudonymiser
        self._mac = mac
        self._state = state
        # The MAC of the newest planned entry, and its time: the next ones follow them.
        self._last_mac = b""
        self._last_time: datetime | None = None
        # Set when the store was found tampered with: the writer writes no more.
        self._tampered: Tampered | None = None
        # Checkpoints signed and not yet remembered, by sequence number.
        self._committed: dict[int, _Signed] = {}
        self._every = settings.checkpoint_every
        self._seconds = settings.checkpoint_seconds
        self._timeout = settings.append_timeout
        self._batch_max = settings.batch_max
        self._pending: deque[_Pending] = deque()
        # Callers' deadlines, oldest first, swept by one timer rather than one per call.
        self._deadlines: deque[tuple[float, asyncio.Future[str]]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        # Callers of `proof` waiting for a checkpoint to cover their entry.
        self._checkpoint_waiters: list[asyncio.Future[None]] = []
        self._sign_requested = False
        self._wake = asyncio.Event()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._in_flight: list[asyncio.Task[None]] = []
        # The tree and newest checkpoint as they will be once every batch handed to the
        # store is committed; None when they must be read back from the store.
        self._tree: TileTree | None = None
        self._signed = _Signed(
            seq=-1, size=0, root=None, signature=None, link=None, time=None, made=time.monotonic()
        )

    @classmethod
    async def open(cls, settings: AuditSettings, *, data_dir: Path) -> AuditTrail:
        """Open the trail the settings describe, ready to append.

        Args:
            settings: The ``[audit]`` settings.
            data_dir: The hub's data directory: the default SQLite store and the
                development keys live there.

        Raises:
            ConfigError: the store URL or a key is invalid, a shared store has no
                configured keys, or the keys differ from those the trail was started with.
            AuditUnavailable: the store cannot be reached, another process writes the
                node named in the settings, every writer slot of the host is taken, or
                the stored tree is not the one this node signed (tamper alarm).
        """
        store = open_store(settings.store, data_dir=data_dir, timeout=settings.append_timeout)
        return await cls._start(store, settings, data_dir=data_dir)

    @classmethod
    async def _start(cls, store: Store, settings: AuditSettings, *, data_dir: Path) -> AuditTrail:
        """Open a trail on ``store`` (closed again if the trail cannot start)."""
        try:
            if not store.identity.startswith("sqlite:"):
                require_configured_keys(settings)
            pseudonyms = pseudonym_key(settings, data_dir=data_dir)
            macs = mac_key(settings, data_dir=data_dir)
            key = signing_key(settings, data_dir=data_dir)
            trusted = trusted_keys(settings)
            for node in writer_names(settings):
                trail = cls(
                    store,
                    node=node,
                    key=key,
                    pseudonymiser=Pseudonymiser(pseudonyms),
                    mac=EntryMac(macs),
                    trusted=trusted,
                    state=WriterState(data_dir, node=node, store=store.identity),
                    settings=settings,
                )
                try:
                    await trail._resume()
                except NodeBusy:
                    if "node" in settings.model_fields_set:
                        raise
                    continue
                break
            else:
                raise StoreError(
                    f"all {MAX_SLOTS} writer slots of node {settings.node} are taken: at"
                    f" most {MAX_SLOTS} processes of a host write this trail at once"
                )
            await trail._claim_fingerprints({"pseudonym_key": pseudonyms, "mac_key": macs})
        except StoreError as exc:
            await store.aclose()
            raise AuditUnavailable(f"the audit trail cannot be opened: {exc}") from None
        except Tampered as exc:
            await store.aclose()
            raise AuditUnavailable(
                f"the audit trail of node {exc.node} was tampered with (first index at"
                f" fault: {exc.index}); this node will not write. Run `hub audit verify`"
            ) from None
        except BaseException:
            await store.aclose()
            raise
        trail._writer = asyncio.create_task(trail._run(), name=f"audit-writer-{trail.node}")
        return trail

    def __repr__(self) -> str:
        return f"AuditTrail(node={self._node!r}, store={self._store!r})"

    async def _claim_fingerprints(self, keys: dict[str, bytes]) -> None:
        """Record the shared keys' fingerprints on first use; refuse keys that differ."""
        mine = {_FINGERPRINTS[name]: fingerprint(key) for name, key in keys.items()}
        stored = await self._store.claim_meta(mine)
        differ = [
            name for name in keys if stored.get(_FINGERPRINTS[name]) != mine[_FINGERPRINTS[name]]
        ]
        if differ:
            names = " and ".join(f"audit.{name}" for name in differ)
            raise ConfigError(
                f"{names}: not the key this audit trail was started with; every node of a"
                " trail must use the same key (copy it from the first node, e.g. as a"
                " file: secret), or give this node a trail of its own"
            )

    @property
    def node(self) -> str:
        """This node's name: the first part of every audit id it hands out."""
        return self._node

    @property
    def store(self) -> Store:
        """The store the trail writes to."""
        return self._store

    def pseudonymise(self, identifier: str) -> str:
        """The pseudonym of a subject's identifier: HMAC-SHA256 (hex) under the trail's key.

        Args:
            identifier: A national id, enterprise code, licence number...; surrounding
                spaces are stripped.
        """
        return self._pseudonymise(identifier)

    def derived_key(self, label: bytes) -> bytes:
        """A key for another use of the hub, the same on every node of this trail.

        Derived from the MAC key with HKDF under ``label`` (see `EntryMac.derive`).
        """
        return self._mac.derive(label)

    async def append(self, entry: AuditEntry) -> str:
        """Add an entry; return its audit id once it is durable.

        Args:
            entry: The entry; its ``node`` must be this trail's.

        Raises:
            AuditUnavailable: the store did not take the entry within
                ``append_timeout`` (down, full, locked, cut off) or the trail is closed.
                The entry may still have been written when the outcome of a commit
                could not be known; it is never written twice.
            ValueError: the entry names another node.
        """
        if entry.node != self._node:
            raise ValueError(f"this trail writes node {self._node}, not {entry.node}")
        if self._closing:
            raise AuditUnavailable("the audit trail is closed")
        if self._tampered is not None:
            raise AuditUnavailable("the audit trail was tampered with; this node writes no more")
        # Entries are written in the order they arrive; a call that began before the one
        # appended last is written at that one's time, so times never go backwards.
        if self._last_time is not None and entry.time < self._last_time:
            entry = entry.model_copy(update={"time": self._last_time})
        self._last_time = entry.time
        canonical = canonical_entry(entry)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        self._pending.append((canonical, future))
        self._watch(loop, future)
        self._wake.set()
        return await future

    async def proof(self, audit_id: str) -> InclusionProof:
        """The inclusion proof of one entry against the newest signed checkpoint.

        An entry of this node that no checkpoint covers yet gets one made now.

        Args:
            audit_id: The id `append` returned.

        Raises:
            InvalidQuery: the text is not an audit id.
            NotFound: the trail holds no such entry.
            AuditUnavailable: the store cannot be read, or its tree does not match its
                checkpoint.
        """
        node, index = await self._signed_entry(audit_id)
        try:
            async with self._store.snapshot() as snapshot:
                return await build_proof(snapshot, node, index)
        except NotCovered:
            raise NotFound(f"no signed entry {audit_id} in the audit trail") from None
        except StoreError as exc:
            raise AuditUnavailable(f"cannot prove the entry: {exc}") from None

    async def _signed_entry(self, audit_id: str) -> tuple[str, int]:
        """The node and index an audit id names, once a checkpoint covers an entry of ours.

        Raises:
            InvalidQuery: the text is not an audit id.
            AuditUnavailable: no checkpoint could be signed in time.
        """
        try:
            node, index = parse_audit_id(audit_id)
        except ValueError as exc:
            raise InvalidQuery.for_field("audit_id", str(exc)) from None
        tree = self._tree
        if node == self._node and tree is not None and index < tree.size:
            # Wait for what is in flight; sign first if no checkpoint covers the entry.
            await self._checkpoint_now(sign=index >= self._signed.size)
        return node, index

    @property
    def receipts(self) -> ReceiptSigner:
        """Signs receipts of this node's calls with the trail's key."""
        return self._receipts

    def public_keys(self) -> list[Ed25519PublicKey]:
        """The keys a verifier trusts: this writer's, then ``[audit] trusted_keys``."""
        own = self._keys[self._key_id]
        return [own, *(key for kid, key in self._keys.items() if kid != self._key_id)]

    async def bundle(self, audit_id: str) -> ProofBundle:
        """The proof bundle of one entry: against the newest checkpoint a quorum of
        witnesses cosigned (without witnesses, the newest checkpoint).

        Args:
            audit_id: The id `append` returned.

        Raises:
            InvalidQuery: the text is not an audit id.
            NotFound: the trail holds no such entry, or no witnessed checkpoint covers it
                yet (the witnesses cosign within seconds: ask again).
            AuditUnavailable: the store cannot be read, or its tree does not match its
                checkpoint.
        """
        node, index = await self._signed_entry(audit_id)
        try:
            async with self._store.snapshot() as snapshot:
                stored, lines = await self._witnessed(snapshot, node)
                proof = await build_proof(snapshot, node, index, against=stored)
                rows = await snapshot.bodies(node, index, index + 1)
        except NotCovered:
            raise NotFound(
                f"no witnessed checkpoint covers entry {audit_id} (yet)"
                if self._witness_names
                else f"no signed entry {audit_id} in the audit trail"
            ) from None
        except StoreError as exc:
            raise AuditUnavailable(f"cannot prove the entry: {exc}") from None
        assert proof.checkpoint.note is not None
        note = parse_note(proof.checkpoint.note).with_signatures(
            NoteSignature.parse_line(line) for line in lines
        )
        return ProofBundle(
            audit_id=proof.audit_id,
            entry=base64.b64encode(rows[0][1]).decode(),
            index=index,
            tree_size=proof.tree_size,
            proof=proof.proof,
            checkpoint=str(note),
        )

    async def _witnessed(
        self, snapshot: Snapshot, node: str
    ) -> tuple[StoredCheckpoint | None, list[str]]:
        """The newest checkpoint of ``node`` a quorum cosigned, and its cosignatures.

        None (the newest checkpoint) without witnesses.

        Raises:
            NotCovered: no checkpoint is cosigned by a quorum yet.
        """
        if not self._witness_names:
            return None, []
        by_seq: dict[int, dict[str, str]] = {}
        for seq, witness, line in await snapshot.cosignatures(node):
            if witness in self._witness_names:
                by_seq.setdefault(seq, {})[witness] = line
        witnessed = [seq for seq, lines in by_seq.items() if len(lines) >= self._quorum]
        if not witnessed:
            raise NotCovered(f"no checkpoint of node {node} is witnessed yet")
        seq = max(witnessed)
        stored = next(item for item in await snapshot.checkpoints(node, seq) if item.seq == seq)
        return stored, [by_seq[seq][name] for name in sorted(by_seq[seq])]

    async def check(self) -> None:
        """Raise AuditUnavailable unless the store can take an entry now (for /readyz)."""
        if self._closing or self._writer is None or self._writer.done():
            raise AuditUnavailable("the audit trail is closed")
        if self._tampered is not None:
            raise AuditUnavailable("the audit trail was tampered with; this node writes no more")
        try:
            async with asyncio.timeout(self._timeout):
                await self._store.probe()
        except TimeoutError:
            raise AuditUnavailable("the audit store did not answer in time") from None
        except StoreError as exc:
            raise AuditUnavailable(f"the audit store is unavailable: {exc}") from None

    def witness_lag(self) -> list[WitnessLag]:
        """Per configured witness: the size it cosigned, this writer's, and the lag (s).

        For /readyz details and /metrics; empty without ``[audit.witnesses]``.
        """
        return self._witnessing.lag() if self._witnessing is not None else []

    def witnessed_size(self) -> int | None:
        """The size of the newest checkpoint a quorum of witnesses cosigned, if any."""
        return self._witnessing.witnessed_size() if self._witnessing is not None else None

    async def aclose(self) -> None:
        """Commit what is pending, sign a final checkpoint, and close the store."""
        if self._closing:
            return
        self._closing = True
        self._wake.set()
        if self._writer is not None:
            await self._writer
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._witnessing is not None:
            await self._witnessing.aclose()
        await self._store.aclose()

    # Callers' deadlines

    def _watch(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[str]) -> None:
        deadlines = self._deadlines
        while deadlines and deadlines[0][1].done():
            deadlines.popleft()
        deadlines.append((loop.time() + self._timeout, future))
        if self._sweeper is None:
            self._sweeper = loop.call_at(deadlines[0][0], self._sweep)

    def _sweep(self) -> None:
        """Fail the callers whose entry is not durable by their deadline."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadlines = self._deadlines
        while deadlines and (deadlines[0][1].done() or deadlines[0][0] <= now):
            _, future = deadlines.popleft()
            if not future.done():
                future.set_exception(
                    AuditUnavailable("the audit trail did not confirm the entry in time")
                )
        self._sweeper = loop.call_at(deadlines[0][0], self._sweep) if deadlines else None

    # The writer

    async def _checkpoint_now(self, *, sign: bool) -> None:
        """Wait until every batch handed to the store is committed, signed if ``sign``."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._checkpoint_waiters.append(waiter)
        self._sign_requested |= sign
        self._wake.set()
        try:
            async with asyncio.timeout(self._timeout):
                await waiter
        except TimeoutError:
            raise AuditUnavailable("the audit trail did not sign a checkpoint in time") from None

    async def _resume(self) -> None:
        """Read the tree back from the store and prove it (at start, and after a failed commit).

        Raises:
            Tampered: the stored tree is not the one this node signed and MACed.
            StoreError: the store cannot be read.
        """
        self._committed.clear()
        head = await self._store.open_writer(self._node)
        try:
            remembered = self._state.load()
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        resumed = await check_stored_tree(
            self._store,
            self._node,
            head,
            keys=self._keys,
            mac=self._mac,
            remembered=remembered,
        )
        newest, stored = resumed.newest, resumed.stored
        if newest is None or stored is None:
            self._signed = _Signed(
                seq=-1,
                size=0,
                root=None,
                signature=None,
                link=None,
                time=None,
                made=time.monotonic(),
            )
        else:
            # The cadence counts from now: the time of an old checkpoint says nothing of
            # when this process last signed.
            self._signed = _Signed(
                seq=stored.seq,
                size=newest.size,
                root=bytes.fromhex(newest.root),
                signature=stored.signature,
                link=hashlib.sha256(stored.body).digest(),
                time=newest.time,
                made=time.monotonic(),
            )
            if remembered is None or remembered.seq < stored.seq:
                self._remember(self._signed)
            if self._witnessing is not None:
                self._witnessing.submit(stored)
        self._last_mac = resumed.mac
        if resumed.time is not None:
            stored_time = datetime.fromisoformat(resumed.time)
            if self._last_time is None or stored_time > self._last_time:
                self._last_time = stored_time
        self._tree = resumed.tree

    def _remember(self, signed: _Signed) -> None:
        """Keep the newest signed checkpoint outside the store (see `hub.audit._state`)."""
        assert signed.root is not None
        assert signed.signature is not None
        self._state.save(
            SignedState(
                seq=signed.seq,
                size=signed.size,
                root=signed.root.hex(),
                signature=signed.signature.hex(),
            )
        )

    def _alarm(self, tampered: Tampered) -> None:
        """Stop writing for good, and say why where the operator looks."""
        self._tampered = tampered
        log.error(
            "audit tamper alarm: this node writes no more",
            node=tampered.node,
            index=tampered.index,
            reason=tampered.reason,
        )

    def _due(self, signed: _Signed, size: int) -> bool:
        """Whether a checkpoint of a tree of ``size`` falls due on the time cadence."""
        return size > signed.size and time.monotonic() - signed.made >= self._seconds

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            step = await self._step()
            if step is _Step.DONE:
                return
            if step is _Step.IDLE:
                await self._sleep()

    async def _sleep(self) -> None:
        """Wait for news (an entry, a commit done, a request, closing) or a due checkpoint."""
        timeout: float | None = None
        tree = self._tree
        if tree is not None and tree.size > self._signed.size:
            timeout = max(0.0, self._signed.made + self._seconds - time.monotonic())
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _step(self) -> _Step:
        """Hand the store the next batch if it can take one; say whether anything was done."""
        if self._tree is None:
            # A commit failed: let the batches behind it fail too, then read back.
            if self._in_flight:
                return _Step.IDLE
            if self._tampered is not None:
                self._fail(self._take(len(self._pending)), self._take_waiters(), self._tampered)
                return _Step.DONE if self._closing else _Step.IDLE
            try:
                async with asyncio.timeout(self._timeout):
                    await self._resume()
                log.info("audit trail resumed", node=self._node)
            except Tampered as exc:
                self._alarm(exc)
                self._fail(self._take(len(self._pending)), self._take_waiters(), exc)
                return _Step.DONE if self._closing else _Step.IDLE
            except (StoreError, TimeoutError) as exc:
                self._fail(self._take(len(self._pending)), self._take_waiters(), exc)
                return _Step.DONE if self._closing else _Step.IDLE
            return _Step.ACTED
        if len(self._in_flight) >= AUDIT_COMMITS_IN_FLIGHT:
            return _Step.IDLE
        final = self._closing and not self._pending
        if final and self._in_flight:
            return _Step.IDLE
        # Idle, take half of what waits: the callers of the two halves then alternate.
        limit = len(self._pending) if self._in_flight else (len(self._pending) + 1) // 2
        batch = self._take(min(limit, self._batch_max))
        waiters = self._take_waiters()
        sign = self._sign_requested or final or self._due(self._signed, self._tree.size)
        self._sign_requested = False
        if not batch and not waiters and not sign:
            return _Step.IDLE
        tree = self._tree.copy()
        signed = dataclasses.replace(self._signed)
        plan, ids, self._last_mac = self._plan(batch, tree, signed, sign=sign)
        self._tree, self._signed = tree, signed
        task = asyncio.create_task(self._commit(plan, batch, ids, waiters))
        self._in_flight.append(task)
        if final:
            await task
            return _Step.DONE
        return _Step.ACTED

    async def _commit(
        self,
        plan: Batch,
        batch: list[_Pending],
        ids: list[str],
        waiters: list[asyncio.Future[None]],
    ) -> None:
        """Commit one planned batch and release its callers (or fail them)."""
        try:
            async with asyncio.timeout(self._timeout):
                await self._store.commit(self._node, plan)
        except IndexTaken as exc:
            # Not a reason to read the store back: someone wrote where this writer writes.
            first = plan.entries[0][0] if plan.entries else self._signed.size
            self._alarm(Tampered(self._node, first, str(exc)))
            self._tree = None
            self._fail(batch, waiters, exc)
        except (StoreError, TimeoutError) as exc:
            self._tree = None
            self._fail(batch, waiters, exc)
        except Exception as exc:
            log.exception("audit writer failed", node=self._node)
            self._tree = None
            self._fail(batch, waiters, exc)
        else:
            for (_, future), value in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(value)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            if plan.checkpoints:
                await self._remember_committed(plan.checkpoints[-1])
                if self._witnessing is not None:
                    self._witnessing.submit(plan.checkpoints[-1])
        finally:
            task = asyncio.current_task()
            if task in self._in_flight:
                self._in_flight.remove(task)
            self._wake.set()

    async def _remember_committed(self, checkpoint: StoredCheckpoint) -> None:
        """Remember a committed checkpoint; a failure to is logged, the store holds it."""
        signed = self._committed.pop(checkpoint.seq, None)
        if signed is None:
            return
        try:
            await asyncio.to_thread(self._remember, signed)
        except OSError as exc:
            log.error(
                "cannot remember the newest checkpoint outside the store",
                node=self._node,
                error=exc.strerror,
            )

    def _take(self, count: int) -> list[_Pending]:
        """The next ``count`` waiting entries whose callers still wait, oldest first."""
        batch: list[_Pending] = []
        while self._pending and len(batch) < count:
            item = self._pending.popleft()
            if not item[1].done():
                batch.append(item)
        return batch

    def _take_waiters(self) -> list[asyncio.Future[None]]:
        waiters, self._checkpoint_waiters = self._checkpoint_waiters, []
        return waiters

    def _plan(
        self, batch: list[_Pending], tree: TileTree, signed: _Signed, *, sign: bool
    ) -> tuple[Batch, list[str], bytes]:
        """Extend ``tree`` and ``signed`` with the batch; what to commit, the new ids, and
        the MAC of its last entry."""
        plan = Batch()
        ids: list[str] = []
        node = self._node
        chain = self._last_mac
        mac = self._mac
        for canonical, _ in batch:
            index = tree.size
            body = record_bytes(canonical, index)
            leaf = leaf_hash(body)
            chain = mac(node, chain, leaf)
            ids.append(audit_id(node, index))
            plan.entries.append((index, leaf, body, tree.append(leaf), chain))
            if index + 1 - signed.size >= self._every:
                plan.checkpoints.append(self._sign(tree, signed))
        if tree.size > signed.size and sign:
            plan.checkpoints.append(self._sign(tree, signed))
        return plan, ids, chain

    def _sign(self, tree: TileTree, signed: _Signed) -> StoredCheckpoint:
        """Sign the tree as it stands, chained to ``signed``, which it then replaces."""
        now = datetime.now(UTC)
        # Checkpoint times never go backwards, even when the clock does.
        if signed.time is not None and now < signed.time:
            now = signed.time
        root = tree.root()
        checkpoint, body, signature = sign_note_checkpoint(
            self._key,
            origin=self._origin,
            node=self._node,
            size=tree.size,
            root=root,
            time=now,
            previous=signed.link,
        )
        signed.seq += 1
        signed.size = tree.size
        signed.root = root
        signed.signature = signature
        signed.link = hashlib.sha256(body).digest()
        signed.time = checkpoint.time
        signed.made = time.monotonic()
        self._committed[signed.seq] = dataclasses.replace(signed)
        return StoredCheckpoint(seq=signed.seq, body=body, signature=signature)

    def _fail(
        self, batch: list[_Pending], waiters: list[asyncio.Future[None]], exc: BaseException
    ) -> None:
        if isinstance(exc, StoreError | Tampered):
            reason = str(exc)
        elif isinstance(exc, TimeoutError):
            reason = "the store did not answer in time"
        else:
            reason = "an internal error (logged)"
        if batch or waiters:
            log.error("audit store failed", node=self._node, error=reason, entries=len(batch))
        # The caller learns that the trail failed; the operator, from the log, why.
        for _, future in batch:
            if not future.done():
                future.set_exception(AuditUnavailable("the audit trail did not take the entry"))
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(AuditUnavailable("the audit trail did not sign in time"))


class _Step(Enum):
    ACTED = "acted"
    IDLE = "idle"
    DONE = "done"
