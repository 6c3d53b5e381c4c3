"""The writer's check of its stored tree before it writes again (at start, after a failure).

Nobody who runs the store is trusted. Before a writer extends its tree it proves that
the tree it will extend is the one it signed:

- the newest stored checkpoint is signed by a trusted key, and it is the checkpoint the
  writer remembers signing (`hub.audit._state`), or chained to it by signatures: a
  store cut back, or rewritten with another chain, is refused;
- the stored tiles and leaves up to that checkpoint reproduce its root;
- every entry after it carries the MAC chained from the entry before (`EntryMac`),
  its leaf hash is recomputed from its bytes, and its time is not before the time of
  the entry before it: an entry added by someone without the MAC key is refused, and
  is never signed into a checkpoint.

The whole tree is not re-hashed at every start, which would grow with the trail: the
root check proves the tiles the writer extends, and an entry altered inside them is
named by `hub audit verify`, whose checkpoints were signed over the honest hashes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.audit._checkpoint import Checkpoint, Trust, check_signature, follows
from hub.audit._keys import GENESIS_MAC, EntryMac
from hub.audit._proof import parse_checkpoint
from hub.audit._state import SignedState
from hub.audit._store import TILE_SIZE, Head, Store, StoredCheckpoint, WriterRow
from hub.audit._tree import TileTree
from hub.audit.merkle import leaf_hash

__all__ = ["Resumed", "Tampered", "check_stored_tree", "entry_time"]

_TIME_KEY = b'"time":"'
_TIME_LENGTH = len("2024-03-15T08:30:00.123Z")


class Tampered(Exception):
    """The store does not hold what this writer wrote: it must not write on top of it.

    Args:
        node: The writer's node.
        index: The first entry index at fault.
        reason: What does not hold, for the operator's alarm (no entry's content).
    """

    def __init__(self, node: str, index: int, reason: str) -> None:
        super().__init__(f"node {node}, index {index}: {reason}")
        self.node = node
        self.index = index
        self.reason = reason


@dataclass(slots=True)
class Resumed:
    """The proven state a writer extends."""

    tree: TileTree
    #: The newest checkpoint (None before the first) and its stored form.
    newest: Checkpoint | None
    stored: StoredCheckpoint | None
    #: The MAC of the last entry (the chain goes on from it).
    mac: bytes
    #: The time of the last entry, as written (RFC 3339 text), or None.
    time: str | None


def entry_time(body: bytes) -> str | None:
    """The time an entry's record bytes state, as written, or None when it states none.

    The record is canonical JSON with sorted keys, and a quote inside a string is
    escaped, so the only ``"time":"`` in it is the entry's own key.
    """
    at = body.find(_TIME_KEY)
    if at < 0:
        return None
    start = at + len(_TIME_KEY)
    return body[start : start + _TIME_LENGTH].decode("ascii", "replace")


async def check_stored_tree(
    store: Store,
    node: str,
    head: Head,
    *,
    keys: Mapping[str, Ed25519PublicKey],
    mac: EntryMac,
    remembered: SignedState | None,
) -> Resumed:
    """Prove the stored tree of ``node`` is the one its writer signed and MACed.

    Args:
        store: The store, read in one snapshot.
        node: The writer's node.
        head: What `Store.open_writer` read.
        keys: The trusted public keys, by key id.
        mac: The entries' MAC chain.
        remembered: The newest checkpoint this writer remembers signing, if any.

    Raises:
        Tampered: something does not hold; names the first index at fault.
        StoreError: the store cannot be read.
    """
    async with store.writer_snapshot() as snapshot:
        newest: Checkpoint | None = None
        if head.checkpoint is not None:
            since = remembered.seq if remembered is not None else 0
            chain = await snapshot.checkpoints(node, since)
            newest = _check_chain(node, chain, keys, remembered, head)
        elif remembered is not None:
            raise Tampered(
                node,
                min(head.size, remembered.size),
                f"the store holds no checkpoint, but this writer signed #{remembered.seq}"
                f" over {remembered.size} entries: the trail was cut back",
            )
        signed = newest.size if newest is not None else 0
        if head.size < signed:
            raise Tampered(
                node,
                head.size,
                f"the newest checkpoint signs {signed} entries but the store holds"
                f" {head.size}: entries were removed",
            )
        tiles = signed // TILE_SIZE
        # The entry before the first unsigned one is read too: its MAC starts the chain.
        start = min(tiles * TILE_SIZE, max(signed - 1, 0))
        rows = await snapshot.rows(node, start, head.size)
    resumed = _check_rows(node, head, rows, newest, start=start, tiles=tiles, mac=mac)
    resumed.stored = head.checkpoint
    return resumed


def _check_chain(
    node: str,
    chain: Sequence[StoredCheckpoint],
    keys: Mapping[str, Ed25519PublicKey],
    remembered: SignedState | None,
    head: Head,
) -> Checkpoint:
    """The newest checkpoint, once its chain from the remembered one holds."""
    if remembered is not None:
        if not chain or chain[0].seq != remembered.seq:
            raise Tampered(
                node,
                min(head.size, remembered.size),
                f"checkpoint #{remembered.seq}, the newest this writer signed"
                f" ({remembered.size} entries), is not in the store: the trail was cut back",
            )
        if chain[0].signature.hex() != remembered.signature:
            raise Tampered(
                node,
                remembered.size,
                f"checkpoint #{remembered.seq} in the store is not the one this writer signed",
            )
    previous: Checkpoint | None = None
    previous_seq = -1
    previous_stored: StoredCheckpoint | None = None
    for stored in chain:
        try:
            checkpoint = parse_checkpoint(stored)
        except ValueError:
            raise Tampered(node, 0, f"checkpoint #{stored.seq} is malformed") from None
        trust = check_signature(checkpoint, keys)
        if trust is not Trust.HOLDS or checkpoint.node != node:
            if trust is Trust.UNTRUSTED:
                what = "names a key this writer does not trust"
            elif trust is Trust.BROKEN:
                what = "has a signature that does not hold"
            else:
                what = f"names node {checkpoint.node}"
            raise Tampered(node, checkpoint.size, f"checkpoint #{stored.seq} {what}")
        if previous is not None and (
            not follows(checkpoint, previous_stored)
            or stored.seq != previous_seq + 1
            or checkpoint.size < previous.size
        ):
            raise Tampered(
                node,
                previous.size,
                f"checkpoint #{stored.seq} does not follow #{previous_seq}",
            )
        previous, previous_seq, previous_stored = checkpoint, stored.seq, stored
    if previous is None or head.checkpoint is None or previous_seq != head.checkpoint.seq:
        raise Tampered(node, 0, "the store's checkpoints changed while they were read")
    if remembered is not None and chain[0].seq == remembered.seq:
        first = parse_checkpoint(chain[0])
        if first.size != remembered.size or first.root != remembered.root:
            raise Tampered(
                node,
                remembered.size,
                f"checkpoint #{remembered.seq} in the store is not the one this writer signed",
            )
    return previous


def _check_rows(
    node: str,
    head: Head,
    rows: Sequence[WriterRow],
    newest: Checkpoint | None,
    *,
    start: int,
    tiles: int,
    mac: EntryMac,
) -> Resumed:
    signed = newest.size if newest is not None else 0
    tree = TileTree(head.tiles[:tiles])
    chain = GENESIS_MAC
    last_time: str | None = None
    expected = start
    for index, _, body, stored_mac in rows:
        if index != expected:
            raise Tampered(node, expected, "an entry is missing from the store")
        expected += 1
        leaf = leaf_hash(body)
        if index >= tree.size:
            tile = tree.append(leaf)
            number = index // TILE_SIZE
            if tile is not None and (number >= len(head.tiles) or head.tiles[number] != tile):
                raise Tampered(
                    node, number * TILE_SIZE, f"the stored hash of tile {number} was altered"
                )
        if newest is not None and index == signed - 1 and tree.root().hex() != newest.root:
            raise Tampered(
                node,
                tiles * TILE_SIZE,
                "the stored tree does not reproduce the root of its newest checkpoint"
                f" ({signed} entries)",
            )
        if index < signed:
            # Covered by the checkpoint: its MAC only starts the chain (None before MACs).
            chain = stored_mac if stored_mac is not None else GENESIS_MAC
            last_time = entry_time(body)
            continue
        if stored_mac is None or mac(node, chain, leaf) != stored_mac:
            raise Tampered(
                node, index, "an entry after the newest checkpoint does not carry this node's MAC"
            )
        chain = stored_mac
        when = entry_time(body)
        if when is None or (last_time is not None and when < last_time):
            raise Tampered(node, index, "an entry is dated before the entry before it")
        last_time = when
    if expected != head.size:
        raise Tampered(node, expected, "an entry is missing from the store")
    if newest is not None and signed == 0 and newest.root != TileTree().root().hex():
        raise Tampered(node, 0, "the newest checkpoint signs an empty tree with another root")
    return Resumed(tree=tree, newest=newest, stored=None, mac=chain, time=last_time)
