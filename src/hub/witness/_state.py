"""What a witness remembers: per log, the newest checkpoint it cosigned (SQLite)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hub.audit.merkle import EMPTY_ROOT, verify_consistency

__all__ = ["Cosign", "Cosigned", "Refused", "WitnessState"]

#: Makes the cosignature line and the cosigned note to serve, once the checks pass.
Cosign = Callable[[], tuple[str, str]]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS witnessed (\n"
    "    origin TEXT PRIMARY KEY,\n"
    "    size INTEGER NOT NULL,\n"
    "    root BLOB NOT NULL,\n"
    "    checkpoint TEXT NOT NULL\n"
    ") WITHOUT ROWID"
)


@dataclass(frozen=True, slots=True)
class Cosigned:
    """The newest checkpoint cosigned for a log: size, root, and the note served to monitors."""

    size: int
    root: bytes
    checkpoint: str


class Refused(Exception):
    """The witness will not cosign: an HTTP status and, for 409, the size it holds.

    Args:
        status: 400, 409 or 422.
        reason: Why, for the log and the response.
        size: With 409, the size of the newest checkpoint cosigned.
    """

    def __init__(self, status: int, reason: str, size: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.size = size


class WitnessState:
    """The witness's durable state, in ``<folder>/witness.db``.

    A check and its update are one IMMEDIATE transaction, so two submissions for one
    log never both pass against the same old size (the race tlog-witness describes);
    a cosignature is returned only once its checkpoint is committed (synchronous=FULL).

    Args:
        folder: The state directory; created if needed.
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = folder / "witness.db"
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(_SCHEMA)
        self._lock = threading.Lock()

    def latest(self, origin: str) -> Cosigned | None:
        """The newest checkpoint cosigned for ``origin``, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT size, root, checkpoint FROM witnessed WHERE origin = ?", (origin,)
            ).fetchone()
        return None if row is None else Cosigned(int(row[0]), bytes(row[1]), str(row[2]))

    def advance(
        self,
        origin: str,
        *,
        old: int,
        size: int,
        root: bytes,
        proof: list[bytes],
        cosign: Cosign,
    ) -> str:
        """Check a checkpoint against the newest cosigned one and, if it holds, record it.

        Args:
            origin: The log.
            old: The size the submitter says the witness holds.
            size: The checkpoint's size.
            root: Its root.
            proof: The consistency proof from ``old`` to ``size``.
            cosign: Makes the cosignature line and the note to serve, once checks pass.

        Returns:
            The cosignature line.

        Raises:
            Refused: 409 (old is not the size held), 422 (inconsistent).
        """
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                line = self._advance(origin, old, size, root, proof, cosign)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return line

    def _advance(
        self, origin: str, old: int, size: int, root: bytes, proof: list[bytes], cosign: Cosign
    ) -> str:
        row = self._conn.execute(
            "SELECT size, root FROM witnessed WHERE origin = ?", (origin,)
        ).fetchone()
        held, held_root = (0, EMPTY_ROOT) if row is None else (int(row[0]), bytes(row[1]))
        if old != held:
            raise Refused(409, f"the witness holds size {held}", size=held)
        if size == 0 and root != EMPTY_ROOT:
            raise Refused(422, "a checkpoint of size 0 has the empty tree's root")
        if old == 0 and proof:
            raise Refused(422, "a proof from size 0 is empty")
        if not verify_consistency(old, size, proof, held_root, root):
            if old == size:
                raise Refused(422, "the same size with another root")
            raise Refused(422, f"no consistency from size {old} to {size}")
        line, note = cosign()
        self._conn.execute(
            "INSERT INTO witnessed (origin, size, root, checkpoint) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root,"
            " checkpoint = excluded.checkpoint",
            (origin, size, root, note),
        )
        return line

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()
