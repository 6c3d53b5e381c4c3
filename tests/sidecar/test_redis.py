"""Two sidecar replicas sharing Redis: rate limits, breaker state and the cache."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from hub import load_settings
from hub.sidecar import create_app
from hub.testing import ServedApp
from tests._helpers import population_source, redis_database
from tests.sidecar.conftest import Sidecar, clients, lookup_body

# A database of its own, emptied before and after: the tests never touch other keys.
TEST_DB = 14
LOOKUP = "/v1/sources/population/lookup"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_database(TEST_DB) as url:
        yield url


@pytest.fixture
def replicas(tmp_path, population_mock, redis_url) -> Iterator[tuple[Sidecar, Sidecar]]:
    """Two apps, each with its own audit node, one Redis between them."""
    redis.Redis.from_url(redis_url).flushdb()
    source = population_source(
        population_mock,
        retry={"attempts": 1},
        breaker={"min_calls": 2, "failure_rate": 0.5, "open_for": 30},
    )

    def settings(node: str) -> Any:
        return load_settings(
            None,
            data_dir=str(tmp_path / node),
            sources={"population": source},
            clients=clients(),
            redis_url=redis_url,
            audit={"node": node},
            cache={"enabled": True, "ttl": 30, "key": "k" * 40},
        )

    with (
        ServedApp(create_app(settings("replica-a"))) as a,
        ServedApp(create_app(settings("replica-b"))) as b,
    ):
        yield Sidecar(a.url), Sidecar(b.url)


def test_rate_limits_are_shared(replicas, population):
    """Two requests on one replica spend the burst of two; the third, on the other, is 429."""
    a, b = replicas
    (citizen,) = population.sample()
    with a.client("slow-lane") as http:
        assert [http.post(LOOKUP, json=lookup_body(citizen)).status_code for _ in range(2)] == [
            200,
            200,
        ]
    with b.client("slow-lane") as http:
        assert http.post(LOOKUP, json=lookup_body(citizen)).status_code == 429


def test_an_open_breaker_is_seen_by_every_replica(replicas, population):
    """Failures through one replica open the breaker for the other, which fails fast."""
    a, b = replicas
    (citizen,) = population.sample()
    population.fault({"kind": "status", "status": 503})
    with a.client("portal-b") as http:
        assert [http.post(LOOKUP, json=lookup_body(citizen)).status_code for _ in range(2)] == [
            503,
            503,
        ]
    before = population.requests()
    with b.client("portal-b") as http:
        response = http.post(LOOKUP, json=lookup_body(citizen))
    assert response.status_code == 503
    assert response.json()["type"].endswith("circuit_open")
    assert population.requests() == before


def test_the_cache_is_shared_and_a_hit_is_audited(replicas, population):
    """A record fetched through one replica is served from Redis by the other, with an audit id."""
    a, b = replicas
    (citizen,) = population.sample()
    with a.client("portal-b") as http:
        first = http.post(LOOKUP, json=lookup_body(citizen)).json()
    before = population.requests()
    with b.client("portal-b") as http:
        second = http.post(LOOKUP, json=lookup_body(citizen)).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["record"] == first["record"]
    assert second["audit_id"]
    assert second["audit_id"] != first["audit_id"]
    assert population.requests() == before


def test_nothing_personal_is_readable_in_redis(replicas, population, redis_url):
    """Redis holds keyed hashes and ciphertext: no national id, no name."""
    a, _ = replicas
    (citizen,) = population.sample()
    with a.client("portal-b") as http:
        record = http.post(LOOKUP, json=lookup_body(citizen)).json()["record"]
    client = redis.Redis.from_url(redis_url)
    dump = b"".join(key + (client.get(key) or b"") for key in client.scan_iter("lienthong:cache:*"))
    assert dump
    assert citizen.encode() not in dump
    assert record["full_name"].encode() not in dump
