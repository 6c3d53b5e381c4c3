"""The driving-licence system's request signatures: API keys, HMAC-SHA256, single-use nonces.

Every request carries ``X-Api-Key``, ``X-Timestamp`` (Unix seconds), ``X-Nonce`` and
``X-Signature``, the lowercase hex HMAC-SHA256 under the key's secret of::

    METHOD \\n PATH[?QUERY] \\n TIMESTAMP \\n NONCE \\n SHA256_HEX(BODY)

where ``PATH[?QUERY]`` is the request target exactly as sent (the query, when there
is one, after a ``?``). The checks run in a fixed order and the first that fails
names itself; the values are never echoed back.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

#: How far a request's timestamp may be from the system's clock, either way.
WINDOW_SECONDS = 300
#: The header of each part, in the order they are checked for presence.
HEADERS = ("X-Api-Key", "X-Timestamp", "X-Nonce", "X-Signature")

_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")

# Each refusal: its code, and a message that describes the failure, never the value.
REFUSALS = {
    "missing_credentials": "A signature header is missing",
    "unknown_key": "The API key is not known",
    "expired_key": "The API key has expired",
    "invalid_timestamp": "X-Timestamp must be Unix seconds",
    "stale_timestamp": f"X-Timestamp is more than {WINDOW_SECONDS} seconds off",
    "invalid_nonce": "X-Nonce must be 16 to 64 letters, digits, '-' or '_'",
    "bad_signature": "The signature does not match the request",
    "replayed_nonce": "X-Nonce has been used before",
}


class Refused(Exception):
    """A request whose signature is not acceptable; ``code`` names the check that failed."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message or REFUSALS[code]


@dataclass
class ApiKey:
    """A key the system accepts; ``expires_at`` in Unix seconds, None for never."""

    secret: bytes
    expires_at: int | None = None


def string_to_sign(method: str, target: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The canonical text a signature covers."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{target}\n{timestamp}\n{nonce}\n{digest}".encode()


def signature(
    secret: bytes, method: str, target: str, timestamp: str, nonce: str, body: bytes
) -> str:
    """The lowercase hex HMAC-SHA256 of a request under ``secret``."""
    message = string_to_sign(method, target, timestamp, nonce, body)
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


class Authenticator:
    """Checks the signature headers of each request and remembers the nonces it accepted.

    A nonce is remembered only once the signature is good, so that nobody without the
    secret can spend someone else's nonces; it is forgotten once its timestamp has left
    the window, after which the request would be refused as stale anyway.

    Args:
        keys: The accepted keys, by API key.
        clock: Unix time in seconds.
    """

    def __init__(self, keys: dict[str, ApiKey], clock: Callable[[], float] = time.time) -> None:
        self.keys = keys
        self._clock = clock
        self._seen: set[tuple[str, str]] = set()
        self._expiries: list[tuple[int, str, str]] = []

    @property
    def remembered(self) -> int:
        """How many nonces are remembered now."""
        return len(self._seen)

    def check(
        self,
        method: str,
        target: str,
        headers: dict[str, str | None],
        body: bytes,
        skew: float = 0.0,
    ) -> str:
        """Accept a request or raise `Refused`; returns the API key it was signed with.

        Args:
            method: The HTTP method.
            target: The request target as sent: path, and ``?query`` when there is one.
            headers: The four signature headers (absent ones as None).
            body: The raw body.
            skew: Seconds this system's clock is off (the ``clock_skew`` fault).
        """
        for name in HEADERS:
            if not headers.get(name):
                raise Refused("missing_credentials", f"The {name} header is missing")
        api_key, timestamp, nonce, given = (str(headers[name]) for name in HEADERS)
        key = self.keys.get(api_key)
        if key is None:
            raise Refused("unknown_key")
        now = self._clock() + skew
        if key.expires_at is not None and key.expires_at <= now:
            raise Refused("expired_key")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise Refused("invalid_timestamp")
        if abs(now - int(timestamp)) > WINDOW_SECONDS:
            raise Refused("stale_timestamp")
        if not _NONCE.fullmatch(nonce):
            raise Refused("invalid_nonce")
        expected = signature(key.secret, method, target, timestamp, nonce, body)
        # Header values arrive decoded as Latin-1, so encoding them back cannot fail.
        if not hmac.compare_digest(expected.encode(), given.encode("latin-1")):
            raise Refused("bad_signature")
        # Forgotten by the true clock: a skewed one must not release nonces early.
        self._forget(self._clock())
        if (api_key, nonce) in self._seen:
            raise Refused("replayed_nonce")
        self._seen.add((api_key, nonce))
        # Kept for as long as the timestamp passes the window by the true clock or by the
        # clock that accepted it: a clock running late accepts it for that much longer.
        expires = int(timestamp) + WINDOW_SECONDS + max(0, math.ceil(-skew))
        heapq.heappush(self._expiries, (expires, api_key, nonce))
        return api_key

    def _forget(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] < now:
            _, api_key, nonce = heapq.heappop(self._expiries)
            self._seen.discard((api_key, nonce))
