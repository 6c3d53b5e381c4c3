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
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub._config import AuditSettings
from hub._logging import get_logger
from hub.audit._checkpoint import Checkpoint, sign_checkpoint
from hub.audit._entry import AuditEntry, audit_id, canonical_entry, parse_audit_id, record_bytes
from hub.audit._keys import Pseudonymiser, pseudonym_key, signing_key
from hub.audit._proof import InclusionProof, NotCovered, build_proof, parse_checkpoint
from hub.audit._store import (
    Batch,
    Head,
    Store,
    StoredCheckpoint,
    StoreError,
    open_store,
)
from hub.audit._tree import TileTree
from hub.audit.merkle import leaf_hash
from hub.errors import AuditUnavailable, InvalidQuery, NotFound

__all__ = ["AuditTrail"]

log = get_logger("hub.audit")

_Pending = tuple[bytes, "asyncio.Future[str]"]


@dataclass(slots=True)
class _Signed:
    """The newest checkpoint the writer knows of."""

    seq: int
    size: int
    signature: bytes | None
    time: datetime | None
    #: When it was made, on the monotonic clock (for the T-seconds cadence).
    made: float


#: Batches handed to the store and not yet committed, at most.
IN_FLIGHT = 2


class AuditTrail:
    """The tamper-evident audit trail of one hub node. Open it with `AuditTrail.open`.

    Args:
        store: Where the trail lives.
        node: This node's name.
        key: The Ed25519 key that signs checkpoints.
        pseudonymiser: The HMAC of subjects.
        settings: The ``[audit]`` settings (cadence, timeouts, batch size).
    """

    def __init__(
        self,
        store: Store,
        *,
        node: str,
        key: Ed25519PrivateKey,
        pseudonymiser: Pseudonymiser,
        settings: AuditSettings,
    ) -> None:
        self._store = store
        self._node = node
        self._key = key
        self._pseudonymise = pseudonymiser
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
        self._signed = _Signed(seq=-1, size=0, signature=None, time=None, made=time.monotonic())

    @classmethod
    async def open(cls, settings: AuditSettings, *, data_dir: Path) -> AuditTrail:
        """Open the trail the settings describe, ready to append.

        Args:
            settings: The ``[audit]`` settings.
            data_dir: The hub's data directory: the default SQLite store and the
                development keys live there.

        Raises:
            ConfigError: the store URL or a key is invalid.
            AuditUnavailable: the store cannot be reached, or another process
                writes this node.
        """
        store = open_store(settings.store, data_dir=data_dir, timeout=settings.append_timeout)
        return await cls._start(store, settings, data_dir=data_dir)

    @classmethod
    async def _start(cls, store: Store, settings: AuditSettings, *, data_dir: Path) -> AuditTrail:
        """Open a trail on ``store`` (closed again if the trail cannot start)."""
        try:
            trail = cls(
                store,
                node=settings.node,
                key=signing_key(settings, data_dir=data_dir),
                pseudonymiser=Pseudonymiser(pseudonym_key(settings, data_dir=data_dir)),
                settings=settings,
            )
            await trail._resume()
        except StoreError as exc:
            await store.aclose()
            raise AuditUnavailable(f"the audit trail cannot be opened: {exc}") from None
        except BaseException:
            await store.aclose()
            raise
        trail._writer = asyncio.create_task(trail._run(), name=f"audit-writer-{settings.node}")
        return trail

    def __repr__(self) -> str:
        return f"AuditTrail(node={self._node!r}, store={self._store!r})"

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
        try:
            node, index = parse_audit_id(audit_id)
        except ValueError as exc:
            raise InvalidQuery.for_field("audit_id", str(exc)) from None
        tree = self._tree
        if node == self._node and tree is not None and index < tree.size:
            # Wait for what is in flight; sign first if no checkpoint covers the entry.
            await self._checkpoint_now(sign=index >= self._signed.size)
        try:
            async with self._store.snapshot() as snapshot:
                return await build_proof(snapshot, node, index)
        except NotCovered:
            raise NotFound(f"no signed entry {audit_id} in the audit trail") from None
        except StoreError as exc:
            raise AuditUnavailable(f"cannot prove the entry: {exc}") from None

    async def check(self) -> None:
        """Raise AuditUnavailable unless the store can take an entry now (for /readyz)."""
        if self._closing or self._writer is None or self._writer.done():
            raise AuditUnavailable("the audit trail is closed")
        try:
            async with asyncio.timeout(self._timeout):
                await self._store.probe()
        except TimeoutError:
            raise AuditUnavailable("the audit store did not answer in time") from None
        except StoreError as exc:
            raise AuditUnavailable(f"the audit store is unavailable: {exc}") from None

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
        """Read the tree back from the store (at start, and after a failed commit)."""
        head: Head = await self._store.open_writer(self._node)
        tree = TileTree(head.tiles, head.tail)
        if head.checkpoint is None:
            self._signed = _Signed(seq=-1, size=0, signature=None, time=None, made=time.monotonic())
            self._tree = tree
            return
        try:
            newest: Checkpoint = parse_checkpoint(head.checkpoint)
        except ValueError:
            raise StoreError("the newest checkpoint is malformed; run `hub audit verify`") from None
        if newest.node != self._node or newest.size > head.size:
            raise StoreError(
                "the newest checkpoint does not match the entries; run `hub audit verify`"
            )
        # The cadence counts from now: the time of an old checkpoint says nothing of when
        # this process last signed.
        self._signed = _Signed(
            seq=head.checkpoint.seq,
            size=newest.size,
            signature=head.checkpoint.signature,
            time=newest.time,
            made=time.monotonic(),
        )
        self._tree = tree

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
            try:
                async with asyncio.timeout(self._timeout):
                    await self._resume()
                log.info("audit trail resumed", node=self._node)
            except (StoreError, TimeoutError) as exc:
                self._fail(self._take(len(self._pending)), self._take_waiters(), exc)
                return _Step.DONE if self._closing else _Step.IDLE
            return _Step.ACTED
        if len(self._in_flight) >= IN_FLIGHT:
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
        plan, ids = self._plan(batch, tree, signed, sign=sign)
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
        finally:
            task = asyncio.current_task()
            if task in self._in_flight:
                self._in_flight.remove(task)
            self._wake.set()

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
    ) -> tuple[Batch, list[str]]:
        """Extend ``tree`` and ``signed`` with the batch; what to commit, and the new ids."""
        plan = Batch()
        ids: list[str] = []
        node = self._node
        for canonical, _ in batch:
            index = tree.size
            body = record_bytes(canonical, index)
            leaf = leaf_hash(body)
            ids.append(audit_id(node, index))
            plan.entries.append((index, leaf, body, tree.append(leaf)))
            if index + 1 - signed.size >= self._every:
                plan.checkpoints.append(self._sign(tree, signed))
        if tree.size > signed.size and sign:
            plan.checkpoints.append(self._sign(tree, signed))
        return plan, ids

    def _sign(self, tree: TileTree, signed: _Signed) -> StoredCheckpoint:
        """Sign the tree as it stands, chained to ``signed``, which it then replaces."""
        now = datetime.now(UTC)
        # Checkpoint times never go backwards, even when the clock does.
        if signed.time is not None and now < signed.time:
            now = signed.time
        checkpoint = sign_checkpoint(
            self._key,
            node=self._node,
            size=tree.size,
            root=tree.root(),
            time=now,
            previous=signed.signature,
        )
        signature = bytes.fromhex(checkpoint.signature)
        signed.seq += 1
        signed.size = tree.size
        signed.signature = signature
        signed.time = checkpoint.time
        signed.made = time.monotonic()
        return StoredCheckpoint(seq=signed.seq, body=checkpoint.signed_bytes(), signature=signature)

    def _fail(
        self, batch: list[_Pending], waiters: list[asyncio.Future[None]], exc: BaseException
    ) -> None:
        if isinstance(exc, StoreError):
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
