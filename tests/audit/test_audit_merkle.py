"""RFC 6962 hashing, roots, proofs and verifiers; the tiled view of the writer."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.audit import merkle
from hub.audit._tree import TileTree, tiled_inclusion_proof

# The leaves and roots of RFC 6962's test vectors (as used by Certificate
# Transparency's and transparency-dev's implementations).
LEAVES = [
    bytes.fromhex(value)
    for value in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]


def flip(value: bytes, bit: int = 0) -> bytes:
    """The value with one bit flipped."""
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def reference_root(hashes: list[bytes]) -> bytes:
    """MTH by RFC 6962's recursive definition, independent of the implementation."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(
        b"\x01" + reference_root(hashes[:k]) + reference_root(hashes[k:])
    ).digest()


def test_empty_root_is_the_hash_of_nothing() -> None:
    """The root of the empty tree is SHA-256 of the empty string."""
    assert merkle.EMPTY_ROOT.hex() == EMPTY
    assert merkle.root([]).hex() == EMPTY


@pytest.mark.parametrize("size", sorted(ROOTS))
def test_roots_match_the_rfc_6962_vectors(size: int) -> None:
    """The root of the first n test leaves is the known answer."""
    assert merkle.root(HASHES[:size]).hex() == ROOTS[size]


def test_compact_range_gives_every_intermediate_root() -> None:
    """Appending leaf by leaf, the running root is the known root at every size."""
    tree = merkle.CompactRange()
    for size, value in enumerate(HASHES, start=1):
        tree.append(value)
        assert tree.size == size
        assert tree.root().hex() == ROOTS[size]


def test_known_inclusion_proof() -> None:
    """The path of leaf 0 in the tree of 8 is leaf 1, then nodes (2,3) and (4..7)."""
    proof = merkle.inclusion_proof(0, HASHES)
    assert proof == [
        HASHES[1],
        merkle.node_hash(HASHES[2], HASHES[3]),
        merkle.root(HASHES[4:8]),
    ]
    assert merkle.verify_inclusion(HASHES[0], 0, 8, proof, bytes.fromhex(ROOTS[8]))


def test_known_consistency_proof() -> None:
    """Tree 3 is a prefix of tree 8, shown with leaf 2, leaf 3, node (0,1), node (4..7)."""
    proof = merkle.consistency_proof(3, HASHES)
    assert proof == [HASHES[2], HASHES[3], merkle.root(HASHES[:2]), merkle.root(HASHES[4:8])]
    assert merkle.verify_consistency(3, 8, proof, bytes.fromhex(ROOTS[3]), bytes.fromhex(ROOTS[8]))


