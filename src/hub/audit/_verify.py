"""Verification of a whole trail: recompute every tree, check every checkpoint, name problems.

The signed checkpoints are the authority: a tree that does not reproduce a signed root
was changed, whatever else is found. To say *what* changed, each stored record carries
its own index (bound into its hash) and the leaf hash written with it, so that:

- a record whose hash differs from the one written with it was changed;
- a number no row claims was removed; a number two rows claim was inserted or copied;
- a row whose recorded index is not its position was moved (reordered), or renumbered
  after an insertion or removal before it;
- a checkpoint that covers more entries than the store holds shows a truncation.

An attacker who also rewrites the stored hashes and indices is still caught by the
roots; the message then names the range between the last checkpoint that holds and
the first that does not.

Entries after the newest checkpoint are not covered by a signature yet. That is the
normal state of a running node (a checkpoint is due every N entries or T seconds) and
of a node that crashed before its next one (it signs them when it starts again), so
they are reported as a warning with their count, or as a problem with ``strict``. An
unsigned entry dated well before the newest checkpoint cannot be one of those, and is
a problem. With the MAC key, each of them is proven the writer's own by its MAC, chained
from the entry before; an entry whose MAC does not hold was added by someone without
the key.

Checkpoints name the key that signed them: one signed by a key that is not in the
trust list is reported as such, apart from one whose signature is broken. Entry times
never go backwards within a node; an entry dated before the one before it is named.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.audit._checkpoint import Checkpoint, Trust, check_signature, follows
from hub.audit._entry import audit_id, format_time
from hub.audit._keys import GENESIS_MAC, EntryMac, key_id
from hub.audit._proof import parse_checkpoint
from hub.audit._resume import entry_time
from hub.audit._store import TILE_SIZE, EntryRow, Snapshot, Store, StoredCheckpoint, WriterRow
from hub.audit.merkle import CompactRange, leaf_hash, root

__all__ = ["NodeSummary", "VerifyReport", "verify_trail"]

#: How long before a checkpoint an entry may be dated and still miss it (its append
#: was in flight): the append timeout and clock steps, with a wide margin.
TAIL_SLACK = timedelta(minutes=5)
#: Messages of one kind per node before the rest are counted.
MAX_MESSAGES = 10

Progress = Callable[[int, int], None]


@dataclass(slots=True)
class NodeSummary:
    """What verify found of one node."""

    node: str
    entries: int
    checkpoints: int
    newest: Checkpoint | None
    unsigned: int


@dataclass(slots=True)
class VerifyReport:
    """The outcome of verifying a trail."""

    nodes: list[NodeSummary] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def entries(self) -> int:
        return sum(node.entries for node in self.nodes)

    @property
    def checkpoints(self) -> int:
        return sum(node.checkpoints for node in self.nodes)

    @property
    def newest_checkpoint_time(self) -> datetime | None:
        times = [node.newest.time for node in self.nodes if node.newest is not None]
        return max(times, default=None)


async def verify_trail(
    store: Store,
    public_keys: Sequence[Ed25519PublicKey],
    *,
    strict: bool = False,
    progress: Progress | None = None,
    mac: EntryMac | None = None,
) -> VerifyReport:
    """Recompute every node's tree from the stored records and check every checkpoint.

    Args:
        store: The trail's store; read in one consistent snapshot.
        public_keys: The keys a checkpoint may be signed with (several across a key
            rotation).
        strict: Count entries not yet covered by a checkpoint as a problem.
        progress: Called with (entries done, entries in all) as the scan goes.
        mac: The entries' MAC chain, to prove the entries no checkpoint covers yet;
            without it they are reported as unproven.

    Raises:
        StoreError: the store cannot be read.
    """
    report = VerifyReport()
    keys = {key_id(key): key for key in public_keys}
    async with store.snapshot() as snapshot:
        nodes = await snapshot.nodes()
        sizes = {node: await snapshot.size(node) for node in nodes}
        total = sum(sizes.values())
        done = 0
        for node in nodes:
            checker = _NodeCheck(node, keys, strict=strict)
            await checker.check_checkpoints(snapshot)
            async for chunk in snapshot.entries(node):
                checker.scan(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
            checker.end_scan()
            if checker.suspect:
                # Something does not hold: read the records themselves to say what.
                async for chunk in snapshot.entries(node):
                    checker.diagnose(chunk)
            unsigned = checker.count - checker.signed_size
            if unsigned > 0 and mac is not None:
                start = max(checker.signed_size - 1, 0)
                checker.check_macs(await snapshot.rows(node, start, checker.count), mac)
            elif unsigned > 0:
                report.warnings.append(
                    f"node {node}: the MACs of the {unsigned} entries after the newest"
                    " checkpoint were not checked (no MAC key)"
                )
            report.nodes.append(checker.finish(report))
    return report


def _ids(node: str, first: int, last: int) -> str:
    if first == last:
        return f"entry {audit_id(node, first)}"
    return f"entries {audit_id(node, first)} to {audit_id(node, last)}"


def _runs(numbers: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted numbers as inclusive runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for number in numbers:
        if runs and runs[-1][1] == number - 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs


class _NodeCheck:
    """The checks of one node: its checkpoint chain, then its entries.

    The first pass hashes every record and rebuilds the tree, checking it against
    every signed root; it reads a record's content only after the newest checkpoint.
    When anything fails, a second pass reads every record's stated index and node to
    name what happened.
    """

    def __init__(self, node: str, keys: dict[str, Ed25519PublicKey], *, strict: bool) -> None:
        self.node = node
        self.keys = keys
        self.strict = strict
        self.problems: list[str] = []
        self.stored_checkpoints = 0
        # Checkpoints whose signature holds, by the size they sign.
        self.targets: dict[int, list[tuple[int, Checkpoint]]] = {}
        self.newest: tuple[int, Checkpoint] | None = None
        self.signed_size = 0
        # The tree so far: the complete tiles' hashes, and the leaves after them.
        self.tiles = CompactRange()
        self.tile_leaves: list[bytes] = []
        self.count = 0
        self.stored_tiles: dict[int, bytes] = {}
        # One past the highest position seen, and the anomalies of the scan.
        self.position = 0
        self.gaps: list[tuple[int, int]] = []
        self.changed: list[int] = []
        self.malformed: list[int] = []
        self.moved: list[tuple[int, int]] = []
        self.foreign: list[tuple[int, str]] = []
        self.bad_tiles: list[int] = []
        self.failed_roots: list[tuple[int, Checkpoint]] = []
        self.held_roots: list[tuple[int, Checkpoint]] = []
        self.early_unsigned: list[int] = []
        self.backwards: list[int] = []
        self.last_time = ""
        self.forged: list[int] = []
        self.tail_limit = ""
        self.suspect = False
        self.diagnosed = 0

    def _some(self, kind: str, items: list[str]) -> None:
        shown = items[:MAX_MESSAGES]
        self.problems += [f"node {self.node}: {item}" for item in shown]
        if len(items) > len(shown):
            self.problems.append(f"node {self.node}: and {len(items) - len(shown)} more {kind}")

    async def check_checkpoints(self, snapshot: Snapshot) -> None:
        stored = await snapshot.checkpoints(self.node)
        self.stored_checkpoints = len(stored)
        self.stored_tiles = dict(await snapshot.tiles(self.node))
        previous: StoredCheckpoint | None = None
        expected_seq = 0
        size = 0
        when: datetime | None = None
        unsigned: list[int] = []
        untrusted: list[tuple[int, str]] = []
        issues: list[str] = []
        for row in stored:
            gap = row.seq != expected_seq
            if gap:
                first, last = expected_seq, row.seq - 1
                which = f"#{first}" if first == last else f"#{first} to #{last}"
                issues.append(f"checkpoint {which} missing (removed)")
            expected_seq = row.seq + 1
            try:
                checkpoint = parse_checkpoint(row)
            except ValueError:
                issues.append(f"checkpoint #{row.seq} is malformed (forged or altered)")
                previous = row
                continue
            trust = check_signature(checkpoint, self.keys)
            if trust is not Trust.HOLDS:
                if trust is Trust.UNTRUSTED and checkpoint.key is not None:
                    untrusted.append((row.seq, checkpoint.key))
                else:
                    unsigned.append(row.seq)
                previous = row
                continue
            if checkpoint.node != self.node:
                issues.append(f"checkpoint #{row.seq} names node {checkpoint.node}")
            if not follows(checkpoint, previous) and not gap:
                issues.append(
                    f"checkpoint #{row.seq} does not follow the one stored before it"
                    " (a checkpoint was removed or replaced)"
                )
            if checkpoint.size < size:
                issues.append(f"checkpoint #{row.seq} signs fewer entries than the one before")
            if when is not None and checkpoint.time < when:
                issues.append(f"checkpoint #{row.seq} is dated before the one before it")
            self.targets.setdefault(checkpoint.size, []).append((row.seq, checkpoint))
            self.newest = (row.seq, checkpoint)
            previous, size, when = row, checkpoint.size, checkpoint.time
        for first, last in _runs(unsigned):
            which = f"#{first}" if first == last else f"#{first} to #{last}"
            issues.append(
                f"checkpoint {which}: the signature does not hold under the public key"
                " (forged or altered; one that names no key may be signed with another)"
            )
        for key in sorted({key for _, key in untrusted}):
            for first, last in _runs([seq for seq, signer in untrusted if signer == key]):
                which = f"#{first}" if first == last else f"#{first} to #{last}"
                issues.append(
                    f"checkpoint {which}: signed by a key you do not trust (key id {key});"
                    " add its public key to [audit] trusted_keys if it is a writer's"
                )
        self._some("checkpoint problems", issues)
        if self.newest is not None:
            self.tail_limit = format_time(self.newest[1].time - TAIL_SLACK)
            self.signed_size = self.newest[1].size

    def scan(self, rows: Sequence[EntryRow]) -> None:
        """Hash a chunk of entry rows (in index order) into the tree; check signed roots."""
        sha256 = hashlib.sha256
        targets = self.targets
        leaves = self.tile_leaves
        position = self.position
        last_time = self.last_time
        for index, stored_leaf, body in rows:
            if index != position:
                self.gaps.append((position, index))
            when = entry_time(body)
            if when is not None:
                if when < last_time:
                    self.backwards.append(index)
                last_time = when
            position = index + 1
            leaf = sha256(b"\x00" + body).digest()
            if leaf != stored_leaf:
                self.changed.append(index)
            leaves.append(leaf)
            self.count += 1
            if len(leaves) == TILE_SIZE:
                self._close_tile()
                leaves = self.tile_leaves
            if self.count in targets:
                self._check_roots(targets[self.count])
            if self.count > self.signed_size:
                self._claims(index, body, tail=True)
        self.position = position
        self.last_time = last_time

    def check_macs(self, rows: Sequence[WriterRow], mac: EntryMac) -> None:
        """Prove the entries after the newest checkpoint by their MAC chain.

        Args:
            rows: From the last signed entry (whose MAC starts the chain) to the end.
            mac: The MAC chain.
        """
        chain = GENESIS_MAC
        for index, _, body, stored in rows:
            if index < self.signed_size:
                chain = stored if stored is not None else GENESIS_MAC
                continue
            expected = mac(self.node, chain, leaf_hash(body))
            if stored != expected:
                self.forged.append(index)
                # The chain goes on from the stored MAC: each forged entry is named once.
            chain = stored if stored is not None else GENESIS_MAC

    def _close_tile(self) -> None:
        tile = root(self.tile_leaves)
        number = self.tiles.size
        if self.stored_tiles.get(number) != tile:
            self.bad_tiles.append(number)
        self.tiles.append(tile)
        self.tile_leaves = []

    def _check_roots(self, checkpoints: list[tuple[int, Checkpoint]]) -> None:
        tiles = self.tiles
        if self.tile_leaves:
            tiles = tiles.copy()
            tiles.append(root(self.tile_leaves))
        value = tiles.root().hex()
        for seq, checkpoint in checkpoints:
            if checkpoint.root == value:
                self.held_roots.append((seq, checkpoint))
            else:
                self.failed_roots.append((seq, checkpoint))

    def end_scan(self) -> None:
        """After the first pass: whether to read the records (`suspect`)."""
        self.suspect = bool(self.gaps or self.changed or self.failed_roots or self.bad_tiles)

    def diagnose(self, rows: Sequence[EntryRow]) -> None:
        """Second pass: the stated index and node of every signed record."""
        signed = self.signed_size
        for count, (index, _, body) in enumerate(rows, start=self.diagnosed + 1):
            if count > signed:
                break
            self._claims(index, body, tail=False)
        self.diagnosed += len(rows)

    def _claims(self, index: int, body: bytes, *, tail: bool) -> None:
        """Compare what a record states (index, node, time) with where it is stored."""
        claimed, node, when = _claims(body)
        if claimed is None:
            self.malformed.append(index)
        elif claimed != index:
            self.moved.append((index, claimed))
        if node is not None and node != self.node:
            self.foreign.append((index, node))
        if tail and when is not None and when < self.tail_limit:
            self.early_unsigned.append(index)

    def finish(self, report: VerifyReport) -> NodeSummary:
        node = self.node
        rows = self.count
        newest = self.newest[1] if self.newest is not None else None
        self._name_entry_problems(newest)
        if self.failed_roots:
            seq, checkpoint = self.failed_roots[0]
            start = max((c.size for s, c in self.held_roots if s < seq), default=0)
            later = len(self.failed_roots) - 1
            self.problems.append(
                f"node {node}: checkpoint #{seq} ({format_time(checkpoint.time)}, "
                f"{checkpoint.size} entries) does not hold: the stored entries do not reproduce"
                f" its root; {_ids(node, start, checkpoint.size - 1)} differ from what was signed"
                + (f" ({later} later checkpoints fail too)" if later else "")
            )
        elif self.bad_tiles and not self.problems:
            altered = []
            for tile in self.bad_tiles:
                covered = _ids(node, tile * TILE_SIZE, (tile + 1) * TILE_SIZE - 1)
                altered.append(
                    f"the stored hash of tile {tile} ({covered}) was altered:"
                    " their inclusion proofs would fail"
                )
            self._some("altered tiles", altered)
        unsigned = rows - newest.size if newest is not None and rows > newest.size else 0
        if newest is None:
            unsigned = rows
        if self.early_unsigned:
            self._some(
                "unsigned entries dated before the newest checkpoint",
                [
                    f"{_ids(node, first, last)} dated before checkpoint"
                    f" #{self.newest[0] if self.newest else 0} but not covered by it"
                    " (appended after the fact)"
                    for first, last in _runs(self.early_unsigned)
                ],
            )
        if self.forged:
            self._some(
                "entries without a valid MAC",
                [
                    f"{_ids(node, first, last)} after the newest checkpoint"
                    " do not carry this trail's MAC (added by someone without the key)"
                    for first, last in _runs(self.forged)
                ],
            )
        if self.backwards:
            self._some(
                "entries dated before the entry before them",
                [
                    f"entry {audit_id(node, index)} is dated before the entry before it"
                    for index in self.backwards
                ],
            )
        if unsigned:
            if newest is not None:
                message = (
                    f"node {node}: {unsigned} entries after the newest checkpoint"
                    " are not yet signed"
                )
            else:
                message = f"node {node}: none of its {unsigned} entries is signed by a checkpoint"
            (report.problems if self.strict else report.warnings).append(message)
        report.problems += self.problems
        return NodeSummary(
            node=node,
            entries=rows,
            checkpoints=self.stored_checkpoints,
            newest=newest,
            unsigned=unsigned,
        )

    def _name_entry_problems(self, newest: Checkpoint | None) -> None:
        node = self.node
        # The tail was read in the first pass, the rest in the second: put them in order.
        self.moved.sort()
        self.malformed.sort()
        self.foreign.sort()
        moved_from = {index for index, _ in self.moved}
        claims: dict[int, list[int]] = {}
        for index, claimed in self.moved:
            claims.setdefault(claimed, []).append(index)
        holes = {p for first, end in self.gaps for p in range(first, end)}
        malformed = set(self.malformed)

        def in_place(number: int) -> bool:
            """Whether the row at position ``number`` holds its own record."""
            return number < self.position and number not in moved_from and number not in holes

        # Numbers whose record no row holds: removed.
        limit = max([self.position, *(c + 1 for c in claims), newest.size if newest else 0])
        unclaimed = sorted({*moved_from, *holes, *range(self.position, limit)} - set(claims))
        removed: list[str] = []
        for first, last in _runs(unclaimed):
            if newest is not None and first >= self.position and last == newest.size - 1:
                removed.append(
                    f"{_ids(node, first, last)} removed from the end: the trail ends at"
                    f" {self.position} entries but a checkpoint covers {newest.size}"
                )
            else:
                removed.append(f"{_ids(node, first, last)} removed")
        self._some("removals", removed)

        # Numbers two rows claim: one of them was inserted (or copied).
        twice: list[str] = []
        for number, positions in sorted(claims.items()):
            holders = sorted([*positions, number] if in_place(number) else positions)
            if len(holders) > 1:
                twice.append(
                    f"{_ids(node, number, number)} is held at positions"
                    f" {', '.join(map(str, holders))}: an entry was inserted or copied"
                )
        self._some("duplicates", twice)

        # Rows away from their recorded place: swapped pairs, or runs shifted together.
        destination = dict(self.moved)
        swapped = {i for i, c in self.moved if destination.get(c) == i}
        messages = [
            f"{_ids(node, i, i)} and {_ids(node, c, c)} swapped places (reordered)"
            for i, c in self.moved
            if i in swapped and i < c
        ]
        shifts: list[tuple[int, int, int]] = []
        for index, claimed in self.moved:
            if index in swapped:
                continue
            offset = claimed - index
            if shifts and shifts[-1][1] == index - 1 and shifts[-1][2] == offset:
                shifts[-1] = (shifts[-1][0], index, offset)
            else:
                shifts.append((index, index, offset))
        for first, last, offset in shifts:
            span = f"position {first}" if first == last else f"positions {first} to {last}"
            why = (
                f"{offset} entries were removed before them and the rest renumbered"
                if offset > 0
                else f"{-offset} entries were inserted before them"
            )
            messages.append(
                f"{span} of node {node} hold records numbered {abs(offset)}"
                f" {'higher' if offset > 0 else 'lower'}: reordered, or {why}"
            )
        self._some("moved entries", messages)

        self._some(
            "changed entries",
            [
                f"{_ids(node, first, last)} changed after it was written (the hash differs)"
                for first, last in _runs(
                    # A moved or unreadable record is named as such.
                    [i for i in self.changed if i not in moved_from and i not in malformed]
                )
            ],
        )
        self._some(
            "malformed records",
            [
                f"{_ids(node, first, last)}: not a well-formed audit record (forged or corrupted)"
                for first, last in _runs(self.malformed)
            ],
        )
        self._some(
            "foreign entries",
            [f"{_ids(node, index, index)} names node {other}" for index, other in self.foreign],
        )


def _claims(body: bytes) -> tuple[int | None, str | None, str | None]:
    """The index, node and time a record states, or Nones when it is not a record."""
    try:
        record = orjson.loads(body)
        entry = record["entry"]
        index = record["index"]
        node = entry["node"]
        when = entry["time"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        return None, None, None
    if type(index) is not int or not isinstance(node, str) or not isinstance(when, str):
        return None, None, None
    return index, node, when
