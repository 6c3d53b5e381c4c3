"""A node's tree seen as tiles: complete runs of 256 leaves, then the leaves after them.

The RFC 6962 tree of ``n = 256 m + r`` leaves is the same tree as the one over ``m``
tile hashes followed (when ``r > 0``) by the hash of the last ``r`` leaves: every split
of the leaf tree above a tile falls on a tile boundary. So a writer resumes from the
stored tile hashes and at most 255 leaves, and an inclusion proof is the path inside
one tile followed by the path of that tile among the others.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.audit._store import TILE_SIZE
from hub.audit.merkle import CompactRange, inclusion_proof, root

__all__ = ["TileTree", "tiled_inclusion_proof"]


class TileTree:
    """The root of a growing tree, kept as a compact range of tiles and one of leaves.

    Args:
        tiles: The hashes of the complete tiles, in order.
        tail: The leaf hashes after them (fewer than 256).
    """

    __slots__ = ("_tail", "_tiles")

    def __init__(self, tiles: Sequence[bytes] = (), tail: Sequence[bytes] = ()) -> None:
        if len(tail) >= TILE_SIZE:
            raise ValueError("the tail holds fewer leaves than a tile")
        self._tiles = CompactRange(tiles)
        self._tail = CompactRange(tail)

    @property
    def size(self) -> int:
        return self._tiles.size * TILE_SIZE + self._tail.size

    def append(self, leaf: bytes) -> bytes | None:
        """Append a leaf hash; return the tile's hash when this leaf completes a tile."""
        self._tail.append(leaf)
        if self._tail.size < TILE_SIZE:
            return None
        tile = self._tail.root()
        self._tiles.append(tile)
        self._tail = CompactRange()
        return tile

    def root(self) -> bytes:
        """The root of the whole tree."""
        if self._tail.size == 0:
            return self._tiles.root()
        tiles = self._tiles.copy()
        tiles.append(self._tail.root())
        return tiles.root()

    def copy(self) -> TileTree:
        """An independent copy."""
        other = TileTree()
        other._tiles = self._tiles.copy()
        other._tail = self._tail.copy()
        return other

    def __repr__(self) -> str:
        return f"TileTree(size={self.size})"


def tiled_inclusion_proof(
    index: int, size: int, tiles: Sequence[bytes], leaves: Sequence[bytes], tail: Sequence[bytes]
) -> tuple[list[bytes], bytes]:
    """The inclusion proof of leaf ``index`` in the tree of ``size`` leaves, and its root.

    Args:
        index: The leaf, from 0.
        size: The tree's size.
        tiles: The hashes of its ``size // 256`` complete tiles.
        leaves: The leaf hashes of the tile (or tail) that holds ``index``.
        tail: The leaf hashes after the last complete tile (``size % 256`` of them).
    """
    if len(tiles) * TILE_SIZE + len(tail) != size:
        raise ValueError("the tiles and the tail do not make a tree of this size")
    tile = index // TILE_SIZE
    items = list(tiles)
    if tail:
        items.append(root(tail))
    inner = inclusion_proof(index - tile * TILE_SIZE, leaves)
    outer = inclusion_proof(tile, items)
    return inner + outer, root(items)