class TestBadInclusionProofs:
    """A proof that does not hold is False, whatever is wrong with it."""

    index = 5
    size = 7
    root = bytes.fromhex(ROOTS[7])

    def proof(self) -> list[bytes]:
        return merkle.inclusion_proof(self.index, HASHES[: self.size])

    def test_the_proof_holds(self) -> None:
        """The unchanged proof verifies (so the failures below are the changes')."""
        assert merkle.verify_inclusion(
            HASHES[self.index], self.index, self.size, self.proof(), self.root
        )

    def test_flipped_bit_in_the_proof(self) -> None:
        """One flipped bit in a proof node fails."""
        proof = self.proof()
        proof[1] = flip(proof[1], 77)
        assert not merkle.verify_inclusion(
            HASHES[self.index], self.index, self.size, proof, self.root
        )

    def test_flipped_bit_in_the_leaf_or_root(self) -> None:
        """A changed leaf hash or root fails."""
        leaf = HASHES[self.index]
        assert not merkle.verify_inclusion(
            flip(leaf), self.index, self.size, self.proof(), self.root
        )
        assert not merkle.verify_inclusion(
            leaf, self.index, self.size, self.proof(), flip(self.root, 255)
        )

    def test_wrong_index(self) -> None:
        """The same proof for another leaf of the same tree fails."""
        for index in range(self.size):
            if index != self.index:
                assert not merkle.verify_inclusion(
                    HASHES[self.index], index, self.size, self.proof(), self.root
                )

    def test_wrong_size(self) -> None:
        """The proof against a tree of another shape fails, as does a size at the index."""
        # Size 8 gives leaf 5 a path of the same shape as size 7 does, and so accepts
        # the same proof (RFC 9162, 2.1.3.2): only the shape binds the size.
        for size in (self.index, self.size - 1, 2 * self.size, 1000):
            assert not merkle.verify_inclusion(
                HASHES[self.index], self.index, size, self.proof(), self.root
            )

    def test_truncated_or_extended(self) -> None:
        """A proof with a node missing, or one too many, fails."""
        proof = self.proof()
        leaf = HASHES[self.index]
        assert not merkle.verify_inclusion(leaf, self.index, self.size, proof[:-1], self.root)
        assert not merkle.verify_inclusion(leaf, self.index, self.size, proof[1:], self.root)
        assert not merkle.verify_inclusion(
            leaf, self.index, self.size, [*proof, HASHES[0]], self.root
        )
        assert not merkle.verify_inclusion(
            leaf, self.index, self.size, [HASHES[0], *proof], self.root
        )

    @pytest.mark.parametrize(
        "arguments",
        [
            (b"short", 5, 7, None, None),
            (None, -1, 7, None, None),
            (None, 5, -7, None, None),
            (None, 5, 7, b"not a list", None),
            (None, 5, 7, [b"short"], None),
            (None, 5, 7, None, b"short"),
            ("text", 5, 7, None, None),
            (None, 5, 7, 42, None),
            (None, True, 7, None, None),
        ],
    )
    def test_garbage_is_false_not_an_exception(self, arguments: tuple[object, ...]) -> None:
        """Malformed inputs give False, never an exception."""
        leaf, index, size, proof, root = arguments
        assert (
            merkle.verify_inclusion(
                HASHES[self.index] if leaf is None else leaf,  # type: ignore[arg-type]
                index,  # type: ignore[arg-type]
                size,  # type: ignore[arg-type]
                self.proof() if proof is None else proof,  # type: ignore[arg-type]
                self.root if root is None else root,  # type: ignore[arg-type]
            )
            is False
        )


