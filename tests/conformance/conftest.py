"""A sidecar in front of several mocks, for the standard clients to talk to over real HTTP.

The clients' own HTTP traffic carries codes, ids and keys in URLs and bodies: it is
theirs, not the hub's, and is kept out of the suite-wide leak check's log lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from hub import Hub, load_settings
from hub._registry import installed_mocks
from hub.sidecar import create_app, hash_key
from hub.testing import LeakCheck, ServedApp
from tests._helpers import FAST, collect_problem, muted, population_source

KEYS = {
    "portal-full": "key-conformance-full-0123456789abcdef0123",
    "portal-minimal": "key-conformance-minimal-0123456789abcdef",
    "no-rules": "key-conformance-no-rules-0123456789abcdef",
    "slow-lane": "key-conformance-slow-lane-0123456789abcde",
}
#: What portal-minimal may see of each source.
MINIMAL_FIELDS = {
    "population": ["national_id", "full_name", "date_of_birth"],
    "vneid": ["national_id", "level"],
    "business": ["code", "name", "status"],
}
REDIRECT = "http://127.0.0.1:8000/callback"
PURPOSE = {"officer": "cb.0042", "procedure": "1.001757", "dossier": "H37-0001"}


def _clients() -> dict[str, Any]:
    every = {
        "population": {"operations": ["lookup", "verify"]},
        "vneid": {"operations": ["authenticate"], "redirect_uris": [REDIRECT]},
        "business": {"operations": ["lookup"]},
        "catalog": {"operations": ["lookup"]},
    }
    return {
        "portal-full": {
            "key_sha256": hash_key(KEYS["portal-full"]),
            "roles": ["inspector"],
            "sources": every,
        },
        "portal-minimal": {
            "key_sha256": hash_key(KEYS["portal-minimal"]),
            "sources": {
                name: {**every[name], "fields": fields} for name, fields in MINIMAL_FIELDS.items()
            },
        },
        "no-rules": {"key_sha256": hash_key(KEYS["no-rules"])},
        "slow-lane": {
            "key_sha256": hash_key(KEYS["slow-lane"]),
            "rate": 0.1,
            "burst": 1,
            "sources": {"catalog": {"operations": ["lookup"]}},
        },
    }


@pytest.fixture(autouse=True)
def _quiet_clients() -> Iterator[None]:
    """The standard clients log what they send (httpx under Authlib, requests, suds)."""
    with muted("httpx", "httpcore", "urllib3", "suds", "authlib"):
        yield


@pytest.fixture(scope="session", autouse=True)
def _client_keys_never_leak(leaks: LeakCheck) -> None:
    leaks.add_values(KEYS.values())


@dataclass
class Sidecar:
    """The served sidecar and the mocks behind it."""

    url: str
    mocks: dict[str, str]
    leaks: LeakCheck

    def client(self, name: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {KEYS[name]}"} if name else {}
        return httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=20,
            event_hooks={"response": [collect_problem]},
        )

    def sample(self, source: str, kind: str) -> str:
        answer = httpx.get(f"{self.mocks[source]}/_admin/sample", params={"kind": kind}).json()
        self.leaks.add_values(answer["keys"])
        key: str = answer["keys"][0]
        return key

    def fault(self, source: str, plan: dict[str, Any] | None) -> None:
        url = f"{self.mocks[source]}/_admin/faults"
        (httpx.put(url, json=plan) if plan else httpx.delete(url)).raise_for_status()

    def identity_body(self, client: httpx.Client, national_id: str) -> dict[str, Any]:
        """The body of an authentication: a VNeID login started through the sidecar."""
        started = client.get(
            "/v1/sources/vneid/authorization", params={"redirect_uri": REDIRECT, "level": 2}
        ).json()
        login = httpx.URL(started["url"]).copy_add_param("login_hint", national_id)
        code = httpx.URL(httpx.get(login).headers["location"]).params["code"]
        query = {
            "code": code,
            "code_verifier": started["code_verifier"],
            "nonce": started["nonce"],
            "redirect_uri": REDIRECT,
            "level": 2,
        }
        return {"query": query, "purpose": dict(PURPOSE)}


@pytest.fixture(scope="session")
def sidecar(
    tmp_path_factory: pytest.TempPathFactory, population_mock: ServedApp, leaks: LeakCheck
) -> Iterator[Sidecar]:
    """The sidecar before population, VNeID, business and catalog mocks, shared by the
    conformance tests (only the rate-limit test uses the slow lane)."""
    mocks = installed_mocks()
    served = {
        name: ServedApp(mocks[name].create_app(seed=1, citizens=10_000)).start()
        for name in ("vneid", "business", "catalog")
    }
    sources: dict[str, Any] = {
        "population": population_source(population_mock, deadline=3.0, attempt_timeout=1.0),
        **{name: {**mocks[name].hub_settings(app.url), **FAST} for name, app in served.items()},
    }
    settings = load_settings(
        None,
        data_dir=str(tmp_path_factory.mktemp("conformance")),
        sources=sources,
        clients=_clients(),
    )
    urls = {"population": population_mock.url, **{name: app.url for name, app in served.items()}}
    try:
        with ServedApp(create_app(settings, hub=Hub(settings))) as app:
            yield Sidecar(app.url, urls, leaks)
    finally:
        for mock in served.values():
            mock.stop()


def body(query: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"query": query, "purpose": dict(PURPOSE), **extra}
