"""A sidecar served by uvicorn on loopback, in front of the population mock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import Hub, load_settings
from hub.audit import AuditEntry
from hub.sidecar import create_app, hash_key
from hub.testing import ServedApp
from tests._helpers import collect_problem, population_source

KEYS = {
    "portal-a": "key-portal-a-0123456789abcdef0123456789",
    "portal-b": "key-portal-b-0123456789abcdef0123456789",
    "inspector": "key-inspector-0123456789abcdef012345678",
    "revoked": "key-revoked-0123456789abcdef0123456789a",
    "slow-lane": "key-slow-lane-0123456789abcdef012345678",
    "no-rules": "key-no-rules-0123456789abcdef0123456789",
}


def clients() -> dict[str, Any]:
    return {
        "portal-a": {
            "key_sha256": hash_key(KEYS["portal-a"]),
            "sources": {
                "population": {
                    "operations": ["lookup", "verify"],
                    "fields": ["national_id", "full_name", "date_of_birth"],
                }
            },
        },
        "portal-b": {
            "key_sha256": hash_key(KEYS["portal-b"]),
            "sources": {"population": {"operations": ["lookup"]}},
        },
        "inspector": {
            "key_sha256": hash_key(KEYS["inspector"]),
            "roles": ["inspector"],
            "sources": {"population": {"operations": ["lookup"]}},
        },
        "revoked": {
            "key_sha256": hash_key(KEYS["revoked"]),
            "revoked": True,
            "sources": {"population": {"operations": ["lookup"]}},
        },
        "no-rules": {"key_sha256": hash_key(KEYS["no-rules"])},
        "slow-lane": {
            "key_sha256": hash_key(KEYS["slow-lane"]),
            "rate": 0.5,
            "burst": 2,
            "sources": {"population": {"operations": ["lookup"]}},
        },
    }


@dataclass
class Sidecar:
    url: str
    entries: list[AuditEntry] = field(default_factory=list)

    def client(self, name: str | None = None, **headers: str) -> httpx.Client:
        if name is not None:
            headers["Authorization"] = f"Bearer {KEYS[name]}"
        return httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=20,
            event_hooks={"response": [collect_problem]},
        )


def sidecar_settings(tmp_path: Path, mock: ServedApp, **extra: Any) -> Any:
    return load_settings(
        None,
        data_dir=str(tmp_path),
        sources={"population": population_source(mock, deadline=3.0, attempt_timeout=1.0)},
        clients=clients(),
        **extra,
    )


@pytest.fixture(scope="session", autouse=True)
def client_keys_never_leak(leaks: Any) -> None:
    """The clients' API keys join the values the suite-wide leak check looks for."""
    leaks.add_values(KEYS.values())


@pytest.fixture(scope="module")
def sidecar(
    tmp_path_factory: pytest.TempPathFactory, population_mock: ServedApp
) -> Iterator[Sidecar]:
    settings = sidecar_settings(tmp_path_factory.mktemp("sidecar"), population_mock)
    entries: list[AuditEntry] = []
    app = create_app(settings, hub=Hub(settings, on_call=entries.append))
    with ServedApp(app) as served:
        yield Sidecar(served.url, entries)


def lookup_body(national_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "query": {"national_id": national_id},
        "purpose": {"officer": "cb.0042", "procedure": "1.001757", "dossier": "H37-0001"},
        **extra,
    }
