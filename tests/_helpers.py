"""Helpers that tests of several folders share."""

from __future__ import annotations

from pathlib import Path

from hub.audit._keys import generate_audit_keys

__all__ = ["audit_keys", "audit_keys_toml"]


def audit_keys(folder: Path) -> dict[str, str]:
    """Configured audit keys, made under ``folder`` once: the ``[audit]`` values naming them.

    A shared (PostgreSQL) trail refuses development keys; the replicas of a test share
    these by passing the same folder.
    """
    keys = folder / "audit-keys"
    if not keys.exists():
        generate_audit_keys(keys)
    return {
        name: f"file:{keys / file}"
        for name, file in (
            ("signing_key", "audit-signing.pem"),
            ("pseudonym_key", "audit-pseudonym.key"),
            ("mac_key", "audit-mac.key"),
        )
    }


def audit_keys_toml(folder: Path) -> str:
    """`audit_keys` as lines of an ``[audit]`` table."""
    return "".join(f'{name} = "{value}"\n' for name, value in audit_keys(folder).items())
