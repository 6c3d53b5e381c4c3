"""Merkle trees as in RFC 6962 and RFC 9162: hashing, incremental roots, proofs, verifiers.

The hashes are those of Certificate Transparency, so any RFC 6962 verifier checks our
proofs::

    leaf  = SHA-256(0x00 || data)
    node  = SHA-256(0x01 || left || right)
    empty = SHA-256()

A tree of ``n`` leaves splits at the largest power of two below ``n``; the left part is
a perfect subtree. Proof builders take the leaf hashes (already hashed with
:func:`leaf_hash`), and indices count from 0. The two verifiers take bytes and return a
bool: a malformed or wrong proof is ``False``, never an exception.

Only the shape of a tree binds its size: two sizes whose paths from a leaf have the same
shape accept the same inclusion proof (RFC 9162, section 2.1.3.2). A verifier therefore
takes the size from a signed checkpoint, never from the proof's supplier alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "consistency_proof",
    "consistency_ranges",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


class CompactRange:
    """The right edge of a growing tree: the roots of its perfect subtrees, largest first.

    Appending a leaf costs one hash on average and the state is at most 64 hashes, so
    a writer keeps the root of a tree of any size without keeping its leaves.

    Args:
        hashes: Leaf hashes to start with, in order.
    """

    __slots__ = ("_levels", "_nodes", "_size")

    def __init__(self, hashes: Sequence[bytes] = ()) -> None:
        self._size = 0
        # The perfect subtrees of the right edge: their heights and hashes, tallest first.
        self._levels: list[int] = []
        self._nodes: list[bytes] = []
        for value in hashes:
            self.append(value)

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def append(self, value: bytes) -> None:
        """Append one leaf hash.

        Args:
            value: A leaf hash (see :func:`leaf_hash`), or any node hash when the
                range is used over whole subtrees, each counted as one leaf.
        """
        levels = self._levels
        nodes = self._nodes
        level = 0
        while levels and levels[-1] == level:
            levels.pop()
            value = node_hash(nodes.pop(), value)
            level += 1
        levels.append(level)
        nodes.append(value)
        self._size += 1

    def root(self) -> bytes:
        """The root of the tree of every leaf appended so far."""
        if not self._nodes:
            return EMPTY_ROOT
        value = self._nodes[-1]
        for left in reversed(self._nodes[:-1]):
            value = node_hash(left, value)
        return value

    def copy(self) -> CompactRange:
        """An independent copy, to extend without changing this one."""
        other = CompactRange()
        other._size = self._size
        other._levels = self._levels.copy()
        other._nodes = self._nodes.copy()
        return other

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size})"


def root(hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (MTH) of a list of leaf hashes.

    Computed level by level, an odd node out going up unpaired: this is RFC 6962's
    split at the largest power of two, and the fastest way to hash many leaves.
    """
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    sha256 = hashlib.sha256
    while len(level) > 1:
        paired = [
            sha256(_NODE_PREFIX + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size`` > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def inclusion_proof(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``hashes`` (RFC 9162, 2.1.3.1).

    Args:
        index: The leaf's position, from 0.
        hashes: Every leaf hash of the tree, in order.

    Raises:
        ValueError: ``index`` is not a leaf of the tree.
    """
    if not 0 <= index < len(hashes):
        raise ValueError(f"leaf {index} is not in a tree of {len(hashes)} leaves")
    proof: list[bytes] = []
    lo, hi = 0, len(hashes)
    # Walk down from the root; the siblings are collected top-down, then reversed.
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            proof.append(root(hashes[lo + k : hi]))
            hi = lo + k
        else:
            proof.append(root(hashes[lo : lo + k]))
            lo = lo + k
    proof.reverse()
    return proof


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The leaf ranges whose subtree hashes make the consistency proof, in proof order.

    The proof from ``size1`` to ``size2`` (RFC 9162, section 2.1.4.1) is the list of
    ``root(hashes[start:end])`` for these ranges, so a store that keeps subtree hashes
    (tiles) builds it without reading every leaf. Each range is a subtree of the tree of
    ``size2``: it starts at a multiple of the largest power of two not above its length.

    Raises:
        ValueError: ``size1`` is negative or larger than ``size2``.
    """
    if not 0 <= size1 <= size2:
        raise ValueError(f"a tree of {size1} leaves is not a prefix of one of {size2}")
    if size1 in (0, size2):
        return []
    ranges: list[tuple[int, int]] = []
    lo, hi, m = 0, size2, size1
    # Whether the current subtree is a whole subtree of the older tree (its root known).
    complete = True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m = lo + k, m - k
            complete = False
    if not complete:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def consistency_proof(size1: int, hashes: Sequence[bytes]) -> list[bytes]:
    """The proof that the tree of the first ``size1`` leaves is a prefix of ``hashes``.

    As in RFC 9162, section 2.1.4.1; a proof from the empty tree or to the same tree is
    empty.

    Args:
        size1: The size of the older tree.
        hashes: Every leaf hash of the newer tree, in order.

    Raises:
        ValueError: ``size1`` is negative or larger than the newer tree.
    """
    return [root(hashes[start:end]) for start, end in consistency_ranges(size1, len(hashes))]


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _hashes(proof: object) -> list[bytes] | None:
    """The proof as a list of hashes, or None when it is not one."""
    if not isinstance(proof, Iterable) or isinstance(proof, (bytes, bytearray, str)):
        return None
    items: list[bytes] = list(proof)
    if not all(_is_hash(item) for item in items):
        return None
    return items


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf ``index`` of a tree of ``size`` leaves under ``root``.

    The algorithm of RFC 9162, section 2.1.3.2.

    Args:
        leaf_hash: The hash of the leaf (SHA-256 of 0x00 and its data).
        index: Its position, from 0.
        size: The size of the tree the root belongs to.
        proof: The audit path, bottom up.
        root: The root to check against, e.g. from a signed checkpoint.
    """
    path = _hashes(proof)
    if path is None or not (_is_hash(leaf_hash) and _is_hash(root)):
        return False
    if not (_is_size(index) and _is_size(size)) or index >= size:
        return False
    fn, sn = index, size - 1
    value = leaf_hash
    for item in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            value = node_hash(item, value)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            value = node_hash(value, item)
        fn >>= 1
        sn >>= 1
    return sn == 0 and value == root


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    """Whether ``proof`` shows the tree (size1, root1) is a prefix of (size2, root2).

    The algorithm of RFC 9162, section 2.1.4.2; the empty tree is a prefix of every
    tree, with an empty proof.

    Args:
        size1: The size of the older tree.
        size2: The size of the newer tree.
        proof: The consistency proof.
        root1: The older root.
        root2: The newer root.
    """
    path = _hashes(proof)
    if path is None or not (_is_hash(root1) and _is_hash(root2)):
        return False
    if not (_is_size(size1) and _is_size(size2)) or size1 > size2:
        return False
    if size1 == size2:
        return not path and root1 == root2
    if size1 == 0:
        return not path and root1 == EMPTY_ROOT
    if not path:
        return False
    if size1 & (size1 - 1) == 0:
        # The older tree is a perfect subtree: its root is the first node of the path.
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for item in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first = node_hash(item, first)
            second = node_hash(item, second)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, item)
        fn >>= 1
        sn >>= 1
    return sn == 0 and first == root1 and second == root2
