"""The writer's witnesses: each new checkpoint submitted, cosignatures kept, lag watched.

A writer submits its newest checkpoint to every configured witness (c2sp.org/tlog-
witness) with the consistency proof from the size that witness last cosigned, in a
task of its own per witness: a look-up never waits on a witness. Failures are retried
with exponential backoff; a witness that learns a newer checkpoint skips the ones it
missed. A cosignature that verifies under the witness's key is stored with its
checkpoint (``audit_cosignatures``).

A witness that refuses the history (422, or a 409 naming a size larger than the
writer's) has cosigned a tree this store no longer holds: that is a tamper alarm. A
checkpoint not cosigned within ``witness_max_lag`` raises an alarm too.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from hub._config import FINAL_COSIGN_SECONDS, WitnessSettings
from hub._logging import get_logger
from hub.audit._checkpoint import checkpoint_from_row
from hub.audit._store import TILE_SIZE, Snapshot, Store, StoredCheckpoint, StoreError
from hub.audit.merkle import consistency_ranges, leaf_hash, root
from hub.audit.note import NoteError, NoteSignature, Verifier, parse_note

__all__ = ["WitnessLag", "Witnessing", "store_consistency_proof"]

log = get_logger("hub.audit")

#: Backoff between attempts, seconds: doubled from the first up to the last.
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 60.0
#: The longest one submission may take.
REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class WitnessLag:
    """Where one witness stands with this writer."""

    witness: str
    #: The size of the newest checkpoint it cosigned (None: none yet, in this process).
    cosigned_size: int | None
    #: The size of the writer's newest checkpoint.
    signed_size: int
    #: Seconds the oldest checkpoint it has not cosigned has waited (0 when up to date).
    lag: float


async def store_consistency_proof(snapshot: Snapshot, node: str, old: int, new: int) -> list[bytes]:
    """The consistency proof from ``old`` to ``new`` entries, from tiles and few leaves.

    A subtree of 256 leaves or more starts on a tile boundary and is hashed from the
    stored tile hashes (and the leaves after the last whole tile); a smaller one from its
    leaves.

    Raises:
        StoreError: entries or tiles are missing.
    """
    ranges = consistency_ranges(old, new)
    if not ranges:
        return []
    tiles = [value for _, value in await snapshot.tiles(node, new // TILE_SIZE)]
    proof: list[bytes] = []
    for start, end in ranges:
        if start % TILE_SIZE == 0 and end - start >= TILE_SIZE:
            whole = end // TILE_SIZE
            if len(tiles) < whole:
                raise StoreError("the store lacks tile hashes; run `hub audit verify`")
            items = tiles[start // TILE_SIZE : whole]
            if end > whole * TILE_SIZE:
                items.append(root(await _leaves(snapshot, node, whole * TILE_SIZE, end)))
            proof.append(root(items))
        else:
            proof.append(root(await _leaves(snapshot, node, start, end)))
    return proof


async def _leaves(snapshot: Snapshot, node: str, start: int, end: int) -> list[bytes]:
    rows = await snapshot.bodies(node, start, end)
    if [index for index, _ in rows] != list(range(start, end)):
        raise StoreError("entries are missing from the store; run `hub audit verify`")
    return [leaf_hash(body) for _, body in rows]


class _Witness:
    """One witness as this writer sees it."""

    def __init__(self, name: str, settings: WitnessSettings) -> None:
        self.name = name
        self.url = settings.url.rstrip("/") + "/add-checkpoint"
        self.verifier = Verifier.from_vkey(settings.public_key)
        self.size: int | None = None
        #: The size it is known to hold (start from 0: a 409 says the truth).
        self.held = 0
        #: When the oldest checkpoint it has not cosigned was signed (monotonic), if any.
        self.waiting_since: float | None = None
        self.alarmed: tuple[str, int] | None = None
        self.wake = asyncio.Event()
        #: The size of the newest checkpoint it was last sent, whatever came of it.
        self.tried: int | None = None


class Witnessing:
    """The witnesses of one writer.

    Args:
        store: The trail's store (read in snapshots, cosignatures added).
        node: The writer's node.
        witnesses: ``[audit.witnesses]``.
        quorum: The cosignatures that make a checkpoint witnessed.
        max_lag: Seconds before an unwitnessed checkpoint raises an alarm.
    """

    def __init__(
        self,
        store: Store,
        *,
        node: str,
        witnesses: Mapping[str, WitnessSettings],
        quorum: int,
        max_lag: float,
    ) -> None:
        self._store = store
        self._node = node
        self._witnesses = [_Witness(name, item) for name, item in sorted(witnesses.items())]
        self._quorum = quorum
        self._max_lag = max_lag
        self._newest: StoredCheckpoint | None = None
        self._size = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        # Set after every submission, for aclose to wait on.
        self._submitted = asyncio.Event()

    def submit(self, stored: StoredCheckpoint) -> None:
        """Have the witnesses cosign ``stored``, in the background.

        A JSON checkpoint (made before notes) is no checkpoint a witness reads: skipped.
        """
        if not self._witnesses or (self._newest is not None and stored.seq <= self._newest.seq):
            return
        checkpoint = checkpoint_from_row(stored.body, stored.signature)
        if checkpoint.note is None:
            return
        size = checkpoint.size
        self._newest, self._size = stored, size
        now = time.monotonic()
        for witness in self._witnesses:
            if witness.waiting_since is None and witness.size != size:
                witness.waiting_since = now
            witness.wake.set()
        if not self._tasks:
            self._client = httpx.AsyncClient(timeout=REQUEST_TIMEOUT)
            self._tasks = [
                asyncio.create_task(self._follow(witness), name=f"audit-witness-{witness.name}")
                for witness in self._witnesses
            ]

    def lag(self) -> list[WitnessLag]:
        """Per witness: the size it cosigned, the writer's, and how long it has lagged."""
        now = time.monotonic()
        return [
            WitnessLag(
                witness=witness.name,
                cosigned_size=witness.size,
                signed_size=self._size,
                lag=0.0 if witness.waiting_since is None else now - witness.waiting_since,
            )
            for witness in self._witnesses
        ]

    def witnessed_size(self) -> int | None:
        """The size of the newest checkpoint a quorum has cosigned (in this process)."""
        sizes = sorted((w.size for w in self._witnesses if w.size is not None), reverse=True)
        if not self._witnesses or len(sizes) < self._quorum:
            return None
        return sizes[self._quorum - 1]

    async def aclose(self) -> None:
        """Stop submitting, once the newest checkpoint is settled.

        The newest is the final checkpoint of a closing trail, which would otherwise
        wait for the next start to be witnessed. Settled: a quorum cosigned it, or too
        many witnesses refused it or could not be reached for a quorum to be possible;
        a witness that does not answer is waited for `FINAL_COSIGN_SECONDS` at the most.
        """
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FINAL_COSIGN_SECONDS):
                    while not self._newest_settled():
                        self._submitted.clear()
                        await self._submitted.wait()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()

    def _newest_settled(self) -> bool:
        cosigned = sum(witness.size == self._size for witness in self._witnesses)
        untried = sum(witness.tried != self._size for witness in self._witnesses)
        return cosigned >= self._quorum or cosigned + untried < self._quorum

    async def _follow(self, witness: _Witness) -> None:
        backoff = BACKOFF_FIRST
        while True:
            newest = self._newest
            if newest is None or witness.size == self._size:
                self._check_lag(witness)
                witness.wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(self._max_lag, 30.0)):
                        await witness.wake.wait()
                continue
            size = self._size
            try:
                done = await self._submit(witness, newest, size)
            except (httpx.HTTPError, StoreError, OSError) as exc:
                log.warning(
                    "audit witness unreachable",
                    node=self._node,
                    witness=witness.name,
                    error=type(exc).__name__,
                )
                done = False
            except Exception:
                # A witness's bad answer must not end the task that keeps the others going.
                log.exception(
                    "audit witness submission failed", node=self._node, witness=witness.name
                )
                done = False
            witness.tried = size
            self._submitted.set()
            self._check_lag(witness)
            if done:
                backoff = BACKOFF_FIRST
                continue
            witness.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    # A newer checkpoint is worth an attempt at once.
                    while self._newest is newest:
                        await witness.wake.wait()
                        witness.wake.clear()
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _submit(self, witness: _Witness, stored: StoredCheckpoint, size: int) -> bool:
        """One attempt; whether it settled (cosigned, or learned the size held)."""
        if witness.held > size:
            self._tamper(witness, size, f"the witness cosigned {witness.held} entries")
            return False
        async with self._store.snapshot() as snapshot:
            proof = await store_consistency_proof(snapshot, self._node, witness.held, size)
        body = f"old {witness.held}\n" + "".join(
            base64.b64encode(item).decode() + "\n" for item in proof
        )
        assert self._client is not None
        answer = await self._client.post(witness.url, content=(body + "\n").encode() + stored.body)
        if answer.status_code == 409 and answer.text.strip().isdigit():
            witness.held = int(answer.text.strip())
            if witness.held > size:
                self._tamper(witness, size, f"the witness cosigned {witness.held} entries")
                return False
            return True
        if answer.status_code == 422:
            self._tamper(witness, size, answer.text.strip()[:200])
            return False
        if answer.status_code != 200:
            log.error(
                "audit witness refused the checkpoint",
                node=self._node,
                witness=witness.name,
                status=answer.status_code,
                size=size,
            )
            return False
        return await self._keep(witness, stored, size, answer.text)

    async def _keep(
        self, witness: _Witness, stored: StoredCheckpoint, size: int, text: str
    ) -> bool:
        """Store the witness's cosignature, once it verifies over the checkpoint."""
        note = parse_note(stored.body)
        for line in text.splitlines():
            try:
                signature = NoteSignature.parse_line(line)
            except NoteError:
                continue
            if witness.verifier.matches(signature) and witness.verifier.verify(
                note.text, signature
            ):
                await self._store.add_cosignature(
                    self._node, stored.seq, witness.name, signature.line
                )
                witness.held = witness.size = size
                witness.alarmed = None
                if self._size == size:
                    witness.waiting_since = None
                log.info(
                    "audit checkpoint cosigned", node=self._node, witness=witness.name, size=size
                )
                return True
        log.error(
            "audit witness answered without a valid cosignature",
            node=self._node,
            witness=witness.name,
            size=size,
        )
        return False

    def _tamper(self, witness: _Witness, size: int, reason: str) -> None:
        """The witness holds a history this store does not: say so, once per size."""
        if witness.alarmed == ("tamper", size):
            return
        witness.alarmed = ("tamper", size)
        log.error(
            "audit tamper alarm: a witness refused this trail's history",
            node=self._node,
            witness=witness.name,
            witnessed_size=witness.held,
            size=size,
            reason=reason,
        )

    def _check_lag(self, witness: _Witness) -> None:
        since = witness.waiting_since
        if since is None or time.monotonic() - since < self._max_lag:
            return
        if witness.alarmed is not None:
            return
        witness.alarmed = ("lag", self._size)
        log.error(
            "audit witness alarm: checkpoints not cosigned in time",
            node=self._node,
            witness=witness.name,
            cosigned_size=witness.size,
            signed_size=self._size,
            lag_seconds=round(time.monotonic() - since, 1),
        )
