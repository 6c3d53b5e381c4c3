"""The sidecar's HTTP protocol: uvicorn's httptools one, with read deadlines and mutual TLS.

uvicorn bounds neither how long a request's headers nor its body may take to arrive:
a client that sends a byte now and then holds its connection for as long as it likes.
Here a request has ``header_timeout`` seconds from its first byte (or from the
connection's opening) to the end of its headers, then ``body_timeout`` seconds to the
end of its body; a client still sending then gets 408, and the connection is closed.
A connection idle since its opening is closed without a word.

uvicorn verifies client certificates (``ssl_cert_reqs``, ``ssl_ca_certs``) but does not
pass them to the application: each request's scope gets the peer's certificate as the
ASGI TLS extension's ``client_cert_chain`` (PEM), for the app to read its subject.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Callable
from typing import Any, Literal

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["SidecarProtocol", "sidecar_protocol"]

_TIMEOUT_BODY = orjson.dumps(
    {
        "type": "urn:lienthong:problem:request_timeout",
        "title": "Request timeout",
        "status": 408,
        "detail": "the request did not arrive in time",
    }
)
_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/problem+json\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _TIMEOUT_BODY
)


class SidecarProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read deadlines and the client's certificate."""

    def __init__(
        self, *args: Any, header_timeout: float = 10.0, body_timeout: float = 10.0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self._deadline: asyncio.TimerHandle | None = None
        # What the connection waits for from the client: a request, its headers, its body.
        self._awaiting: Literal["request", "headers", "body"] = "request"
        self._tls: dict[object, object] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
        certificate = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        if certificate:
            self._tls = {"client_cert_chain": [ssl.DER_cert_to_PEM_cert(certificate)]}
        self._expect("request", self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            self.scope["extensions"] = {"tls": self._tls}
        self._expect("headers", self.header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._expect("body", self.body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting = "request"
        self._cancel_deadline()
        if self.cycle is not None and self.cycle.response_complete:
            # Answered before its body was in (a 401, a 413): uvicorn's keep-alive timer
            # was armed then, and every byte of the body since has disarmed it.
            self._expect("request", self.header_timeout)

    def _expect(self, what: Literal["request", "headers", "body"], seconds: float) -> None:
        self._cancel_deadline()
        self._awaiting = what
        self._deadline = self.loop.call_later(seconds, self._expired, seconds)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, seconds: float) -> None:
        self._deadline = None
        cycle = self.cycle
        if self.pipeline or (
            self._awaiting != "body" and cycle is not None and not cycle.response_complete
        ):
            # An earlier request of this connection is still being answered (reading
            # may be paused meanwhile): the client waits for us, not we for it.
            self._expect(self._awaiting, seconds)
            return
        if self._awaiting == "headers":
            self.transport.write(_TIMEOUT)
        elif self._awaiting == "body" and cycle is not None and not cycle.response_started:
            # The app waits for the rest of the body: it gets a disconnect, and writes nothing.
            cycle.disconnected = True
            cycle.message_event.set()
            self.transport.write(_TIMEOUT)
        self.transport.close()


def sidecar_protocol(
    *, header_timeout: float, body_timeout: float
) -> Callable[..., SidecarProtocol]:
    """The protocol with these read deadlines, as uvicorn makes one per connection.

    A partial of a module-level class, not a class made here: the supervisor of
    ``--workers`` hands its configuration to each worker pickled.
    """
    return functools.partial(
        SidecarProtocol, header_timeout=header_timeout, body_timeout=body_timeout
    )
