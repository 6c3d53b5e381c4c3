"""``hub audit verify --witnessed``: is every writer's store the tree its witnesses cosigned?

The store's administrator can cut a trail back (the newest entries deleted with their
checkpoints and cosignatures) or rewrite it, and delete the writer's state file; the
store then looks whole to a verifier that has only the store. A witness remembers the
newest checkpoint it cosigned for each writer (origin) and serves it, so this check
asks each configured witness for it, adds the cosignatures the store holds, and
requires the stored entries to reproduce every cosigned root: a store behind a
cosigned size was cut back, one that does not reproduce a cosigned root was
rewritten. Only cosignatures that verify under the witness's key, on checkpoints that
verify under a trusted log key, count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub._config import WitnessSettings
from hub.audit._checkpoint import origin_of
from hub.audit._store import Snapshot, Store
from hub.audit.merkle import CompactRange, leaf_hash
from hub.audit.note import (
    ED25519,
    NoteError,
    NoteSignature,
    SignedNote,
    Verifier,
    open_note,
    parse_checkpoint_text,
    parse_note,
)

__all__ = ["WitnessedReport", "check_witnessed"]

#: Seconds to wait for a witness's answer.
FETCH_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class _Cosigned:
    witness: str
    size: int
    root: bytes


@dataclass(slots=True)
class WitnessedReport:
    """What ``--witnessed`` found: per node the witnessed size, and the problems."""

    #: (node, size cosigned by a quorum or None, entries in the store)
    nodes: list[tuple[str, int | None, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


async def check_witnessed(
    store: Store,
    public_keys: Sequence[Ed25519PublicKey],
    witnesses: Mapping[str, WitnessSettings],
    *,
    quorum: int,
    origin_prefix: str,
    nodes: Sequence[str] = (),
) -> WitnessedReport:
    """Check every writer's store against the checkpoints its witnesses cosigned.

    Args:
        store: The trail's store.
        public_keys: The trusted log keys (the writers' signing keys).
        witnesses: ``[audit.witnesses]``: where each witness is and its vkey.
        quorum: The cosignatures that make a checkpoint witnessed.
        origin_prefix: ``[audit] origin_prefix``: a node's origin is it and the node.
        nodes: Writers to check besides those the store holds (a writer whose every
            entry was deleted is still asked for).

    Raises:
        StoreError: the store cannot be read.
    """
    report = WitnessedReport()
    cosigners = {name: Verifier.from_vkey(item.public_key) for name, item in witnesses.items()}
    async with store.snapshot() as snapshot:
        for node in sorted({*await snapshot.nodes(), *nodes}):
            origin = origin_of(origin_prefix, node)
            logs = [Verifier(origin, ED25519, key) for key in public_keys]
            found = await _stored(snapshot, node, logs, cosigners)
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT) as client:
                for name, item in sorted(witnesses.items()):
                    try:
                        served = await _served(client, item.url, origin, logs, cosigners[name])
                    except (httpx.HTTPError, NoteError) as exc:
                        report.warnings.append(
                            f"node {node}: witness {name} did not serve its checkpoint"
                            f" ({type(exc).__name__}); only the stored cosignatures count"
                        )
                        continue
                    if served is not None:
                        found.append(_Cosigned(name, *served))
            await _check_node(snapshot, node, found, quorum, len(witnesses), report)
    return report


async def _stored(
    snapshot: Snapshot, node: str, logs: list[Verifier], cosigners: Mapping[str, Verifier]
) -> list[_Cosigned]:
    """The cosigned checkpoints the store holds (cosignature and checkpoint verified)."""
    rows = await snapshot.cosignatures(node)
    if not rows:
        return []
    checkpoints = {row.seq: row for row in await snapshot.checkpoints(node)}
    found: list[_Cosigned] = []
    for seq, witness, line in rows:
        cosigner, row = cosigners.get(witness), checkpoints.get(seq)
        if cosigner is None or row is None:
            continue
        try:
            note = parse_note(row.body)
            signature = NoteSignature.parse_line(line)
            size, root = _verified(note, logs, cosigner, [signature])
        except NoteError:
            continue
        found.append(_Cosigned(witness, size, root))
    return found


def _verified(
    note: SignedNote, logs: list[Verifier], cosigner: Verifier, lines: Sequence[NoteSignature]
) -> tuple[int, bytes]:
    """The size and root of a checkpoint signed by a log key and cosigned by ``cosigner``."""
    open_note(note, logs)
    if not any(cosigner.matches(line) and cosigner.verify(note.text, line) for line in lines):
        raise NoteError("no valid cosignature by the witness")
    checkpoint = parse_checkpoint_text(note.text)
    return checkpoint.size, checkpoint.root


async def _served(
    client: httpx.AsyncClient,
    url: str,
    origin: str,
    logs: list[Verifier],
    cosigner: Verifier,
) -> tuple[int, bytes] | None:
    """The checkpoint the witness serves for ``origin`` (tlog-witness monitor retrieval)."""
    digest = hashlib.sha256(origin.encode()).hexdigest()
    answer = await client.get(f"{url.rstrip('/')}/{digest}/checkpoint")
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    note = parse_note(answer.text)
    return _verified(note, logs, cosigner, note.signatures)


async def _check_node(
    snapshot: Snapshot,
    node: str,
    found: list[_Cosigned],
    quorum: int,
    witnesses: int,
    report: WitnessedReport,
) -> None:
    newest: dict[str, int] = {}
    for item in found:
        newest[item.witness] = max(newest.get(item.witness, 0), item.size)
    sizes = sorted(newest.values(), reverse=True)
    witnessed = sizes[quorum - 1] if len(sizes) >= quorum else None
    # Recompute the tree from the stored records and hold it against every cosigned root.
    targets: dict[int, list[_Cosigned]] = {}
    for item in found:
        targets.setdefault(item.size, []).append(item)
    tree = CompactRange()
    held: list[int] = [0]
    failed: list[_Cosigned] = []
    if 0 in targets:
        _hold(tree, targets[0], held, failed)
    async for chunk in snapshot.entries(node):
        for _, _, body in chunk:
            tree.append(leaf_hash(body))
            if tree.size in targets:
                _hold(tree, targets[tree.size], held, failed)
    count = tree.size
    report.nodes.append((node, witnessed, count))
    for name, size in sorted({(i.witness, i.size) for i in found if i.size > count}):
        report.problems.append(
            f"node {node}: witness {name} cosigned {size} entries but the store holds"
            f" {count}: the trail was cut back (first index at fault: {count})"
        )
    for item in sorted(failed, key=lambda i: (i.size, i.witness)):
        good = max(size for size in held if size < item.size)
        report.problems.append(
            f"node {node}: the store does not reproduce the root witness {item.witness}"
            f" cosigned at size {item.size}: entries from index {good} to {item.size - 1}"
            f" were rewritten (first index at fault: {good}, the last witnessed size that"
            " holds)"
        )
    if witnessed is None and (count or found):
        report.problems.append(
            f"node {node}: no checkpoint is cosigned by a quorum of witnesses"
            f" ({len(sizes)} of the {quorum} needed of {witnesses}): the store cannot be"
            " checked against them"
        )
    elif witnessed is not None and count > witnessed:
        report.warnings.append(
            f"node {node}: {count - witnessed} entries after the witnessed size {witnessed}"
            " are not witnessed yet"
        )


def _hold(
    tree: CompactRange, items: list[_Cosigned], held: list[int], failed: list[_Cosigned]
) -> None:
    value = tree.root()
    for item in items:
        if item.root == value:
            held.append(item.size)
        else:
            failed.append(item)
