"""Signed notes, checkpoints and cosignatures as C2SP specifies them.

Three small formats any transparency-log tool reads:

- a signed note (c2sp.org/signed-note): a text ending in a newline, a blank line, and
  signature lines ``— <key name> base64(key id || signature)``; a verifier key (vkey)
  is ``<name>+<hex key id>+base64(type || public key)``;
- a checkpoint (c2sp.org/tlog-checkpoint): the note text ``origin``, tree size, base64
  root, then optional extension lines;
- a cosignature (c2sp.org/tlog-cosignature, Ed25519 ``cosignature/v1``, type 0x04): a
  witness's timestamped signature over ``cosignature/v1``, ``time T`` and the
  checkpoint's text.

The trail signs its checkpoints with these, and the witness (`hub.witness`) verifies
them and cosigns; neither needs anything else of the other. Ed25519 is the
``cryptography`` package's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "COSIGNATURE",
    "ED25519",
    "CheckpointText",
    "NoteError",
    "NoteSignature",
    "SignedNote",
    "Signer",
    "Verifier",
    "cosignature_message",
    "open_note",
    "parse_checkpoint_text",
    "parse_note",
]

#: Signature types (c2sp.org/signed-note, "Signature types").
ED25519 = 0x01
COSIGNATURE = 0x04

DASH = "\u2014"
#: At most this many signatures are read from a note (the spec asks for at least 16).
MAX_SIGNATURES = 100
_NAME = re.compile(r"^[^\s+]+$")
_SIZE = re.compile(r"^(0|[1-9][0-9]{0,19})$")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


class NoteError(ValueError):
    """A note is malformed, or no trusted signature on it verifies."""


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError("not standard base64") from None


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, kind: int, public: Ed25519PublicKey) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4], the signed-note key id."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + _raw(public)).digest()[:4]


def cosignature_message(text: str, timestamp: int) -> bytes:
    """What an Ed25519 ``cosignature/v1`` signs: header, time line, checkpoint text."""
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes

    @property
    def line(self) -> str:
        """The line as written in the note, with its newline."""
        data = base64.b64encode(self.key_id + self.signature).decode()
        return f"{DASH} {self.name} {data}\n"

    @classmethod
    def parse_line(cls, line: str) -> NoteSignature:
        """A signature line (with or without its newline).

        Raises:
            NoteError: it is not one.
        """
        body = line.removesuffix("\n")
        if not body.startswith(DASH + " "):
            raise NoteError("a signature line starts with an em dash and a space")
        name, _, data = body[2:].partition(" ")
        if not _NAME.match(name) or not data or " " in data:
            raise NoteError("a signature line is '— <key name> <base64>'")
        raw = _b64decode(data)
        if len(raw) < 5:
            raise NoteError("a signature is a key id and signature bytes")
        return cls(name=name, key_id=raw[:4], signature=raw[4:])


@dataclass(frozen=True, slots=True)
class SignedNote:
    """A note's text (with its final newline) and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __str__(self) -> str:
        return self.text + "\n" + "".join(item.line for item in self.signatures)

    def with_signatures(self, extra: Iterable[NoteSignature]) -> SignedNote:
        """The same note with ``extra`` signature lines after its own."""
        return SignedNote(self.text, (*self.signatures, *extra))


