"""Signed checkpoints: a node's tree size and root at a moment, chained by signature."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hub.audit._entry import NODE_PATTERN, Timestamp

__all__ = ["Checkpoint", "sign_checkpoint"]

Hex32 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{128}$")]


class Checkpoint(BaseModel):
    """A node's tree at one moment, signed with the trail's Ed25519 key.

    The signature covers the RFC 8785 canonical JSON of every field but ``signature``
    (see `signed_bytes`); ``previous`` is the signature of the node's previous
    checkpoint, so the checkpoints form a chain in which none can be dropped unseen.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: Annotated[str, StringConstraints(pattern=NODE_PATTERN)]
    size: int = Field(ge=0, description="The number of entries the tree holds.")
    root: Hex32 = Field(description="The RFC 6962 root of the tree, lowercase hex.")
    time: Timestamp = Field(description="When the checkpoint was made, UTC.")
    previous: Hex64 | None = Field(description="The previous checkpoint's signature (hex).")
    signature: Hex64 = Field(description="Ed25519 over the other fields' canonical JSON.")

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers."""
        return rfc8785.dumps(self.model_dump(mode="json", exclude={"signature"}))

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        """Whether the signature holds under ``public_key``."""
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
) -> Checkpoint:
    """Make and sign a checkpoint.

    Args:
        key: The trail's signing key.
        node: The node whose tree it is.
        size: The tree's size.
        root: The tree's root.
        time: The moment (UTC); kept to the millisecond.
        previous: The signature of the node's previous checkpoint, None for its first.
    """
    unsigned = {
        "node": node,
        "size": size,
        "root": root.hex(),
        "time": time,
        "previous": previous.hex() if previous is not None else None,
    }
    draft = Checkpoint.model_validate({**unsigned, "signature": "0" * 128})
    signature = key.sign(draft.signed_bytes())
    return draft.model_copy(update={"signature": signature.hex()})
