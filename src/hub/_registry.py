"""Discovery of connectors and mocks through entry points.

The hub never imports a concrete connector: a source is whatever is installed under
the ``hub.connectors`` entry-point group (and its mock under ``hub.mocks``), so a
third party adds one by installing a package.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from hub._logging import get_logger
from hub.connector import Connector
from hub.errors import InvalidQuery

__all__ = ["connector_class", "installed_connectors", "installed_mocks"]

log = get_logger("hub.registry")

CONNECTORS_GROUP = "hub.connectors"
MOCKS_GROUP = "hub.mocks"


def _entry_points(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def _load(group: str, name: str, ep: EntryPoint) -> Any:
    """Load one entry point; a broken one is reported and left out, not fatal.

    One faulty third-party connector must not take every other source down with it.
    """
    try:
        return ep.load()
    except Exception as exc:
        log.error("entry point failed to load", group=group, entry_point=name, error=repr(exc))
        return None


@cache
def installed_connectors() -> dict[str, type[Connector[Any, Any]]]:
    """Every installed connector class that loads, by source name."""
    found: dict[str, type[Connector[Any, Any]]] = {}
    for name, ep in sorted(_entry_points(CONNECTORS_GROUP).items()):
        cls = _load(CONNECTORS_GROUP, name, ep)
        if not (isinstance(cls, type) and issubclass(cls, Connector)) or cls.name != name:
            if cls is not None:
                log.error("entry point is not a hub Connector of that name", entry_point=name)
            continue
        found[name] = cls
    return found


def connector_class(source: str) -> type[Connector[Any, Any]]:
    """The connector of ``source``, or `InvalidQuery` listing those installed."""
    connectors = installed_connectors()
    try:
        return connectors[source]
    except KeyError:
        known = ", ".join(connectors) or "none"
        raise InvalidQuery.for_field(
            "source", f"no source named {source!r}; installed: {known}"
        ) from None


def installed_mocks() -> dict[str, Any]:
    """Every installed mock, by source name.

    A ``hub.mocks`` entry point names a module (or any object) with
    ``create_app(*, seed, citizens, faults=None)`` returning an ASGI app, and
    ``hub_settings(base_url)`` returning the ``[sources.NAME]`` table that points a
    hub at the mock served at ``base_url``.
    """
    loaded = {
        name: _load(MOCKS_GROUP, name, ep)
        for name, ep in sorted(_entry_points(MOCKS_GROUP).items())
    }
    return {name: mock for name, mock in loaded.items() if mock is not None}
