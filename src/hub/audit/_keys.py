"""The trail's keys: the Ed25519 key that signs checkpoints, the HMAC keys of subjects and
of the entries' MAC chain, and the public keys a verifier trusts.

Configured keys arrive as secrets (``file:...``, ``env:...``). Without one, a
development key is made under ``<data_dir>/keys/`` on first use (mode 0600) and reused
after, with a warning: such a key lives next to the trail it protects, and it is
refused on a shared (PostgreSQL) trail unless ``[audit] development`` says otherwise,
since every replica must hold the same keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from hub._config import AuditSettings
from hub._files import write_new_private
from hub._logging import get_logger, register_secret
from hub.errors import ConfigError

__all__ = [
    "EntryMac",
    "Pseudonymiser",
    "fingerprint",
    "generate_audit_keys",
    "generate_signing_key",
    "key_id",
    "load_public_key",
    "mac_key",
    "parse_public_key",
    "pseudonym_key",
    "public_key_pem",
    "require_configured_keys",
    "signing_key",
    "trusted_keys",
]

log = get_logger("hub.audit")

KEYS_DIR = "keys"
SIGNING_KEY_FILE = "audit-signing.pem"
PSEUDONYM_KEY_FILE = "audit-pseudonym.key"
MAC_KEY_FILE = "audit-mac.key"
#: An HMAC key shorter than this would make the pseudonyms of 12-digit ids guessable.
MIN_PSEUDONYM_KEY_LENGTH = 32
#: The MAC of the entry before the first: the chain of every node starts here.
GENESIS_MAC = bytes(32)
_MAC_LABEL = b"lienthong/audit-entry-mac/v1\n"
_FINGERPRINT_LABEL = b"lienthong/audit-key-fingerprint/v1\n"


class Pseudonymiser:
    """HMAC-SHA256 of identifiers under one key; the key never shows in a repr.

    Args:
        key: The HMAC key.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, identifier: str) -> str:
        """The pseudonym (lowercase hex) of an identifier, surrounding spaces stripped."""
        return hmac.new(self._key, identifier.strip().encode(), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "Pseudonymiser(key=**********)"


class EntryMac:
    """The MAC chain of a node's entries: HMAC-SHA256 over the MAC before and the leaf.

    Each entry's MAC covers the node, the previous entry's MAC and the entry's leaf hash
    (which binds its index), so an entry that someone without the key inserts, moves or
    alters after the newest checkpoint breaks the chain at that entry.

    Args:
        key: The MAC key (``audit.mac_key``).
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, node: str, previous: bytes, leaf: bytes) -> bytes:
        """The MAC of the entry whose leaf hash is ``leaf``, after one whose MAC is ``previous``."""
        message = _MAC_LABEL + node.encode() + b"\n" + previous + leaf
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def derive(self, label: bytes) -> bytes:
        """A 32-byte key for another use, derived with HKDF-SHA256 under ``label``.

        Every node of a trail holds the MAC key, so a key derived from it is shared by
        every replica without another secret to distribute; the label keeps each use
        apart from the MAC chain and from the others.
        """
        return HKDF(algorithm=SHA256(), length=32, salt=None, info=label).derive(self._key)

    def __repr__(self) -> str:
        return "EntryMac(key=**********)"


def fingerprint(key: bytes) -> str:
    """A keyed hash of a fixed label: tells two keys apart without revealing either."""
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


def key_id(key: Ed25519PublicKey) -> str:
    """The short name of a public key in checkpoints: the first 8 bytes of its SHA-256, hex."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_private(pem: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{where}: the audit signing key must be an Ed25519 key")
    return key


def signing_key(
    settings: AuditSettings, *, data_dir: Path, create: bool = True
) -> Ed25519PrivateKey:
    """The key that signs checkpoints: the configured one, else the development key.

    Args:
        settings: The ``[audit]`` settings.
        data_dir: Where a development key is kept (under ``keys/``).
        create: Make the development key when there is none yet (and warn that it is
            used); false for commands that only read the trail.

    Raises:
        ConfigError: the configured key is not an Ed25519 PEM private key, or there is
            no key and ``create`` is false.
    """
    if settings.signing_key is not None:
        secret = settings.signing_key.get_secret_value()
        register_secret(secret)
        return _load_private(secret.encode(), "audit.signing_key")
    path = data_dir / KEYS_DIR / SIGNING_KEY_FILE
    if not path.exists():
        if not create:
            raise ConfigError(f"no audit signing key: none configured and none at {path}")
        write_new_private(path, _private_pem(Ed25519PrivateKey.generate()))
    if create:
        log.warning(
            "audit checkpoints are signed with a development key; configure audit.signing_key",
            path=str(path),
        )
    return _load_private(path.read_bytes(), str(path))


def pseudonym_key(settings: AuditSettings, *, data_dir: Path, create: bool = True) -> bytes:
    """The HMAC key of subjects: the configured one, else the development key.

    The key is the UTF-8 bytes of the configured text (at least 32 characters, e.g.
    64 hex digits from a random source); every node that must find the same subjects
    needs the same key.

    Args:
        settings: The ``[audit]`` settings.
        data_dir: Where a development key is kept (under ``keys/``).
        create: Make the development key when there is none yet.

    Raises:
        ConfigError: the configured key is too short, or there is no key and
            ``create`` is false.
    """
    return _hmac_key(
        settings.pseudonym_key,
        "pseudonym_key",
        data_dir / KEYS_DIR / PSEUDONYM_KEY_FILE,
        create=create,
        warning="audit subjects are pseudonymised with a development key",
    )