def parse_note(data: str | bytes) -> SignedNote:
    """Split a signed note into its text and signature lines (no signature checked).

    Raises:
        NoteError: it is not a well-formed signed note.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("a note is UTF-8") from None
    if _CONTROL.search(data):
        raise NoteError("a note holds no control characters but newlines")
    if not data.endswith("\n"):
        raise NoteError("a note ends with a newline")
    # The text is separated from the signatures by the note's last empty line.
    split = data.rfind("\n\n")
    if split < 0:
        raise NoteError("a note has a blank line before its signatures")
    text, block = data[: split + 1], data[split + 2 :]
    lines = block.splitlines(keepends=True)
    if not lines:
        raise NoteError("a note has at least one signature")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note has at most {MAX_SIGNATURES} signatures")
    return SignedNote(text, tuple(NoteSignature.parse_line(line) for line in lines))


@dataclass(frozen=True, slots=True)
class Verifier:
    """A trusted key: its name, signature type and Ed25519 public key.

    Type 0x01 checks a log's Ed25519 note signature; type 0x04 a witness's
    timestamped ``cosignature/v1``.
    """

    name: str
    kind: int
    public: Ed25519PublicKey

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise NoteError("a key name is not empty and holds no space or plus sign")
        if self.kind not in (ED25519, COSIGNATURE):
            raise NoteError(f"signature type {self.kind:#04x} is not supported")

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id its signature lines carry."""
        return key_id(self.name, self.kind, self.public)

    @property
    def vkey(self) -> str:
        """The verifier key: ``name+hex(key id)+base64(type || public key)``."""
        material = base64.b64encode(bytes([self.kind]) + _raw(self.public)).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Read a verifier key.

        Raises:
            NoteError: it is not an Ed25519 or Ed25519 cosignature vkey, or its key id
                does not match its key.
        """
        # The name holds no plus sign; the base64 key may.
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise NoteError("a verifier key is name+hex key id+base64 key")
        name, hex_id, material = parts
        raw = _b64decode(material)
        if len(raw) != 33:
            raise NoteError("a verifier key holds a type byte and a 32-byte Ed25519 key")
        verifier = cls(name=name, kind=raw[0], public=Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_id.hex() != hex_id:
            raise NoteError("the verifier key's id does not match its name and key")
        return verifier

    def matches(self, signature: NoteSignature) -> bool:
        """Whether ``signature`` claims to be by this key (name and id)."""
        return signature.name == self.name and signature.key_id == self.key_id

    def verify(self, text: str, signature: NoteSignature) -> bool:
        """Whether ``signature`` (one of this key's) holds over the note ``text``."""
        data = signature.signature
        if self.kind == COSIGNATURE:
            if len(data) != 72:
                return False
            timestamp = int.from_bytes(data[:8], "big")
            if timestamp == 0 or timestamp >= 1 << 63:
                return False
            message, data = cosignature_message(text, timestamp), data[8:]
        else:
            message = text.encode()
        try:
            self.public.verify(data, message)
        except InvalidSignature:
            return False
        return True


def cosignature_time(signature: NoteSignature) -> int:
    """The POSIX time a ``cosignature/v1`` states (its first 8 bytes)."""
    return int.from_bytes(signature.signature[:8], "big")


@dataclass(frozen=True, slots=True)
class Signer:
    """A signing key under a name: a log's (type 0x01) or a witness's (type 0x04)."""

    name: str
    key: Ed25519PrivateKey
    kind: int = ED25519

    @property
    def verifier(self) -> Verifier:
        """The matching verifier."""
        return Verifier(self.name, self.kind, self.key.public_key())

    def sign(self, text: str, *, timestamp: int | None = None) -> NoteSignature:
        """The signature line over a note text (a cosignature needs ``timestamp``)."""
        if not text.endswith("\n") or _CONTROL.search(text):
            raise NoteError("a note text ends with a newline and holds no control characters")
        if self.kind == COSIGNATURE:
            if timestamp is None or not 0 < timestamp < 1 << 63:
                raise NoteError("a cosignature states a positive POSIX time")
            raw = timestamp.to_bytes(8, "big") + self.key.sign(cosignature_message(text, timestamp))
        else:
            raw = self.key.sign(text.encode())
        return NoteSignature(self.name, self.verifier.key_id, raw)


def open_note(
    data: str | bytes | SignedNote, verifiers: Sequence[Verifier]
) -> tuple[SignedNote, list[tuple[Verifier, NoteSignature]]]:
    """Check a signed note against trusted keys, as signed-note asks.

    Signatures by unknown keys are ignored; one by a known key that fails rejects the
    note; at least one known signature must hold.

    Returns:
        The note, and the trusted keys whose signatures hold with those signatures.

    Raises:
        NoteError: malformed, a known signature fails, or none is known.
    """
    note = data if isinstance(data, SignedNote) else parse_note(data)
    verified: list[tuple[Verifier, NoteSignature]] = []
    for signature in note.signatures:
        for verifier in verifiers:
            if verifier.matches(signature):
                if not verifier.verify(note.text, signature):
                    raise NoteError(f"the signature of {signature.name} does not verify")
                verified.append((verifier, signature))
    if not verified:
        raise NoteError("no signature by a trusted key")
    return note, verified


@dataclass(frozen=True, slots=True)
class CheckpointText:
    """A tlog-checkpoint's text: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __str__(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "".join(f"{line}\n" for line in (*lines, *self.extensions))


def parse_checkpoint_text(text: str) -> CheckpointText:
    """Read a checkpoint's note text.

    Raises:
        NoteError: it is not a checkpoint.
    """
    if not text.endswith("\n"):
        raise NoteError("a checkpoint ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise NoteError("a checkpoint has at least three non-empty lines")
    origin, size, root = lines[:3]
    if not _SIZE.match(size):
        raise NoteError("a checkpoint's size is a decimal without leading zeroes")
    raw = _b64decode(root)
    if len(raw) != 32:
        raise NoteError("a checkpoint's root is a 32-byte hash")
    return CheckpointText(origin=origin, size=int(size), root=raw, extensions=tuple(lines[3:]))
