"""The trail's two keys: the Ed25519 key that signs checkpoints, the HMAC key of subjects.

Configured keys arrive as secrets (``file:...``, ``env:...``). Without one, a
development key is made under ``<data_dir>/keys/`` on first use (mode 0600) and reused
after, with a warning: such a key lives next to the trail it protects.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import SecretStr

from hub._config import AuditSettings, ConfigError
from hub._logging import get_logger, register_secret

__all__ = [
    "Pseudonymiser",
    "generate_signing_key",
    "load_public_key",
    "pseudonym_key",
    "public_key_pem",
    "signing_key",
]

log = get_logger("hub.audit")

KEYS_DIR = "keys"
SIGNING_KEY_FILE = "audit-signing.pem"
PSEUDONYM_KEY_FILE = "audit-pseudonym.key"
#: An HMAC key shorter than this would make the pseudonyms of 12-digit ids guessable.
MIN_PSEUDONYM_KEY_LENGTH = 32


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


def _write_new(path: Path, data: bytes) -> bool:
    """Write ``data`` to a new file of mode 0600, unless one exists; True when written.

    The file appears whole or not at all (written aside, then linked into place), so two
    processes starting together end up with one key between them.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


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
        _write_new(path, _private_pem(Ed25519PrivateKey.generate()))
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
    secret: SecretStr | None = settings.pseudonym_key
    if secret is not None:
        value = secret.get_secret_value()
        if len(value) < MIN_PSEUDONYM_KEY_LENGTH:
            raise ConfigError(
                f"audit.pseudonym_key: must be at least {MIN_PSEUDONYM_KEY_LENGTH} characters"
                " (e.g. 64 hex digits of a random source)"
            )
        register_secret(value)
        return value.encode()
    path = data_dir / KEYS_DIR / PSEUDONYM_KEY_FILE
    if not path.exists():
        if not create:
            raise ConfigError(f"no audit pseudonym key: none configured and none at {path}")
        _write_new(path, secrets.token_hex(32).encode())
    if create:
        log.warning(
            "audit subjects are pseudonymised with a development key;"
            " configure audit.pseudonym_key",
            path=str(path),
        )
    value = path.read_text(encoding="utf-8").strip()
    register_secret(value)
    return value.encode()


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
    if not _write_new(path, pem):
        raise FileExistsError(f"{path} exists")
    return public_key_pem(key.public_key())


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
    if b"PRIVATE KEY" in pem:
        return _load_private(pem, str(path)).public_key()
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise ConfigError(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: not an Ed25519 public key")
    return key
