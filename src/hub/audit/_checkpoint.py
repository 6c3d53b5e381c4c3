"""Signed checkpoints: a node's tree size and root at a moment, chained by signature."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Annotated

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hub.audit._entry import NODE_PATTERN, Timestamp

__all__ = ["Checkpoint", "Trust", "check_signature", "sign_checkpoint"]

Hex32 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{128}$")]
KeyId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]


class Checkpoint(BaseModel):
    """A node's tree at one moment, signed with the trail's Ed25519 key.

    The signature covers the RFC 8785 canonical JSON of every field but ``signature``
    (see `signed_bytes`); ``previous`` is the signature of the node's previous
    checkpoint, so the checkpoints form a chain in which none can be dropped unseen.
    ``key`` names the key that signed it (`hub.audit._keys.key_id`), so that a verifier
    tells a checkpoint signed by a key it does not trust from one whose signature is
    broken; checkpoints made before keys were named have none, and their signed bytes
    leave it out.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: Annotated[str, StringConstraints(pattern=NODE_PATTERN)]
    size: int = Field(ge=0, description="The number of entries the tree holds.")
    root: Hex32 = Field(description="The RFC 6962 root of the tree, lowercase hex.")
    time: Timestamp = Field(description="When the checkpoint was made, UTC.")
    previous: Hex64 | None = Field(description="The previous checkpoint's signature (hex).")
    key: KeyId | None = Field(default=None, description="The id of the signing key.")
    signature: Hex64 = Field(description="Ed25519 over the other fields' canonical JSON.")

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers."""
        exclude = {"signature"} if self.key is not None else {"signature", "key"}
        return rfc8785.dumps(self.model_dump(mode="json", exclude=exclude))

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
    key = keys.get(checkpoint.key)
    if key is None:
        return Trust.UNTRUSTED
    return Trust.HOLDS if checkpoint.verify(key) else Trust.BROKEN
