"""Who is calling: an API key (stored hashed) or a client certificate."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from hub._config import ClientSettings
from hub.errors import Unauthenticated
from hub.sidecar._tls import common_name

__all__ = ["Authenticator", "hash_key"]


def hash_key(key: str) -> str:
    """The SHA-256 (hex) under which a client's key is configured."""
    return hashlib.sha256(key.encode()).hexdigest()


class Authenticator:
    """Maps credentials to client names; revoked clients and unknown keys are refused.

    Args:
        clients: The configured clients.
    """

    def __init__(self, clients: Mapping[str, ClientSettings]) -> None:
        self._keys = [
            (settings.key_sha256, name, settings.revoked)
            for name, settings in clients.items()
            if settings.key_sha256
        ]
        self._certificates = {
            settings.certificate_cn: (name, settings.revoked)
            for name, settings in clients.items()
            if settings.certificate_cn
        }

    def client(self, authorization: str | None, certificate_name: str | None) -> str:
        """The client's name, or `Unauthenticated` (with nothing of the credential in it)."""
        if authorization:
            scheme, _, key = authorization.partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise Unauthenticated("use Authorization: Bearer <key>")
            return self._by_key(key.strip())
        if certificate_name:
            cn = common_name(certificate_name)
            found = self._certificates.get(cn) if cn else None
            if found is None or found[1]:
                raise Unauthenticated("this client certificate is not accepted")
            return found[0]
        raise Unauthenticated("credentials required: Authorization: Bearer <key>")

    def _by_key(self, key: str) -> str:
        digest = hash_key(key)
        match: tuple[str, bool] | None = None
        # Compare against every stored hash, in constant time each, whatever matches.
        for stored, name, revoked in self._keys:
            if hmac.compare_digest(stored, digest):
                match = (name, revoked)
        if match is None or match[1]:
            raise Unauthenticated("this key is not accepted")
        return match[0]
