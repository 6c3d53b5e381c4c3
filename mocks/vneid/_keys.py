"""The provider's keys: its signing keys (rotated on demand) and the demo client's pair.

Every key is derived from a label, so that the same seed gives the same keys and a
failing run replays. The demo client's key does not depend on the seed: a hub is
pointed at the mock by `hub_settings(base_url)`, which knows no seed.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

DEMO_CLIENT_ID = "lienthong-demo"
_DEMO_CLIENT_LABEL = "vneid-demo-client"
_ROGUE_LABEL = "vneid-rogue-signer"


def derive_key(label: str) -> ECKey:
    """An EC P-256 key pair derived from ``label``, with its RFC 7638 thumbprint as kid."""
    counter = 0
    while True:
        digest = hashlib.sha256(f"{label}:{counter}".encode()).digest()
        try:
            private = ec.derive_private_key(int.from_bytes(digest, "big"), ec.SECP256R1())
        except ValueError:
            # The digest is zero or not below the curve's order (odds about 2**-32).
            counter += 1
            continue
        key = ECKey.import_key(private)
        key.ensure_kid()
        return key


def demo_client_key() -> ECKey:
    """The demo client's key pair: the mock holds its public half, the hub its private half."""
    return derive_key(_DEMO_CLIENT_LABEL)


def demo_client_pem() -> str:
    """The demo client's private key as PKCS#8 PEM, for the hub's settings."""
    return demo_client_key().as_pem(private=True).decode("ascii")


def rogue_key() -> ECKey:
    """A key the provider never publishes, for tokens a client must refuse."""
    return derive_key(_ROGUE_LABEL)


def public_jwk(key: ECKey) -> dict[str, Any]:
    """The public half of a signing key as a JWKS entry."""
    return dict(key.as_dict(private=False, use="sig", alg="ES256"))


class SigningKeys:
    """The provider's signing keys: the current one, and the previous one for a while.

    After a rotation the JWKS still publishes the previous key, so that tokens signed
    just before stay verifiable, until the next rotation or until it is dropped.

    Args:
        seed: The mock's seed; the n-th key of a seed is always the same.
    """

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._generation = 0
        self.current = self._derive()
        self.previous: ECKey | None = None
        self._jwks = self._publish()

    def _derive(self) -> ECKey:
        return derive_key(f"vneid-signing:{self._seed}:{self._generation}")

    def _publish(self) -> dict[str, Any]:
        keys = [self.current] if self.previous is None else [self.current, self.previous]
        return {"keys": [public_jwk(key) for key in keys]}

    def rotate(self, *, drop_previous: bool = False) -> None:
        """Make a new key current; keep the old one published unless ``drop_previous``."""
        self._generation += 1
        self.previous = None if drop_previous else self.current
        self.current = self._derive()
        self._jwks = self._publish()

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set the provider publishes (built once per rotation)."""
        return self._jwks
