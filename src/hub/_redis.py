"""Redis-backed state shared by replicas: breaker state, the cache, rate limits and the
bound on refuted verifications.

Imported only when ``redis_url`` is configured; needs the ``redis`` extra. Each
read-modify-write is one Lua script, so replicas never race on the same key.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from hub._resilience import BreakerState

__all__ = [
    "RedisAttemptStore",
    "RedisBreakerStore",
    "RedisCacheBackend",
    "RedisRateLimiter",
    "connect",
]

PREFIX = "lienthong:"


def connect(url: str) -> aioredis.Redis:
    """A client with short timeouts: a slow Redis must not hold up a look-up."""
    client: aioredis.Redis = aioredis.Redis.from_url(
        url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
    )
    return client


class RedisCacheBackend:
    """Sealed cache entries under ``lienthong:cache:<keyed hash>`` with a TTL."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def get(self, key: str) -> bytes | None:
        value = await self._client.get(f"{PREFIX}cache:{key}")
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._client.set(f"{PREFIX}cache:{key}", value, px=max(1, int(ttl * 1000)))


# KEYS[1]: the source's state hash; ARGV: ok (1/0), now (s), window (s).
# Buckets are fields "<second>:ok" / "<second>:fail" of one hash per source; fields
# older than the window or the last reset are dropped as the window moves.
_RECORD = """
local now = math.floor(tonumber(ARGV[2]))
local window = tonumber(ARGV[3])
local key = KEYS[1] .. ':window'
local field = now .. (ARGV[1] == '1' and ':ok' or ':fail')
redis.call('HINCRBY', key, field, 1)
redis.call('EXPIRE', key, window + 1)
local reset = tonumber(redis.call('HGET', KEYS[1], 'reset') or '0')
local calls, failures = 0, 0
local entries = redis.call('HGETALL', key)
for i = 1, #entries, 2 do
  local second = tonumber(string.match(entries[i], '^(%d+)'))
  if second <= now - window or second < reset then
    redis.call('HDEL', key, entries[i])
  else
    local count = tonumber(entries[i + 1])
    calls = calls + count
    if string.sub(entries[i], -5) == ':fail' then failures = failures + count end
  end
end
return {calls, failures}
"""


class RedisBreakerStore:
    """Circuit-breaker state shared by every replica (see `hub._resilience.BreakerStore`).

    Args:
        client: The Redis client.
        window: The breaker's sliding window, in seconds.
    """

    def __init__(self, client: aioredis.Redis, window: float) -> None:
        self._client = client
        self._window = max(1, int(window))
        self._record: Any = client.register_script(_RECORD)

    def _key(self, source: str) -> str:
        return f"{PREFIX}breaker:{source}"

    async def record(self, source: str, ok: bool, now: float) -> tuple[int, int]:
        calls, failures = await self._record(
            keys=[self._key(source)], args=[1 if ok else 0, now, self._window]
        )
        return int(calls), int(failures)

    async def state(self, source: str, now: float) -> tuple[BreakerState, float]:
        state, since = await self._client.hmget(self._key(source), ["state", "since"])
        if not isinstance(state, bytes) or not isinstance(since, bytes):
            return BreakerState.CLOSED, now
        return BreakerState(state.decode()), float(since)

    async def transition(self, source: str, state: BreakerState, now: float) -> None:
        await self._client.hset(self._key(source), mapping={"state": state.value, "since": now})

    async def reset_window(self, source: str) -> None:
        await self._client.hset(self._key(source), "reset", int(time.time()))


# KEYS[1]: the client's bucket; ARGV: rate (tokens/s), burst, cost. Redis's own clock,
# so that replicas with skewed clocks agree.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = (cost - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter:
    """Token buckets per client, shared by every replica."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._take: Any = client.register_script(_TAKE)

    async def take(self, client: str, rate: float, burst: int) -> float:
        """Take one token; 0 when granted, else the seconds until one is free."""
        wait = await self._take(keys=[f"{PREFIX}ratelimit:{client}"], args=[rate, burst, 1])
        return float(wait)


# KEYS[1]: the attempts of one client on one subject, a sorted set scored by time; ARGV:
# the attempt's id, the limit, the window (s). Redis's own clock, as for the rate limits.
_ATTEMPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit, window = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return '0'
"""


class RedisAttemptStore:
    """Verification attempts shared by every replica (see `hub._policy.AttemptStore`).

    Keys are ``lienthong:verify:<client>:<pseudonym>``: the subject is the audit
    trail's pseudonym, never the identifier.
    """

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._take: Any = client.register_script(_ATTEMPT)

    async def take(self, key: str, attempt: str, limit: int, window: float) -> float:
        wait = await self._take(keys=[f"{PREFIX}verify:{key}"], args=[attempt, limit, window])
        return float(wait)

    async def forget(self, key: str, attempt: str) -> None:
        await self._client.zrem(f"{PREFIX}verify:{key}", attempt)
