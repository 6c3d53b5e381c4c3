"""Inclusion proofs of one entry against its node's newest signed checkpoint."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hub.audit._checkpoint import Checkpoint, checkpoint_from_row
from hub.audit._entry import audit_id
from hub.audit._store import TILE_SIZE, Snapshot, StoredCheckpoint, StoreError
from hub.audit._tree import tiled_inclusion_proof
from hub.audit.merkle import leaf_hash, verify_inclusion

__all__ = ["InclusionProof", "NotCovered", "build_proof", "parse_checkpoint"]

Hex32 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class NotCovered(LookupError):
    """The entry exists but no signed checkpoint covers it yet (or it does not exist)."""


class InclusionProof(BaseModel):
    """The proof that one entry is in its node's tree, under a signed checkpoint.

    Any RFC 6962 verifier checks it: ``verify_inclusion(leaf_hash, index, tree_size,
    proof, root)``, with ``root`` and ``tree_size`` those of the checkpoint, whose
    Ed25519 signature the trail's public key checks (a checkpoint's ``note`` is a C2SP
    signed note, checked by any note verifier with the node's vkey). Hashes are
    lowercase hex.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    audit_id: str
    leaf_hash: Hex32 = Field(description="SHA-256 of 0x00 and the entry's record bytes.")
    index: int = Field(ge=0)
    tree_size: int = Field(ge=1)
    root: Hex32
    proof: list[Hex32] = Field(description="The audit path, bottom up (RFC 9162, 2.1.3).")
    checkpoint: Checkpoint

    def verify(self) -> bool:
        """Whether the path leads from the leaf to the checkpoint's root.

        The checkpoint's signature is a separate check (`Checkpoint.verify`).
        """
        return (
            self.root == self.checkpoint.root
            and self.tree_size == self.checkpoint.size
            and verify_inclusion(
                bytes.fromhex(self.leaf_hash),
                self.index,
                self.tree_size,
                [bytes.fromhex(item) for item in self.proof],
                bytes.fromhex(self.root),
            )
        )


def parse_checkpoint(stored: StoredCheckpoint) -> Checkpoint:
    """The checkpoint a stored row holds.

    Raises:
        ValueError: the row is not a well-formed checkpoint.
    """
    return checkpoint_from_row(stored.body, stored.signature)


async def build_proof(
    snapshot: Snapshot, node: str, index: int, against: StoredCheckpoint | None = None
) -> InclusionProof:
    """The inclusion proof of entry ``index`` of ``node`` against one of its checkpoints.

    Args:
        snapshot: The store, read in one snapshot.
        node: The entry's node.
        index: The entry's index.
        against: The stored checkpoint to prove against; by default the node's newest.

    Raises:
        NotCovered: no checkpoint covers the entry.
        StoreError: the stored tree does not reproduce the checkpoint's root (it was
            tampered with: ``hub audit verify`` names how).
    """
    stored = against if against is not None else await snapshot.newest_checkpoint(node)
    if stored is None:
        raise NotCovered(f"no signed checkpoint of node {node} covers entry {index}")
    try:
        checkpoint = parse_checkpoint(stored)
    except ValueError:
        raise StoreError("the newest checkpoint is malformed; run `hub audit verify`") from None
    size = checkpoint.size
    if index >= size:
        raise NotCovered(f"no signed checkpoint of node {node} covers entry {index} yet")
    complete = size // TILE_SIZE
    tiles = await snapshot.tiles(node, complete)
    if [number for number, _ in tiles] != list(range(complete)):
        raise StoreError("the store lacks tile hashes; run `hub audit verify`")
    tail = await _leaves(snapshot, node, complete * TILE_SIZE, size)
    start = index // TILE_SIZE * TILE_SIZE
    leaves = (
        tail
        if start == complete * TILE_SIZE
        else await _leaves(snapshot, node, start, start + TILE_SIZE)
    )
    path, root = tiled_inclusion_proof(index, size, [value for _, value in tiles], leaves, tail)
    leaf = leaves[index - start]
    if root.hex() != checkpoint.root or not verify_inclusion(leaf, index, size, path, root):
        raise StoreError("the stored tree does not match its checkpoint; run `hub audit verify`")
    return InclusionProof(
        audit_id=audit_id(node, index),
        leaf_hash=leaf.hex(),
        index=index,
        tree_size=size,
        root=root.hex(),
        proof=[item.hex() for item in path],
        checkpoint=checkpoint,
    )


async def _leaves(snapshot: Snapshot, node: str, start: int, end: int) -> list[bytes]:
    rows = await snapshot.bodies(node, start, end)
    if [number for number, _ in rows] != list(range(start, end)):
        raise StoreError("entries are missing from the store; run `hub audit verify`")
    return [leaf_hash(body) for _, body in rows]
