"""What a writer remembers outside the store: the newest checkpoint it signed.

The store's administrator is not trusted, so the store alone cannot show that it was
cut back (the newest entries deleted together with the checkpoints that cover them) or
rewritten behind a valid-looking chain. The writer keeps, next to its keys, the
sequence number, size, root and signature of the newest checkpoint it signed, and
refuses to start on a store that is behind it or disagrees with it: an audit id it
handed out is never handed out again.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import orjson

from hub._files import replace_private

__all__ = ["SignedState", "WriterState"]

STATE_DIR = "audit-state"


@dataclass(frozen=True, slots=True)
class SignedState:
    """The newest checkpoint a writer signed."""

    seq: int
    size: int
    root: str
    signature: str


class WriterState:
    """The state file of one node of one store, under ``<data_dir>/audit-state/``.

    Args:
        data_dir: The hub's data directory.
        node: The node the writer writes.
        store: What names the store (its location, never a password), so that one data
            directory serves several trails.
    """

    def __init__(self, data_dir: Path, *, node: str, store: str) -> None:
        digest = hashlib.sha256(store.encode()).hexdigest()[:16]
        self.path = data_dir / STATE_DIR / f"{node}.{digest}.json"
        self._node = node
        self._saved: SignedState | None = None
        # Two commits may finish together; the newer checkpoint must be the one kept.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"WriterState({str(self.path)!r})"

    def load(self) -> SignedState | None:
        """The remembered checkpoint, or None when this writer never signed one here.

        Raises:
            ValueError: the file is not a state file of this node.
        """
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except orjson.JSONDecodeError:
            raise ValueError(f"{self.path} is not a writer state file") from None
        if not isinstance(data, dict) or data.get("node") != self._node:
            raise ValueError(f"{self.path} is not the state of node {self._node}")
        try:
            state = SignedState(
                seq=int(data["seq"]),
                size=int(data["size"]),
                root=str(data["root"]),
                signature=str(data["signature"]),
            )
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{self.path} is not a writer state file") from None
        self._saved = state
        return state

    def save(self, state: SignedState) -> None:
        """Remember ``state``, durably, unless a newer one is remembered already."""
        data = {
            "node": self._node,
            "seq": state.seq,
            "size": state.size,
            "root": state.root,
            "signature": state.signature,
        }
        with self._lock:
            if self._saved is not None and self._saved.seq >= state.seq:
                return
            replace_private(self.path, orjson.dumps(data, option=orjson.OPT_INDENT_2))
            self._saved = state
