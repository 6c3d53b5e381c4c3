"""Per-client rate limits: token buckets, in memory for one replica (Redis for several)."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["MemoryRateLimiter", "RateLimiter"]


class RateLimiter(Protocol):
    async def take(self, client: str, rate: float, burst: int) -> float:
        """Take one token: 0 when granted, else the seconds until one is free."""


class MemoryRateLimiter:
    """One process's token buckets."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, client: str, rate: float, burst: int) -> float:
        now = time.monotonic()
        tokens, last = self._buckets.get(client, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * rate)
        if tokens >= 1:
            self._buckets[client] = (tokens - 1, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1 - tokens) / rate
