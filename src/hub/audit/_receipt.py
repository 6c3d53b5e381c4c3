"""Signed receipts of calls, and the proof bundles that tie them to a witnessed checkpoint.

A receipt is a compact JWS (EdDSA) signed with the trail's Ed25519 key, its ``kid`` the
key id the trail names that key by (`hub.audit._keys.key_id`). Its claims say which
audited call it stands for and what the answer carried: the SHA-256 of the RFC 8785
form of the minimised record (or verification, or identity), never the data itself.
A portal keeps the receipt and the data in its dossier; anyone with the published keys
(``/.well-known/jwks.json``) checks both later.

A proof bundle holds the audit entry's record bytes, its inclusion proof and the
checkpoint it is proven against, as a signed note with its witnesses' cosignatures:
with it, ``hub receipt verify`` proves offline that the receipt's call is in the
trail, as the witnesses saw it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal, cast

import orjson
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization, OKPKey
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from hub.audit._entry import parse_audit_id
from hub.audit._keys import key_id
from hub.audit.merkle import leaf_hash, verify_inclusion
from hub.audit.note import (
    ED25519,
    NoteError,
    Verifier,
    open_note,
    parse_checkpoint_text,
    parse_note,
)

__all__ = [
    "BUNDLE_FORMAT",
    "RECEIPT_TYPE",
    "ProofBundle",
    "ReceiptClaims",
    "ReceiptError",
    "ReceiptSigner",
    "check_bundle",
    "data_digest",
    "jwks",
    "read_receipt",
]

#: The JWS ``typ`` of a receipt.
RECEIPT_TYPE = "lienthong-receipt+jws"
#: The ``format`` of a proof bundle.
BUNDLE_FORMAT: Final = "lienthong-proof-bundle/v1"
_ALGORITHM = "EdDSA"

Hex32 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ReceiptError(ValueError):
    """A receipt or proof bundle does not hold; the message says why, for an inspector."""


class ReceiptClaims(BaseModel):
    """What a receipt states about one audited call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    audit_id: str = Field(description="The call's audit entry.")
    time: str = Field(description="When the receipt was signed, UTC (ISO 8601).")
    client: str
    officer: str
    procedure: str
    dossier: str
    source: str
    operation: str
    fields: list[str] = Field(description="The names of the fields disclosed.")
    digest: Hex32 = Field(
        description="SHA-256 of the RFC 8785 form of the data the answer carried."
    )


def data_digest(data: Any) -> str:
    """The SHA-256 (hex) of the RFC 8785 canonical JSON of ``data``."""
    return hashlib.sha256(rfc8785.dumps(data)).hexdigest()


class ReceiptSigner:
    """Signs receipts with the trail's key; the key never shows in a repr.

    Args:
        key: The trail's Ed25519 signing key.
    """

    __slots__ = ("_jwk", "_kid")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._kid = key_id(key.public_key())
        self._jwk = OKPKey.import_key(key)

    @property
    def kid(self) -> str:
        """The key id receipts name."""
        return self._kid

    def sign(self, claims: ReceiptClaims) -> str:
        """The compact JWS of ``claims``."""
        header = {"alg": _ALGORITHM, "kid": self._kid, "typ": RECEIPT_TYPE}
        payload = rfc8785.dumps(claims.model_dump(mode="json"))
        return jws.serialize_compact(header, payload, self._jwk, algorithms=[_ALGORITHM])

    def __repr__(self) -> str:
        return f"ReceiptSigner(kid={self._kid!r})"


def jwks(keys: Sequence[Ed25519PublicKey]) -> dict[str, Any]:
    """The JSON Web Key Set of ``keys`` (each named by its key id), for verifiers."""
    listed: dict[str, dict[str, Any]] = {}
    for key in keys:
        kid = key_id(key)
        jwk = OKPKey.import_key(key, {"kid": kid, "use": "sig", "alg": _ALGORITHM})
        listed.setdefault(kid, jwk.as_dict(private=False))
    return {"keys": list(listed.values())}


def read_receipt(token: str, keys: Mapping[str, Any]) -> tuple[ReceiptClaims, str]:
    """The claims of a receipt whose signature holds under the key its ``kid`` names.

    Args:
        token: The compact JWS.
        keys: A JWKS (``{"keys": [...]}``).

    Returns:
        The claims, and the kid of the key that signed them.

    Raises:
        ReceiptError: the receipt is malformed, names a key not in ``keys``, or its
            signature does not hold.
    """
    try:
        key_set = KeySet.import_key_set(cast("KeySetSerialization", dict(keys)))
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ReceiptError(f"the key set is not a JWKS ({exc})") from None
    try:
        header = jws.extract_compact(token.strip().encode()).headers()
    except (JoseError, ValueError) as exc:
        raise ReceiptError(f"not a compact JWS ({exc})") from None
    kid = header.get("kid")
    if header.get("alg") != _ALGORITHM or header.get("typ") != RECEIPT_TYPE:
        raise ReceiptError("not a receipt: its header is not EdDSA and typ " + RECEIPT_TYPE)
    if not isinstance(kid, str) or not any(key.kid == kid for key in key_set):
        raise ReceiptError(f"signed by key {kid!r}, which is not among the trusted keys")
    try:
        signed = jws.deserialize_compact(token.strip(), key_set, algorithms=[_ALGORITHM])
        claims = ReceiptClaims.model_validate(orjson.loads(signed.payload))
    except JoseError:
        raise ReceiptError("the signature does not hold: the receipt was altered") from None
    except (orjson.JSONDecodeError, ValidationError):
        raise ReceiptError("the receipt's claims are not those of a receipt") from None
    return claims, kid


