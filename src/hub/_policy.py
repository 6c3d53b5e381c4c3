"""Authorization: which client may use which source, operation and fields; and how
often one client may have its verifications of one subject refuted."""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from hub._config import ClientSettings, VerificationSettings
from hub.connector import Operation
from hub.errors import Forbidden, TooManyAttempts

__all__ = [
    "AccessPolicy",
    "AttemptStore",
    "MemoryAttemptStore",
    "VerificationAttempt",
    "VerificationLimit",
]


class AccessPolicy:
    """Default deny, per client: sources, operations, record fields.

    Args:
        clients: The configured clients. An empty mapping is the embedded library's
            case: the portal that imports the hub is its only client and may use every
            configured source; every call still names that client in its purpose.
    """

    def __init__(self, clients: Mapping[str, ClientSettings]) -> None:
        self._clients = dict(clients)

    @property
    def open(self) -> bool:
        return not self._clients

    def check(self, client: str, source: str, operation: Operation) -> None:
        """Raise `Forbidden` unless ``client`` may perform ``operation`` on ``source``."""
        if self.open:
            return
        settings = self._clients.get(client)
        if settings is None or settings.revoked:
            raise Forbidden(f"client {client!r} is not allowed here", source=source)
        rule = settings.sources.get(source)
        if rule is None:
            raise Forbidden(f"client {client!r} may not use {source}", source=source)
        if operation.value not in rule.operations:
            raise Forbidden(
                f"client {client!r} may not {operation.value} with {source}", source=source
            )

    def allows(self, client: str, source: str, operation: Operation) -> bool:
        try:
            self.check(client, source, operation)
        except Forbidden:
            return False
        return True

    def fields(self, client: str, source: str) -> frozenset[str] | None:
        """The fields ``client`` may see from ``source``; None means all of them."""
        if self.open:
            return None
        rule = self._clients[client].sources[source]
        return None if rule.fields is None else frozenset(rule.fields)

    def check_facts(self, client: str, source: str, facts: Mapping[str, str]) -> None:
        """Raise `Forbidden` naming each fact ``client`` may not verify: a verification
        answers for a field as surely as a look-up shows it, so only fields it may see.

        Args:
            client: The calling client.
            source: The source asked.
            facts: Each fact of the claim, and the record field it is checked against.
        """
        allowed = self.fields(client, source)
        if allowed is None:
            return
        hidden = sorted(fact for fact, field in facts.items() if field not in allowed)
        if hidden:
            raise Forbidden(
                f"client {client!r} may not verify {', '.join(hidden)} with {source}: "
                "only the fields it may see",
                source=source,
            )

    def sources(self, client: str) -> list[str]:
        """The sources named in ``client``'s rules (none for an unknown or revoked client)."""
        settings = self._clients.get(client)
        if settings is None or settings.revoked:
            return []
        return sorted(settings.sources)

    def has_role(self, client: str, role: str) -> bool:
        settings = self._clients.get(client)
        return settings is not None and not settings.revoked and role in settings.roles


class AttemptStore(Protocol):
    """Where verification attempts are counted: this process's memory, or Redis."""

    async def take(self, key: str, attempt: str, limit: int, window: float) -> float:
        """Count ``attempt`` under ``key`` unless ``limit`` are counted within ``window``.

        Returns 0 when it is counted, else the seconds until the oldest leaves the window.
        """

    async def forget(self, key: str, attempt: str) -> None:
        """Stop counting an attempt: it was not refuted."""


class MemoryAttemptStore:
    """One process's attempts: per key, each attempt and when it was counted."""

    def __init__(self) -> None:
        # Keys in the order of their newest attempt, so that expired ones are dropped
        # from the front and memory stays bounded by the window.
        self._attempts: OrderedDict[str, dict[str, float]] = OrderedDict()

    async def take(self, key: str, attempt: str, limit: int, window: float) -> float:
        now = time.monotonic()
        while self._attempts:
            oldest = next(iter(self._attempts.values()))
            if oldest and max(oldest.values()) > now - window:
                break
            self._attempts.popitem(last=False)
        counted = self._attempts.get(key, {})
        for each, at in list(counted.items()):
            if at <= now - window:
                del counted[each]
        if len(counted) >= limit:
            return min(counted.values()) + window - now
        counted[attempt] = now
        self._attempts[key] = counted
        self._attempts.move_to_end(key)
        return 0.0

    async def forget(self, key: str, attempt: str) -> None:
        counted = self._attempts.get(key)
        if counted is not None:
            counted.pop(attempt, None)


@dataclass(slots=True)
class VerificationAttempt:
    """One verification in flight; ``refuted`` is set once the register has answered."""

    id: str
    refuted: bool = False


class VerificationLimit:
    """At most ``max_mismatches`` refuted verifications of one subject by one client.

    Args:
        settings: The bound and its window.
        store: Where attempts are counted (memory; Redis shares them between replicas).
    """

    def __init__(self, settings: VerificationSettings, store: AttemptStore) -> None:
        self._settings = settings
        self._store = store

    @contextlib.asynccontextmanager
    async def attempt(
        self, client: str, subject: str, *, source: str
    ) -> AsyncIterator[VerificationAttempt]:
        """Count a verification while it runs; it stays counted if it is refuted.

        Args:
            client: The calling client.
            subject: The subject's pseudonym (never the identifier itself: in Redis, the
                key is readable by whoever can read Redis).
            source: The source asked, for the error.

        Raises:
            TooManyAttempts: the bound is reached; ``retry_after`` says for how long.
        """
        key = f"{client}:{subject}"
        attempt = VerificationAttempt(uuid.uuid4().hex)
        wait = await self._store.take(
            key, attempt.id, self._settings.max_mismatches, self._settings.window
        )
        if wait > 0:
            raise TooManyAttempts(
                f"too many refuted verifications of this subject by client {client!r}; "
                f"try again in {math.ceil(wait)} s",
                source=source,
                retry_after=wait,
            )
        try:
            yield attempt
        finally:
            if not attempt.refuted:
                await self._store.forget(key, attempt.id)
