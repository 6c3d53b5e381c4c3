"""Mutual TLS for the sidecar: uvicorn's HTTP protocol, telling the app who connected.

uvicorn verifies client certificates (``ssl_cert_reqs``, ``ssl_ca_certs``) but does not
pass them to the application. This protocol adds the ASGI TLS extension's
``client_cert_name`` (the subject as an RFC 4514 string) to each request's scope.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["TlsHttpToolsProtocol", "common_name"]


def _rfc4514(subject: tuple[tuple[tuple[str, str], ...], ...]) -> str:
    names = {
        "commonName": "CN",
        "organizationName": "O",
        "organizationalUnitName": "OU",
        "countryName": "C",
    }
    parts = [f"{names.get(key, key)}={value}" for rdn in reversed(subject) for key, value in rdn]
    return ",".join(parts)


def common_name(distinguished_name: str) -> str | None:
    """The CN of an RFC 4514 distinguished name, if it has one."""
    for part in distinguished_name.split(","):
        key, _, value = part.partition("=")
        if key.strip().upper() == "CN":
            return value.strip()
    return None


class TlsHttpToolsProtocol(HttpToolsProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        ssl_object: Any = self.transport.get_extra_info("ssl_object")
        certificate = ssl_object.getpeercert() if ssl_object is not None else None
        if certificate:
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions["tls"] = {"client_cert_name": _rfc4514(certificate["subject"])}
