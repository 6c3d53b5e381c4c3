"""A witness's configuration: its name, key, state folder, address and the logs it follows."""

from __future__ import annotations

import tomllib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.audit.note import COSIGNATURE, ED25519, NoteError, Signer, Verifier
from hub.errors import ConfigError

__all__ = ["WitnessConfig", "load_witness"]


class WitnessConfig(BaseModel):
    """The witness's TOML file (see docs/audit.md, "Witnesses")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The witness's name: a schema-less URL, the key name of its cosignatures.
    name: str = Field(pattern=r"^[^\s+]+$")
    #: Its Ed25519 private key (PEM), e.g. made with ``hub keys audit --out``.
    key: Path
    #: Where it keeps its state (``witness.db``).
    state: Path
    host: str = "127.0.0.1"
    port: int = Field(default=7380, ge=0, le=65535)
    #: The verifier keys (vkeys) of the log writers it follows, one per origin.
    logs: list[str] = Field(default_factory=list)

    @field_validator("logs")
    @classmethod
    def _vkeys(cls, value: list[str]) -> list[str]:
        for vkey in value:
            if Verifier.from_vkey(vkey).kind != ED25519:
                raise ValueError("a log's vkey is an Ed25519 note key (type 0x01)")
        return value

    def verifiers(self) -> list[Verifier]:
        """The logs' verifier keys."""
        return [Verifier.from_vkey(vkey) for vkey in self.logs]

    def signer(self) -> Signer:
        """The witness's cosigning key.

        Raises:
            ConfigError: the key file cannot be read or is not an Ed25519 private key.
        """
        try:
            key = load_pem_private_key(self.key.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"witness key {self.key}: cannot be read ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"witness key {self.key}: not an Ed25519 private key")
        return Signer(self.name, key, COSIGNATURE)


def load_witness(path: Path | None, **overrides: object) -> WitnessConfig:
    """The configuration in ``path`` (if any) with ``overrides`` (None values ignored).

    Raises:
        ConfigError: the file cannot be read or a value is invalid.
    """
    values: dict[str, object] = {}
    if path is not None:
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
    values.update({name: value for name, value in overrides.items() if value is not None})
    try:
        return WitnessConfig.model_validate(values)
    except (ValidationError, NoteError) as exc:
        raise ConfigError(f"witness configuration: {exc}") from None
