"""The access token of an OAuth 2.0 client-credentials client: cached, renewed, shared.

One token serves every call until shortly before it expires. Concurrent callers share
one renewal (single flight, under an asyncio lock): a hundred calls that find the
token stale, or refused, cause one token request, not a hundred.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import SecretStr

__all__ = ["AccessToken", "TokenCache", "refresh_margin"]

#: A token is renewed this long before it expires, at most: clocks drift and a request
#: takes time to arrive.
MAX_MARGIN = 30.0
#: ... and at most this share of its lifetime before, so that short-lived tokens are used.
MARGIN_SHARE = 0.1


def refresh_margin(lifetime: float) -> float:
    """How long before expiry a token of this lifetime is renewed."""
    return min(MAX_MARGIN, MARGIN_SHARE * lifetime)


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and the monotonic time from which it is renewed before use."""

    value: SecretStr
    renew_at: float

    @classmethod
    def issued(cls, value: SecretStr, lifetime: float, requested_at: float) -> AccessToken:
        """A token valid for ``lifetime`` seconds, counted from when it was requested."""
        return cls(value, requested_at + lifetime - refresh_margin(lifetime))

    def fresh(self, now: float) -> bool:
        return now < self.renew_at


class TokenCache:
    """Hands out the current access token, fetching a new one when needed.

    Args:
        fetch: Requests a new token from the authorization server.
        clock: Seconds, monotonic.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[AccessToken]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: AccessToken | None = None

    async def get(self) -> SecretStr:
        """The current token; a new one when there is none or it is due for renewal."""
        token = self._token
        if token is not None and token.fresh(self._clock()):
            return token.value
        async with self._lock:
            # Another caller may have renewed it while this one waited for the lock.
            token = self._token
            if token is None or not token.fresh(self._clock()):
                token = self._token = await self._fetch()
            return token.value

    async def renew(self, rejected: SecretStr) -> SecretStr:
        """A new token in place of one the upstream refused.

        Callers refused with the same token share one renewal: whoever comes after it
        gets the token it brought.
        """
        async with self._lock:
            token = self._token
            if token is not None and token.value != rejected and token.fresh(self._clock()):
                return token.value
            # Forgotten before the fetch, so that a failed fetch leaves no refused token.
            self._token = None
            token = self._token = await self._fetch()
            return token.value
