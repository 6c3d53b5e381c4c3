"""Signed checkpoints: a node's tree size and root at a moment, chained to the one before.

A checkpoint is a C2SP signed note (tlog-checkpoint), which any transparency-log tool
and witness reads::

    lienthong.example.gov.vn/audit/hue-1
    1024
    <base64 root>
    time 2026-03-15T08:30:00.123Z
    previous <base64 SHA-256 of the previous stored checkpoint>

    — lienthong.example.gov.vn/audit/hue-1 <base64 key id || Ed25519 signature>

The origin is the trail's origin prefix and the node; the key name is the origin. The
``previous`` extension line chains each checkpoint to the one before it (absent on a
node's first). Trails started before notes hold checkpoints as canonical JSON; those
are still read and verified, and the first note after them names the last of them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Annotated

import orjson
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hub._patterns import NODE_PATTERN
from hub.audit._entry import Timestamp, format_time
from hub.audit._store import StoredCheckpoint
from hub.audit.note import (
    ED25519,
    CheckpointText,
    NoteError,
    Signer,
    Verifier,
    parse_checkpoint_text,
    parse_note,
)

__all__ = [
    "Checkpoint",
    "Trust",
    "check_signature",
    "checkpoint_from_row",
    "follows",
    "link",
    "origin_of",
    "sign_checkpoint",
    "sign_note_checkpoint",
]

Hex32 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{128}$")]
#: The trail's key id (16 hex) on a JSON checkpoint, the note key id (8 hex) on a note.
KeyId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8}([0-9a-f]{8})?$")]


class Checkpoint(BaseModel):
    """A node's tree at one moment, signed with the trail's Ed25519 key.

    The signature covers the RFC 8785 canonical JSON of every field but ``signature``
    (see `signed_bytes`); ``previous`` is the signature of the node's previous
    checkpoint, so the checkpoints form a chain in which none can be dropped unseen.
    ``key`` names the key that signed it (`hub.audit._keys.key_id`), so that a verifier
    tells a checkpoint signed by a key it does not trust from one whose signature is
    broken; checkpoints made before keys were named have none, and their signed bytes
    leave it out.

    A checkpoint made as a signed note has ``origin`` and ``note`` (the whole signed
    note, as stored): its signature covers the note text, ``key`` is the note's 4-byte
    key id, and ``previous`` the SHA-256 of the previous stored checkpoint (`link`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: Annotated[str, StringConstraints(pattern=NODE_PATTERN)]
    size: int = Field(ge=0, description="The number of entries the tree holds.")
    root: Hex32 = Field(description="The RFC 6962 root of the tree, lowercase hex.")
    time: Timestamp = Field(description="When the checkpoint was made, UTC.")
    previous: Hex64 | Hex32 | None = Field(
        description="The previous checkpoint: its signature (JSON) or its SHA-256 (note)."
    )
    key: KeyId | None = Field(default=None, description="The id of the signing key.")
    signature: Hex64 = Field(description="Ed25519 over the note text (or canonical JSON).")
    origin: str | None = Field(default=None, description="The note's origin line.")
    note: str | None = Field(default=None, description="The signed note, as stored.")

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers."""
        if self.note is not None:
            return parse_note(self.note).text.encode()
        exclude = {"signature", "origin", "note"}
        if self.key is None:
            exclude.add("key")
        return rfc8785.dumps(self.model_dump(mode="json", exclude=exclude))

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        """Whether the signature holds under ``public_key``."""
        if self.origin is not None and self.note is not None:
            # The stored signature and the note's own line must be the same signature.
            line = parse_note(self.note).signatures[0]
            if self.key != _note_key_id(self.origin, public_key) or line.signature.hex() != (
                self.signature
            ):
                return False
        try:
            public_key.verify(bytes.fromhex(self.signature), self.signed_bytes())
        except InvalidSignature:
            return False
        return True


def sign_checkpoint(
    key: Ed25519PrivateKey,
    *,
    node: str,
    size: int,
    root: bytes,
    time: datetime,
    previous: bytes | None,
    key_id: str | None,
) -> Checkpoint:
    """Make and sign a checkpoint.

    Args:
        key: The trail's signing key.
        node: The node whose tree it is.
        size: The tree's size.
        root: The tree's root.
        time: The moment (UTC); kept to the millisecond.
        previous: The signature of the node's previous checkpoint, None for its first.
        key_id: The id of ``key``'s public key, recorded in the checkpoint.
    """
    unsigned = {
        "node": node,
        "size": size,
        "root": root.hex(),
        "time": time,
        "previous": previous.hex() if previous is not None else None,
        "key": key_id,
    }
    draft = Checkpoint.model_validate({**unsigned, "signature": "0" * 128})
    signature = key.sign(draft.signed_bytes())
    return draft.model_copy(update={"signature": signature.hex()})


def origin_of(prefix: str, node: str) -> str:
    """The origin (and key name) of a node's checkpoints: ``<prefix>/<node>``."""
    return f"{prefix.rstrip('/')}/{node}"


def _note_key_id(origin: str, public: Ed25519PublicKey) -> str:
    return Verifier(origin, ED25519, public).key_id.hex()


def link(previous: StoredCheckpoint | None, *, note: bool = True) -> str | None:
    """What a checkpoint after ``previous`` names as its ``previous`` (hex).

    A note names the SHA-256 of the stored checkpoint before it (a note, or the
    canonical JSON of an older one); a JSON checkpoint named its signature.
    """
    if previous is None:
        return None
    if note:
        return hashlib.sha256(previous.body).hexdigest()
    return previous.signature.hex()


def follows(checkpoint: Checkpoint, previous: StoredCheckpoint | None) -> bool:
    """Whether ``checkpoint`` names ``previous`` (None: it is the node's first)."""
    return checkpoint.previous == link(previous, note=checkpoint.note is not None)


def sign_note_checkpoint(
    key: Ed25519PrivateKey,
    *,
    origin: str,
    node: str,
    size: int,
    root: bytes,
    time: datetime,
    previous: bytes | None,
) -> tuple[Checkpoint, bytes, bytes]:
    """Make and sign a checkpoint as a C2SP signed note.

    Args:
        key: The trail's signing key.
        origin: The node's origin (`origin_of`); also the key name.
        node: The node whose tree it is.
        size: The tree's size.
        root: The tree's root.
        time: The moment (UTC); kept to the millisecond.
        previous: The SHA-256 of the previous stored checkpoint (`link`), None for the
            node's first.

    Returns:
        The checkpoint, the bytes to store (the signed note) and the raw signature.
    """
    extensions = [f"time {format_time(time)}"]
    if previous is not None:
        extensions.append(f"previous {base64.b64encode(previous).decode()}")
    text = str(CheckpointText(origin, size, root, tuple(extensions)))
    signature = Signer(origin, key).sign(text)
    body = (text + "\n" + signature.line).encode()
    return _from_note(body, signature.signature), body, signature.signature


def _from_note(body: bytes, signature: bytes) -> Checkpoint:
    note = parse_note(body)
    mine = note.signatures
    if len(mine) != 1:
        raise ValueError("a stored checkpoint is a note with its one signature")
    fields = parse_checkpoint_text(note.text)
    extra: dict[str, str] = {}
    for line in fields.extensions:
        name, _, value = line.partition(" ")
        if name not in ("time", "previous") or name in extra:
            raise ValueError("a checkpoint's extension lines are time and previous, once")
        extra[name] = value
    if "time" not in extra or mine[0].name != fields.origin:
        raise ValueError("a checkpoint states its time and is signed under its origin")
    previous = None
    if "previous" in extra:
        try:
            raw = base64.b64decode(extra["previous"], validate=True)
        except ValueError:
            raise ValueError("a checkpoint's previous line is base64") from None
        if len(raw) != 32:
            raise ValueError("a checkpoint's previous line is a SHA-256")
        previous = raw.hex()
    return Checkpoint.model_validate(
        {
            "node": fields.origin.rsplit("/", 1)[-1],
            "size": fields.size,
            "root": fields.root.hex(),
            "time": extra["time"],
            "previous": previous,
            "key": mine[0].key_id.hex(),
            "signature": signature.hex(),
            "origin": fields.origin,
            "note": body.decode(),
        }
    )


def checkpoint_from_row(body: bytes, signature: bytes) -> Checkpoint:
    """The checkpoint a stored row holds: a signed note, or the canonical JSON of old.

    Raises:
        ValueError: the row is not a well-formed checkpoint.
    """
    if not body.startswith(b"{"):
        try:
            return _from_note(body, signature)
        except NoteError as exc:
            raise ValueError(str(exc)) from None
    fields = orjson.loads(body)
    if not isinstance(fields, dict) or {"origin", "note"} & fields.keys():
        raise ValueError("a checkpoint is a JSON object")
    checkpoint = Checkpoint.model_validate({**fields, "signature": signature.hex()})
    if checkpoint.signed_bytes() != body:
        raise ValueError("a checkpoint is stored as its canonical JSON")
    return checkpoint


class Trust(Enum):
    """What a verifier makes of a checkpoint's signature."""

    #: Signed by a trusted key, and the signature holds.
    HOLDS = "holds"
    #: Names a key that is not trusted: signed elsewhere, or by a retired key.
    UNTRUSTED = "untrusted"
    #: The signature does not hold under the key it names (forged or altered).
    BROKEN = "broken"


def check_signature(checkpoint: Checkpoint, keys: Mapping[str, Ed25519PublicKey]) -> Trust:
    """Whether ``checkpoint`` is signed by one of ``keys`` (by key id).

    A checkpoint that names no key (made before keys were named) is tried under each.

    Args:
        checkpoint: The checkpoint.
        keys: The trusted public keys, by `hub.audit._keys.key_id`.
    """
    if checkpoint.key is None:
        return Trust.HOLDS if any(checkpoint.verify(key) for key in keys.values()) else Trust.BROKEN
    if checkpoint.origin is not None:
        # A note names its key by a hash of the origin and the key: find it among ours.
        origin = checkpoint.origin
        key = next(
            (key for key in keys.values() if _note_key_id(origin, key) == checkpoint.key), None
        )
    else:
        key = keys.get(checkpoint.key)
    if key is None:
        return Trust.UNTRUSTED
    return Trust.HOLDS if checkpoint.verify(key) else Trust.BROKEN
