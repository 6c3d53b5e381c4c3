"""The trail's keys: development keys on first use, configured keys, pseudonyms."""

from __future__ import annotations

import hashlib
import hmac
import logging
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub._config import AuditSettings
from hub.audit import AuditTrail
from hub.audit._keys import (
    Pseudonymiser,
    generate_signing_key,
    load_public_key,
    pseudonym_key,
    signing_key,
)
from hub.errors import ConfigError
from tests.audit.conftest import NATIONAL_ID, NODE


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_development_keys_are_made_once_and_kept_private(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without configured keys, keys are made under keys/ (0600), reused, and warned of."""
    settings = AuditSettings(node=NODE)
    with caplog.at_level(logging.WARNING, logger="hub.audit"):
        first = signing_key(settings, data_dir=tmp_path)
        hmac_key = pseudonym_key(settings, data_dir=tmp_path)
    assert "development key" in caplog.text
    for name in ("audit-signing.pem", "audit-pseudonym.key"):
        assert stat.S_IMODE((tmp_path / "keys" / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert raw(signing_key(settings, data_dir=tmp_path)) == raw(first)
    assert pseudonym_key(settings, data_dir=tmp_path) == hmac_key
    assert len(hmac_key) >= 32


def test_no_development_key_is_made_when_asked_not_to(tmp_path: Path) -> None:
    """Commands that only read (find, verify) never invent a key."""
    settings = AuditSettings(node=NODE)
    with pytest.raises(ConfigError, match="no audit signing key"):
        signing_key(settings, data_dir=tmp_path, create=False)
    with pytest.raises(ConfigError, match="no audit pseudonym key"):
        pseudonym_key(settings, data_dir=tmp_path, create=False)
    assert not (tmp_path / "keys").exists()


def test_configured_keys_are_used(tmp_path: Path) -> None:
    """A configured PEM key signs; a configured HMAC key pseudonymises; no file is made."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    settings = AuditSettings(node=NODE, signing_key=pem, pseudonym_key="k" * 40)
    assert raw(signing_key(settings, data_dir=tmp_path)) == raw(key)
    assert pseudonym_key(settings, data_dir=tmp_path) == b"k" * 40
    assert not (tmp_path / "keys").exists()


def test_bad_configured_keys_are_refused(tmp_path: Path) -> None:
    """A key that is not Ed25519 PEM, or an HMAC key too short, is a ConfigError."""
    with pytest.raises(ConfigError, match="PEM"):
        signing_key(AuditSettings(node=NODE, signing_key="not a key"), data_dir=tmp_path)
    with pytest.raises(ConfigError, match="at least 32"):
        pseudonym_key(AuditSettings(node=NODE, pseudonym_key="short"), data_dir=tmp_path)


def test_pseudonym_is_the_hmac_of_the_stripped_identifier() -> None:
    """The pseudonym is HMAC-SHA256 of the identifier without surrounding spaces."""
    key = b"0123456789abcdef0123456789abcdef"
    pseudonymise = Pseudonymiser(key)
    expected = hmac.new(key, NATIONAL_ID.encode(), hashlib.sha256).hexdigest()
    assert pseudonymise(f"\t{NATIONAL_ID}  ") == expected
    assert Pseudonymiser(b"another key, another pseudonym!!")(NATIONAL_ID) != expected


async def test_no_key_in_a_repr(tmp_path: Path) -> None:
    """Neither the pseudonymiser nor the trail shows a key in its repr."""
    settings = AuditSettings(
        node=NODE, store=f"sqlite:///{tmp_path / 'audit.db'}", pseudonym_key="s" * 40
    )
    trail = await AuditTrail.open(settings, data_dir=tmp_path)
    try:
        assert "s" * 40 not in repr(trail)
        assert "s" * 40 not in repr(Pseudonymiser(b"s" * 40))
        assert NATIONAL_ID not in repr(trail)
    finally:
        await trail.aclose()


def test_generate_signing_key(tmp_path: Path) -> None:
    """A new key pair: private file 0600, public PEM returned; no silent overwrite."""
    path = tmp_path / "signing.pem"
    public_pem = generate_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (tmp_path / "public.pem").write_text(public_pem, encoding="utf-8")
    assert load_public_key(tmp_path / "public.pem") == load_public_key(path)
    with pytest.raises(FileExistsError):
        generate_signing_key(path)
    assert generate_signing_key(path, overwrite=True) != public_pem
