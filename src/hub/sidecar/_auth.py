"""Who is calling: an API key (stored hashed) or a client certificate."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from cryptography import x509
from cryptography.x509.oid import NameOID

from hub._config import ClientSettings
from hub.errors import Unauthenticated

__all__ = ["REASONS", "Authenticator", "Refused", "hash_key"]

#: Why an authentication failed: the labels of the failure counter, a fixed set.
REASONS = (
    "missing",
    "malformed",
    "unknown_key",
    "certificate_name",
    "unknown_certificate",
    "revoked",
)


def hash_key(key: str) -> str:
    """The SHA-256 (hex) under which a client's key is configured."""
    return hashlib.sha256(key.encode()).hexdigest()


class Refused(Unauthenticated):
    """A failed authentication, with its reason (one of `REASONS`) for logs and metrics.

    Args:
        detail: A sentence for the caller, with nothing of the credential in it.
        reason: Why, in one word of `REASONS`.
    """

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


class Authenticator:
    """Maps credentials to client names; revoked clients and unknown keys are refused.

    Args:
        clients: The configured clients (one client per key and per certificate name,
            which the configuration ensures).
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

    def client(self, authorization: str | None, certificate: str | None) -> str:
        """The client's name.

        Args:
            authorization: The ``Authorization`` header, if any; it wins over a certificate.
            certificate: The client's certificate (PEM) verified by the TLS handshake, if any.

        Raises:
            Refused: no credentials, or credentials of no (or a revoked) client.
        """
        if authorization:
            scheme, _, key = authorization.partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise Refused("use Authorization: Bearer <key>", reason="malformed")
            return self._by_key(key.strip())
        if certificate:
            found = self._certificates.get(_common_name(certificate))
            if found is None:
                raise Refused(
                    "this client certificate is not accepted", reason="unknown_certificate"
                )
            if found[1]:
                raise Refused("this client certificate is not accepted", reason="revoked")
            return found[0]
        raise Refused("credentials required: Authorization: Bearer <key>", reason="missing")

    def _by_key(self, key: str) -> str:
        digest = hash_key(key)
        match: tuple[str, bool] | None = None
        # Compare against every stored hash, in constant time each, whatever matches.
        for stored, name, revoked in self._keys:
            if hmac.compare_digest(stored, digest):
                match = (name, revoked)
        if match is None:
            raise Refused("this key is not accepted", reason="unknown_key")
        if match[1]:
            raise Refused("this key is not accepted", reason="revoked")
        return match[0]


def _common_name(certificate: str) -> str:
    """The one common name of the certificate's subject, read as data, never as text.

    A name with several CNs, or none, is refused rather than guessed at: which one a
    reader would pick is exactly what a forged subject plays on.
    """
    subject = x509.load_pem_x509_certificate(certificate.encode("ascii")).subject
    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or not isinstance(names[0].value, str):
        raise Refused(
            "a client certificate must name exactly one common name (CN)",
            reason="certificate_name",
        )
    return names[0].value