def mac_key(settings: AuditSettings, *, data_dir: Path, create: bool = True) -> bytes:
    """The key of the entries' MAC chain: the configured one, else the development key.

    Kept with the signing key, outside the store: whoever holds it can add entries that
    the writer accepts as its own.

    Args:
        settings: The ``[audit]`` settings.
        data_dir: Where a development key is kept (under ``keys/``).
        create: Make the development key when there is none yet.

    Raises:
        ConfigError: the configured key is too short, or there is no key and
            ``create`` is false.
    """
    return _hmac_key(
        settings.mac_key,
        "mac_key",
        data_dir / KEYS_DIR / MAC_KEY_FILE,
        create=create,
        warning="audit entries are chained with a development MAC key",
    )


def _hmac_key(
    secret: SecretStr | None, name: str, path: Path, *, create: bool, warning: str
) -> bytes:
    if secret is not None:
        value = secret.get_secret_value()
        if len(value) < MIN_PSEUDONYM_KEY_LENGTH:
            raise ConfigError(
                f"audit.{name}: must be at least {MIN_PSEUDONYM_KEY_LENGTH} characters"
                " (e.g. 64 hex digits of a random source)"
            )
        register_secret(value)
        return value.encode()
    if not path.exists():
        if not create:
            raise ConfigError(
                f"no audit {name.replace('_', ' ')}: none configured and none at {path}"
            )
        write_new_private(path, secrets.token_hex(32).encode())
    if create:
        log.warning(f"{warning}; configure audit.{name}", path=str(path))
    value = path.read_text(encoding="utf-8").strip()
    register_secret(value)
    return value.encode()


def require_configured_keys(settings: AuditSettings) -> None:
    """Refuse development keys on a shared trail, unless ``[audit] development`` allows them.

    Each process folder would make keys of its own: checkpoints that read as forged on
    the other replicas, and pseudonyms under which nobody finds the other replicas'
    entries.

    Raises:
        ConfigError: a key is missing, naming each.
    """
    missing = [
        f"audit.{name}"
        for name in ("signing_key", "pseudonym_key", "mac_key")
        if getattr(settings, name) is None
    ]
    if not missing:
        return
    if settings.development:
        log.warning(
            "development keys on a shared audit trail: every replica must use the same keys;"
            " configure them before real use",
            missing=missing,
        )
        return
    raise ConfigError(
        f"{', '.join(missing)}: a shared (PostgreSQL) audit trail needs configured keys,"
        " the same on every replica (`hub keys audit --dir DIR` makes them); for a trial,"
        " set [audit] development = true"
    )


def generate_signing_key(path: Path, *, overwrite: bool = False) -> str:
    """Make an Ed25519 key pair: the private key to ``path`` (mode 0600), the public returned.

    Args:
        path: Where to write the private key (PEM, PKCS#8, unencrypted).
        overwrite: Replace an existing file; otherwise an existing file is an error.

    Returns:
        The public key as PEM, for inspectors (``hub audit verify --public-key``).

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
    """
    key = Ed25519PrivateKey.generate()
    pem = _private_pem(key)
    if overwrite:
        path.unlink(missing_ok=True)
    if not write_new_private(path, pem):
        raise FileExistsError(f"{path} exists")
    return public_key_pem(key.public_key())


def generate_audit_keys(folder: Path) -> dict[str, Path]:
    """Make every key of a trail in ``folder`` (mode 0700, files 0600); none is replaced.

    Every node of a shared trail is given the same files.

    Returns:
        The ``[audit]`` setting each file is for (``signing_key``, ``pseudonym_key``,
        ``mac_key``), and ``public_key``: the signing key's public half, for inspectors.

    Raises:
        FileExistsError: a key file exists already.
    """
    paths = {
        "signing_key": folder / "audit-signing.pem",
        "pseudonym_key": folder / "audit-pseudonym.key",
        "mac_key": folder / "audit-mac.key",
        "public_key": folder / "audit-signing.pub",
    }
    existing = [str(path) for path in paths.values() if path.exists()]
    if existing:
        raise FileExistsError(", ".join(existing))
    public = generate_signing_key(paths["signing_key"])
    for name in ("pseudonym_key", "mac_key"):
        write_new_private(paths[name], secrets.token_hex(32).encode())
    write_new_private(paths["public_key"], public.encode())
    return paths


def public_key_pem(key: Ed25519PublicKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file holding it (or its private key).

    Raises:
        ConfigError: the file is unreadable or holds no Ed25519 key.
    """
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return parse_public_key(pem, str(path))


def parse_public_key(pem: bytes, where: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text holding it (or its private key).

    Args:
        pem: The PEM text.
        where: Where it came from, for the error message.

    Raises:
        ConfigError: the text holds no Ed25519 key.
    """
    if b"PRIVATE KEY" in pem:
        return _load_private(pem, where).public_key()
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{where}: not an Ed25519 public key")
    return key


def trusted_keys(settings: AuditSettings) -> list[Ed25519PublicKey]:
    """The public keys of ``[audit] trusted_keys``, in order.

    Raises:
        ConfigError: an entry holds no Ed25519 public key.
    """
    return [
        parse_public_key(secret.get_secret_value().encode(), f"audit.trusted_keys[{number}]")
        for number, secret in enumerate(settings.trusted_keys)
    ]