class ProofBundle(BaseModel):
    """An audit entry, its inclusion proof, and the witnessed checkpoint it is proven in.

    ``checkpoint`` is a C2SP signed note: the trail's signature and the witnesses'
    cosignatures. Any RFC 6962 verifier checks ``verify_inclusion(SHA-256(0x00 ||
    base64-decoded entry), index, tree_size, proof, root of the checkpoint)``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["lienthong-proof-bundle/v1"] = BUNDLE_FORMAT
    audit_id: str
    entry: str = Field(description="The entry's record bytes (its leaf data), base64.")
    index: int = Field(ge=0)
    tree_size: int = Field(ge=1)
    proof: list[Hex32] = Field(description="The audit path, bottom up (RFC 9162, 2.1.3).")
    checkpoint: str = Field(description="The checkpoint's signed note, with cosignatures.")

    def recorded(self) -> dict[str, Any]:
        """The audit entry the bundle holds (as recorded: no personal data in clear).

        Raises:
            ReceiptError: the bundle's entry is not an audit entry's record.
        """
        try:
            stored = orjson.loads(base64.b64decode(self.entry, validate=True))
        except (ValueError, orjson.JSONDecodeError):
            raise ReceiptError("the bundle's entry is not an audit entry's record") from None
        entry = stored.get("entry") if isinstance(stored, dict) else None
        if not isinstance(entry, dict) or stored.get("index") != self.index:
            raise ReceiptError(f"the bundle's entry is not entry {self.audit_id}")
        return entry


def check_bundle(
    bundle: ProofBundle,
    claims: ReceiptClaims,
    log_key: Ed25519PublicKey,
    witnesses: Sequence[Verifier],
    *,
    quorum: int,
) -> tuple[int, list[str]]:
    """Check that the receipt's call is in a checkpoint a quorum of witnesses cosigned.

    Args:
        bundle: The proof bundle.
        claims: The receipt's claims (its signature already checked).
        log_key: The key that signed the receipt: it signs the trail's checkpoints too.
        witnesses: The witnesses' verifiers.
        quorum: The cosignatures needed.

    Returns:
        The checkpoint's size and the names of the witnesses whose cosignatures hold.

    Raises:
        ReceiptError: the entry is not the receipt's call, not in the checkpoint, or
            the checkpoint is not signed by the trail or not cosigned by a quorum.
    """
    if bundle.audit_id != claims.audit_id:
        raise ReceiptError(f"the bundle proves {bundle.audit_id}, not {claims.audit_id}")
    node, index = parse_audit_id(claims.audit_id)
    if bundle.index != index:
        raise ReceiptError(f"the bundle proves index {bundle.index}, not {index}")
    _check_entry(bundle.recorded(), claims, node)
    try:
        note = parse_note(bundle.checkpoint)
        checkpoint = parse_checkpoint_text(note.text)
    except NoteError as exc:
        raise ReceiptError(f"the bundle's checkpoint is not a signed note ({exc})") from None
    if checkpoint.origin.rsplit("/", 1)[-1] != node:
        raise ReceiptError(f"the checkpoint is of {checkpoint.origin}, not of node {node}")
    try:
        open_note(note, [Verifier(checkpoint.origin, ED25519, log_key)])
    except NoteError:
        raise ReceiptError("the checkpoint is not signed by the receipt's key") from None
    if checkpoint.size != bundle.tree_size or not verify_inclusion(
        leaf_hash(base64.b64decode(bundle.entry)),
        index,
        checkpoint.size,
        [bytes.fromhex(item) for item in bundle.proof],
        checkpoint.root,
    ):
        raise ReceiptError(
            f"the entry {claims.audit_id} is not in the checkpoint of size {checkpoint.size}"
        )
    cosigned = sorted(
        {
            witness.name
            for witness in witnesses
            for line in note.signatures
            if witness.matches(line) and witness.verify(note.text, line)
        }
    )
    if len(cosigned) < quorum:
        raise ReceiptError(
            f"the checkpoint is cosigned by {len(cosigned)} of the {quorum} witnesses"
            " needed: the entry is not in a witnessed checkpoint"
        )
    return checkpoint.size, cosigned


def _check_entry(entry: dict[str, Any], claims: ReceiptClaims, node: str) -> None:
    """The entry must be the call the receipt names: same node, purpose and fields."""
    if entry.get("node") != node:
        raise ReceiptError(f"the bundle's entry is not entry {claims.audit_id}")
    named = ("client", "officer", "procedure", "dossier", "source", "operation", "fields")
    differ = [name for name in named if entry.get(name) != getattr(claims, name)]
    if differ:
        raise ReceiptError(
            f"the audit entry does not record what the receipt states ({', '.join(differ)})"
        )
    if entry.get("outcome") != "ok":
        raise ReceiptError("the audit entry records a call that did not succeed")