class TestBadConsistencyProofs:
    """A consistency proof that does not hold is False."""

    def check(self, size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes) -> bool:
        return merkle.verify_consistency(size1, size2, proof, root1, root2)

    def test_the_proof_holds(self) -> None:
        """The unchanged proofs verify, between every pair of sizes."""
        for size2 in range(1, 9):
            for size1 in range(0, size2 + 1):
                proof = merkle.consistency_proof(size1, HASHES[:size2])
                assert self.check(
                    size1, size2, proof, merkle.root(HASHES[:size1]), merkle.root(HASHES[:size2])
                )

    def test_flipped_bits(self) -> None:
        """A flipped bit in any node of the proof, or in either root, fails."""
        proof = merkle.consistency_proof(3, HASHES)
        root3, root8 = bytes.fromhex(ROOTS[3]), bytes.fromhex(ROOTS[8])
        for position in range(len(proof)):
            changed = list(proof)
            changed[position] = flip(changed[position], 3)
            assert not self.check(3, 8, changed, root3, root8)
        assert not self.check(3, 8, proof, flip(root3), root8)
        assert not self.check(3, 8, proof, root3, flip(root8))

    def test_wrong_sizes(self) -> None:
        """The proof between other sizes fails."""
        proof = merkle.consistency_proof(3, HASHES)
        root3, root8 = bytes.fromhex(ROOTS[3]), bytes.fromhex(ROOTS[8])
        # Sizes 5 to 7 give the same path shape as 8 from tree 3, and accept the proof.
        for size1, size2 in [(1, 8), (2, 8), (4, 8), (5, 8), (3, 9), (3, 16), (8, 3), (0, 8)]:
            assert not self.check(size1, size2, proof, root3, root8)

    def test_truncated_or_extended(self) -> None:
        """A proof with a node missing, or one too many, fails; so does an empty one."""
        proof = merkle.consistency_proof(3, HASHES)
        root3, root8 = bytes.fromhex(ROOTS[3]), bytes.fromhex(ROOTS[8])
        assert not self.check(3, 8, proof[:-1], root3, root8)
        assert not self.check(3, 8, proof[1:], root3, root8)
        assert not self.check(3, 8, [*proof, HASHES[0]], root3, root8)
        assert not self.check(3, 8, [], root3, root8)

    def test_same_and_empty_trees(self) -> None:
        """A tree is consistent with itself and with the empty tree, with an empty proof."""
        root8 = bytes.fromhex(ROOTS[8])
        assert self.check(8, 8, [], root8, root8)
        assert not self.check(8, 8, [HASHES[0]], root8, root8)
        assert self.check(0, 8, [], merkle.EMPTY_ROOT, root8)
        assert not self.check(0, 8, [], HASHES[0], root8)

    def test_garbage_is_false_not_an_exception(self) -> None:
        """Malformed inputs give False, never an exception."""
        root3, root8 = bytes.fromhex(ROOTS[3]), bytes.fromhex(ROOTS[8])
        proof = merkle.consistency_proof(3, HASHES)
        assert merkle.verify_consistency(-3, 8, proof, root3, root8) is False
        assert merkle.verify_consistency(3, 8, None, root3, root8) is False  # type: ignore[arg-type]
        assert merkle.verify_consistency(3, 8, [b"x"], root3, root8) is False
        assert merkle.verify_consistency(3, 8, proof, b"", root8) is False
        assert merkle.verify_consistency("3", 8, proof, root3, root8) is False  # type: ignore[arg-type]


def test_proof_builders_refuse_leaves_outside_the_tree() -> None:
    """Asking for a proof of a leaf or prefix the tree does not have is an error."""
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_proof(8, HASHES)
    with pytest.raises(ValueError, match="not a prefix"):
        merkle.consistency_proof(9, HASHES)


# Property tests: random trees.

# Distinct leaves: with two equal leaves, a proof for one is a proof for the other.
trees = st.lists(st.binary(max_size=12), min_size=1, max_size=70, unique=True).map(
    lambda leaves: [merkle.leaf_hash(leaf) for leaf in leaves]
)


@settings(max_examples=60, deadline=None)
@given(hashes=trees)
def test_every_inclusion_proof_verifies(hashes: list[bytes]) -> None:
    """Every leaf's proof verifies against the root, which matches the RFC definition."""
    root = merkle.root(hashes)
    assert root == reference_root(hashes)
    for index, value in enumerate(hashes):
        proof = merkle.inclusion_proof(index, hashes)
        assert merkle.verify_inclusion(value, index, len(hashes), proof, root)


@settings(max_examples=60, deadline=None)
@given(hashes=trees)
def test_every_consistency_proof_verifies(hashes: list[bytes]) -> None:
    """Every prefix of a tree is proven consistent with it."""
    root = merkle.root(hashes)
    for size1 in range(len(hashes) + 1):
        proof = merkle.consistency_proof(size1, hashes)
        assert merkle.verify_consistency(
            size1, len(hashes), proof, reference_root(hashes[:size1]), root
        )


