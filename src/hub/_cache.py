"""The optional look-up cache: short-lived, encrypted, under keyed-hash keys.

A cached record is personal data at rest, in this process or in a shared Redis, so it
is sealed with AES-GCM, and the key it is stored under is an HMAC of the source and
the query: neither a national id nor a name can be read from the cache, even by
whoever can read Redis. Both keys are derived (HKDF) from the one configured secret.

Sealed with the record are its expiry and the client whose look-up filled the entry:
an entry put back into Redis after its TTL is stale all the same, and a hit can be
told to the client that filled the entry without telling another that someone else
looked this person up.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import rfc8785
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub import records
from hub._config import CacheSettings
from hub._logging import get_logger
from hub._model import Query, Record

__all__ = ["Cache", "CacheBackend", "CacheHit", "MemoryCacheBackend", "record_types"]

log = get_logger("hub.cache")

_NONCE_BYTES = 12


class CacheBackend(Protocol):
    """Where sealed entries live: this process's memory, or Redis."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...


class MemoryCacheBackend:
    """A bounded LRU of sealed entries with their expiry times."""

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max = max_entries

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._entries[key] = (time.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


@dataclass(frozen=True, slots=True)
class CacheHit:
    """A cached result, and the client whose look-up put it there."""

    value: Record | list[Record]
    client: str


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


class Cache:
    """Seal and open cached look-up results.

    Args:
        settings: TTL and the secret (``cache.key``).
        backend: Where entries are kept.
    """

    def __init__(self, settings: CacheSettings, backend: CacheBackend) -> None:
        assert settings.key is not None
        secret = settings.key.get_secret_value().encode()
        self._aead = AESGCM(_derive(secret, b"lienthong cache encryption"))
        self._mac_key = _derive(secret, b"lienthong cache keys")
        self._backend = backend
        self._ttl = settings.ttl

    def __repr__(self) -> str:
        return f"Cache(ttl={self._ttl})"

    def key_for(self, source: str, query: Query) -> str:
        """The entry's key: an HMAC of the source and the canonical query."""
        material = rfc8785.dumps([source, query.model_dump(mode="json")])
        return hmac.new(self._mac_key, material, hashlib.sha256).hexdigest()

    async def get(self, key: str, known: Mapping[str, type[Record]]) -> CacheHit | None:
        """The cached result and who filled it, or None (an expired entry is None too).

        Args:
            key: From `key_for`.
            known: The record classes an entry may hold, by class name.
        """
        sealed = await self._backend.get(key)
        if sealed is None:
            return None
        try:
            plain = self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], key.encode())
            frozen = orjson.loads(plain)
            # The store's own expiry can be undone by whoever writes to it; this cannot.
            if frozen["expires"] <= time.time():
                return None
            return CacheHit(_revive(frozen, known), frozen["client"])
        except (InvalidTag, ValueError, TypeError, KeyError):
            # A foreign, corrupt or stale-format entry is a miss, never an answer.
            log.warning("cache entry could not be opened; ignored")
            return None

    async def put(self, key: str, value: Record | list[Record], *, client: str) -> None:
        """Seal ``value`` under ``key`` until the TTL has passed.

        Args:
            key: From `key_for`.
            value: The look-up's result.
            client: The client whose look-up it is.
        """
        nonce = os.urandom(_NONCE_BYTES)
        # Wall-clock time: replicas sharing Redis share no monotonic clock.
        frozen = {**_freeze(value), "expires": time.time() + self._ttl, "client": client}
        plain = orjson.dumps(frozen)
        await self._backend.set(
            key, nonce + self._aead.encrypt(nonce, plain, key.encode()), self._ttl
        )


def _freeze(value: Record | list[Record]) -> dict[str, Any]:
    items = value if isinstance(value, list) else [value]
    return {
        "many": isinstance(value, list),
        "items": [
            {"type": type(item).__name__, "data": item.model_dump(mode="json")} for item in items
        ],
    }


def _revive(frozen: dict[str, Any], known: Mapping[str, type[Record]]) -> Record | list[Record]:
    items = []
    for item in frozen["items"]:
        # Only known record classes can come back, looked up by name.
        cls = known.get(item["type"])
        if cls is None:
            raise ValueError("unknown record type in cache entry")
        items.append(cls.model_validate(item["data"]))
    return items if frozen["many"] else items[0]


def record_types(extra: type[Record]) -> dict[str, type[Record]]:
    """The uniform records of `hub.records`, and a connector's own Record class."""
    found = {
        name: value
        for name, value in vars(records).items()
        if isinstance(value, type) and issubclass(value, Record) and value is not Record
    }
    if extra is not Record:
        found[extra.__name__] = extra
    return found
