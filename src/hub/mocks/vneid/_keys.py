"""The provider's keys: its signing keys (rotated on demand) and the demo client's pair.

Every EC key is derived from a label, so that the same seed gives the same keys and a
failing run replays. An RSA key cannot be derived that way with cryptography: it is
made once per label and process, so that mocks of one seed agree while the process
lives. The demo client's key does not depend on the seed: a hub is pointed at the mock
by `hub_settings(base_url)`, which knows no seed.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey, RSAKey

DEMO_CLIENT_ID = "lienthong-demo"
#: The demo client again, registered with ``id_token_signed_response_alg`` RS256.
DEMO_RS256_CLIENT_ID = "lienthong-demo-rs256"
#: The algorithms the provider signs ID tokens with; a client registers one of them.
ID_TOKEN_ALGORITHMS = ("ES256", "RS256")
SigningKey = ECKey | RSAKey
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


@functools.lru_cache(maxsize=64)
def made_rsa_key(label: str) -> RSAKey:
    """An RSA 2048 key pair for ``label``, made once per process, with its thumbprint as kid."""
    key = RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return key


def signing_key(label: str, algorithm: str) -> SigningKey:
    """The key of ``label`` for an ID token algorithm: EC P-256 for ES256, RSA for RS256."""
    return derive_key(label) if algorithm == "ES256" else made_rsa_key(label)


def demo_client_key() -> ECKey:
    """The demo client's key pair: the mock holds its public half, the hub its private half."""
    return derive_key(_DEMO_CLIENT_LABEL)


def demo_client_pem() -> str:
    """The demo client's private key as PKCS#8 PEM, for the hub's settings."""
    return demo_client_key().as_pem(private=True).decode("ascii")


def rogue_key(algorithm: str = "ES256") -> SigningKey:
    """A key the provider never publishes, for tokens a client must refuse."""
    return signing_key(_ROGUE_LABEL, algorithm)


def public_jwk(key: SigningKey, algorithm: str) -> dict[str, Any]:
    """The public half of a signing key as a JWKS entry."""
    return dict(key.as_dict(private=False, use="sig", alg=algorithm))


class SigningKeys:
    """The provider's signing keys, one per algorithm: the current ones, and the previous
    ones for a while.

    After a rotation the JWKS still publishes the previous keys, so that tokens signed
    just before stay verifiable, until the next rotation or until they are dropped.

    Args:
        seed: The mock's seed; the n-th keys of a seed are always the same.
    """

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._generation = 0
        self.current = self._derive()
        self.previous: dict[str, SigningKey] = {}
        self._jwks = self._publish()

    def _derive(self) -> dict[str, SigningKey]:
        label = f"vneid-signing:{self._seed}:{self._generation}"
        return {algorithm: signing_key(label, algorithm) for algorithm in ID_TOKEN_ALGORITHMS}

    def _publish(self) -> dict[str, Any]:
        keys = [*self.current.items(), *self.previous.items()]
        return {"keys": [public_jwk(key, algorithm) for algorithm, key in keys]}

    def rotate(self, *, drop_previous: bool = False) -> None:
        """Make new keys current; keep the old ones published unless ``drop_previous``."""
        self._generation += 1
        self.previous = {} if drop_previous else self.current
        self.current = self._derive()
        self._jwks = self._publish()

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set the provider publishes (built once per rotation)."""
        return self._jwks