@settings(max_examples=100, deadline=None)
@given(hashes=trees, data=st.data())
def test_any_single_mutation_of_an_inclusion_proof_fails(
    hashes: list[bytes], data: st.DataObject
) -> None:
    """A flipped bit, another index, a size of another shape, or a cut proof fails."""
    size = len(hashes)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = merkle.inclusion_proof(index, hashes)
    root = merkle.root(hashes)
    leaf = hashes[index]
    mutation = data.draw(st.sampled_from(["bit", "leaf", "root", "index", "size", "cut", "add"]))
    if mutation == "bit" and proof:
        position = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        proof = [*proof[:position], flip(proof[position], bit), *proof[position + 1 :]]
    elif mutation == "leaf":
        leaf = flip(leaf, data.draw(st.integers(0, 255)))
    elif mutation == "root":
        root = flip(root, data.draw(st.integers(0, 255)))
    elif mutation == "index" and size > 1:
        index = data.draw(st.integers(0, size - 1).filter(lambda other: other != index))
    elif mutation == "size":
        # Only the shape of the path binds the size (RFC 9162, 2.1.3.2): sizes whose path
        # from this leaf has the same length may accept the proof, so change the length.
        other = data.draw(
            st.integers(index + 1, 4 * size).filter(
                lambda n: len(merkle.inclusion_proof(index, [leaf] * n)) != len(proof)
            )
        )
        size = other
    elif mutation == "cut" and proof:
        proof = proof[:-1]
    elif mutation == "add":
        proof = [*proof, hashes[0]]
    else:
        return
    assert not merkle.verify_inclusion(leaf, index, size, proof, root)


@settings(max_examples=100, deadline=None)
@given(hashes=trees.filter(lambda h: len(h) >= 2), data=st.data())
def test_any_single_mutation_of_a_consistency_proof_fails(
    hashes: list[bytes], data: st.DataObject
) -> None:
    """A flipped bit, a changed root, or a cut or lengthened proof fails."""
    size2 = len(hashes)
    size1 = data.draw(st.integers(1, size2 - 1), label="size1")
    proof = merkle.consistency_proof(size1, hashes)
    root1, root2 = merkle.root(hashes[:size1]), merkle.root(hashes)
    mutation = data.draw(st.sampled_from(["bit", "root1", "root2", "cut", "add"]))
    if mutation == "bit":
        position = data.draw(st.integers(0, len(proof) - 1))
        proof = [
            *proof[:position],
            flip(proof[position], data.draw(st.integers(0, 255))),
            *proof[position + 1 :],
        ]
    elif mutation == "root1":
        root1 = flip(root1, data.draw(st.integers(0, 255)))
    elif mutation == "root2":
        root2 = flip(root2, data.draw(st.integers(0, 255)))
    elif mutation == "cut":
        proof = proof[:-1]
    else:
        proof = [*proof, hashes[0]]
    assert not merkle.verify_consistency(size1, size2, proof, root1, root2)


# The writer's tiled view of the same tree.


@pytest.mark.parametrize("size", [1, 255, 256, 257, 511, 512, 513, 700, 1024, 1300])
def test_tile_tree_root_is_the_plain_root(size: int) -> None:
    """Kept as tiles plus a tail, the tree has the root RFC 6962 defines."""
    hashes = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    tree = TileTree()
    tiles = []
    for value in hashes:
        tile = tree.append(value)
        if tile is not None:
            tiles.append(tile)
    assert tree.size == size
    assert tree.root() == merkle.root(hashes)
    assert tiles == [merkle.root(hashes[i : i + 256]) for i in range(0, size - size % 256, 256)]
    resumed = TileTree(tiles, hashes[len(tiles) * 256 :])
    assert resumed.root() == tree.root()


@pytest.mark.parametrize("size", [1, 256, 300, 513, 1024, 1300])
def test_tiled_inclusion_proof_is_the_plain_proof(size: int) -> None:
    """A proof built from tiles is the RFC 9162 audit path, and it verifies."""
    hashes = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    complete = size // 256
    tiles = [merkle.root(hashes[i * 256 : (i + 1) * 256]) for i in range(complete)]
    tail = hashes[complete * 256 :]
    for index in sorted({0, 1, 255, 256, 257, size // 2, size - 1} & set(range(size))):
        start = index // 256 * 256
        leaves = hashes[start : min(start + 256, size)]
        proof, root = tiled_inclusion_proof(index, size, tiles, leaves, tail)
        assert root == merkle.root(hashes)
        assert proof == merkle.inclusion_proof(index, hashes)
        assert merkle.verify_inclusion(hashes[index], index, size, proof, root)
