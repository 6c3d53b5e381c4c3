"""Authorization: which client may use which source, operation and fields."""

from __future__ import annotations

from collections.abc import Mapping

from hub._config import ClientSettings
from hub.connector import Operation
from hub.errors import Forbidden

__all__ = ["AccessPolicy"]


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

    def sources(self, client: str) -> list[str]:
        """The sources named in ``client``'s rules (none for an unknown or revoked client)."""
        settings = self._clients.get(client)
        if settings is None or settings.revoked:
            return []
        return sorted(settings.sources)

    def has_role(self, client: str, role: str) -> bool:
        settings = self._clients.get(client)
        return settings is not None and not settings.revoked and role in settings.roles
