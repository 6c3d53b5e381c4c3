"""The security review of the pipeline: each test replays its finding's attack.

Every test is named after its finding (M1, L2 ... L10) and talks to the mocks over real
HTTP, and to the real Redis where the finding concerns shared state.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub import Hub, Purpose, load_settings
from hub._registry import installed_mocks
from hub._resilience import BreakerState
from hub.audit import AuditEntry, Outcome
from hub.errors import (
    CircuitOpen,
    Forbidden,
    HubError,
    InvalidQuery,
    NotFound,
    UpstreamError,
    UpstreamUnavailable,
)
from hub.identifiers import national_id_info
from hub.mocks.driving_licence._signing import signature
from hub.sidecar import create_app, hash_key
from hub.testing import ServedApp
from tests._helpers import FAST, PURPOSE, MockAdmin, population_source, redis_database

REPOSITORY = Path(__file__).resolve().parents[2]
# A database of this file's own, emptied before each use: no other test's keys meet ours.
REDIS_DB = 11
# A name the register never has: the claim is refuted, whoever the citizen is.
WRONG_NAME = "Tên Khác Hẳn"


def purpose(client: str) -> Purpose:
    return Purpose(client=client, officer="cb.0042", procedure="1.001757", dossier="H37-0001")


def settings_for(tmp_path: Path, **values: Any) -> Any:
    return load_settings(None, data_dir=str(tmp_path), **values)


def serve_mock(name: str) -> ServedApp:
    return ServedApp(installed_mocks()[name].create_app(seed=1, citizens=10_000))


@pytest.fixture(scope="module")
def licence_mock() -> Iterator[ServedApp]:
    with serve_mock("driving_licence") as served:
        yield served


@pytest.fixture(scope="module")
def business_mock() -> Iterator[ServedApp]:
    with serve_mock("business") as served:
        yield served


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_database(REDIS_DB) as url:
        yield url


# M1: verify is an oracle for fields the client may not see.

M1_CLIENT = "portal-m1"
M1_KEY = "key-portal-m1-0123456789abcdef0123456789"


def m1_clients(fields: list[str] | None) -> dict[str, Any]:
    rule: dict[str, Any] = {"operations": ["lookup", "verify"]}
    if fields is not None:
        rule["fields"] = fields
    return {M1_CLIENT: {"key_sha256": hash_key(M1_KEY), "sources": {"population": rule}}}


def wrong_birthday(national_id: str) -> str:
    """A date of birth the number does not contradict (its year), as a guesser would try."""
    return f"{national_id_info(national_id).birth_year}-01-01"


async def test_m1_a_client_cannot_verify_a_field_it_may_not_see(
    tmp_path, population_mock, population
):
    """A client that may see national_id and full_name is refused a date-of-birth check: 403
    naming the field, audited as denied, the register never asked."""
    entries: list[AuditEntry] = []
    settings = settings_for(
        tmp_path,
        sources={"population": population_source(population_mock)},
        clients=m1_clients(["national_id", "full_name"]),
    )
    (national_id,) = population.sample()
    async with Hub(settings, on_call=entries.append) as hub:
        before = population.requests()
        with pytest.raises(Forbidden) as caught:
            await hub.verify(
                "population",
                {"national_id": national_id, "date_of_birth": wrong_birthday(national_id)},
                purpose=purpose(M1_CLIENT),
            )
        assert "date_of_birth" in caught.value.detail
        assert population.requests() == before
        assert entries[-1].outcome is Outcome.DENIED
        assert caught.value.audit_id
        allowed = await hub.verify(
            "population",
            {"national_id": national_id, "full_name": WRONG_NAME},
            purpose=purpose(M1_CLIENT),
        )
        assert allowed.verdict == "refuted"


async def test_m1_refuted_verifications_of_one_subject_are_bounded(
    tmp_path, population_mock, population
):
    """After 5 refuted verifications of one citizen by one client, the next is 429 with a
    Retry-After, audited, the register untouched; other clients and citizens are not held."""
    entries: list[AuditEntry] = []
    settings = settings_for(tmp_path, sources={"population": population_source(population_mock)})
    target, other = population.sample(n=2)
    guess = {"national_id": target, "full_name": WRONG_NAME}
    async with Hub(settings, on_call=entries.append) as hub:
        for _ in range(5):
            check = await hub.verify("population", guess, purpose=purpose("portal-guess"))
            assert check.verdict == "refuted"
        before = population.requests()
        with pytest.raises(HubError) as caught:
            await hub.verify("population", guess, purpose=purpose("portal-guess"))
        assert caught.value.status == 429
        assert 0 < getattr(caught.value, "retry_after", 0) <= 3600
        assert population.requests() == before
        assert caught.value.audit_id
        assert entries[-1].outcome is Outcome.DENIED
        assert entries[-1].subject == hub.audit.pseudonymise(target)
        assert target not in caught.value.detail
        other_client = await hub.verify("population", guess, purpose=purpose("portal-other"))
        assert other_client.verdict == "refuted"
        other_citizen = await hub.verify(
            "population",
            {"national_id": other, "full_name": WRONG_NAME},
            purpose=purpose("portal-guess"),
        )
        assert other_citizen.verdict == "refuted"


def test_m1_the_sidecar_refuses_hidden_fields_and_bounds_guesses(
    tmp_path, population_mock, population, leaks
):
    """Over HTTP: a hidden field is 403 naming it; the 6th refuted guess on one citizen is
    429 with Retry-After and an audit id."""
    settings = settings_for(
        tmp_path,
        sources={"population": population_source(population_mock)},
        clients=m1_clients(["national_id", "full_name"]),
    )
    leaks.add_values([M1_KEY])
    (national_id,) = population.sample()
    body: dict[str, Any] = {
        "purpose": {"officer": "cb.0042", "procedure": "1.001757", "dossier": "H37-0001"}
    }
    verify = "/v1/sources/population/verify"
    with (
        ServedApp(create_app(settings)) as served,
        httpx.Client(
            base_url=served.url, headers={"Authorization": f"Bearer {M1_KEY}"}, timeout=20
        ) as http,
    ):
        hidden = http.post(
            verify,
            json={
                **body,
                "query": {"national_id": national_id, "date_of_birth": wrong_birthday(national_id)},
            },
        )
        leaks.add(hidden.text)
        assert hidden.status_code == 403
        assert "date_of_birth" in hidden.json()["detail"]
        guess = {**body, "query": {"national_id": national_id, "full_name": WRONG_NAME}}
        for _ in range(5):
            refuted = http.post(verify, json=guess)
            assert refuted.status_code == 200
            assert refuted.json()["verification"]["verdict"] == "refuted"
        before = population.requests()
        held = http.post(verify, json=guess)
        leaks.add(held.text)
        assert held.status_code == 429
        assert 1 <= int(held.headers["Retry-After"]) <= 3600
        assert held.headers["X-Audit-Id"] == held.json()["audit_id"]
        assert population.requests() == before


async def test_m1_replicas_share_the_bound_in_redis_under_a_pseudonym(
    tmp_path, population_mock, population, redis_url
):
    """Guesses spread over two replicas sharing Redis count together; Redis holds the
    trail's pseudonym of the citizen, never the national id."""
    source = population_source(population_mock)

    def replica(node: str) -> Hub:
        return Hub(
            settings_for(
                tmp_path / node,
                sources={"population": source},
                redis_url=redis_url,
                audit={"node": node, "pseudonym_key": "p" * 40},
            )
        )

    (national_id,) = population.sample()
    guess = {"national_id": national_id, "full_name": WRONG_NAME}
    async with replica("replica-a") as a, replica("replica-b") as b:
        for hub in (a, b, a, b, a):
            check = await hub.verify("population", guess, purpose=purpose("portal-guess"))
            assert check.verdict == "refuted"
        with pytest.raises(HubError) as caught:
            await b.verify("population", guess, purpose=purpose("portal-guess"))
        assert caught.value.status == 429
        pseudonym = a.audit.pseudonymise(national_id)
    client = redis.Redis.from_url(redis_url)
    stored = [
        key + b"".join(client.zrange(key, 0, -1)) for key in client.scan_iter("lienthong:verify:*")
    ]
    client.close()
    assert stored
    assert all(pseudonym.encode() in item for item in stored)
    assert not any(national_id.encode() in item for item in stored)


# L2: "cached": true tells a client that another agency looked this citizen up.


async def test_l2_a_cache_hit_is_reported_only_to_the_client_that_filled_it(
    tmp_path, population_mock, population
):
    """Client B's look-up answered from client A's entry says cached: false; the audit entry
    still records the hit; A's own second look-up says cached: true."""
    entries: list[AuditEntry] = []
    settings = settings_for(
        tmp_path,
        sources={"population": population_source(population_mock)},
        cache={"enabled": True, "key": secrets.token_hex(32)},
    )
    (national_id,) = population.sample()
    query = {"national_id": national_id}
    async with Hub(settings, on_call=entries.append) as hub:
        first = await hub.lookup("population", query, purpose=purpose("portal-a"))
        before = population.requests()
        other = await hub.lookup("population", query, purpose=purpose("portal-b"))
        assert population.requests() == before
        assert entries[-1].cache == "hit"
        assert other.cached is False
        again = await hub.lookup("population", query, purpose=purpose("portal-a"))
        assert (first.cached, again.cached) == (False, True)


# L3: an entry put back into Redis after its TTL is served forever.


async def test_l3_a_cache_entry_put_back_after_its_ttl_is_a_miss(
    tmp_path, population_mock, population, redis_url
):
    """A sealed entry copied out of Redis, put back without expiry once its TTL has passed,
    is not served: the next look-up goes upstream."""
    entries: list[AuditEntry] = []
    settings = settings_for(
        tmp_path,
        sources={"population": population_source(population_mock)},
        redis_url=redis_url,
        cache={"enabled": True, "ttl": 1, "key": secrets.token_hex(32)},
    )
    (national_id,) = population.sample()
    query = {"national_id": national_id}
    client = redis.Redis.from_url(redis_url)
    async with Hub(settings, on_call=entries.append) as hub:
        await hub.lookup("population", query, purpose=PURPOSE)
        (key,) = list(client.scan_iter("lienthong:cache:*"))
        sealed = client.get(key)
        assert sealed is not None
        await asyncio.sleep(1.3)
        assert not client.exists(key)
        client.set(key, sealed)
        before = population.requests()
        result = await hub.lookup("population", query, purpose=PURPOSE)
        assert population.requests() == before + 1
        assert entries[-1].cache == "miss"
        assert result.cached is False
    client.close()


# L4: an upstream that answers with another person's record is accepted.


def lying_proxy(upstream: str, asked: str, other: str) -> Starlette:
    """An upstream that answers as ``upstream`` does, with ``asked`` swapped for ``other``."""
    http = httpx.AsyncClient(base_url=upstream, timeout=10)

    async def forward(request: Request) -> Response:
        headers = {
            name: value
            for name, value in request.headers.items()
            if name not in ("host", "content-length", "accept-encoding")
        }
        target = request.scope["raw_path"].decode()
        if request.url.query:
            target += f"?{request.url.query}"
        answer = await http.request(
            request.method, target, content=await request.body(), headers=headers
        )
        body = answer.content.replace(asked.encode(), other.encode())
        kept = {
            name: value
            for name, value in answer.headers.items()
            if name not in ("content-length", "content-encoding", "transfer-encoding")
        }
        return Response(body, answer.status_code, kept)

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])


@pytest.mark.parametrize("source", ["population", "driving_licence", "business"])
async def test_l4_an_answer_about_another_person_is_refused(
    source, tmp_path, population, population_mock, licence_mock, business_mock
):
    """The upstream answers for someone else than the identifier asked for: UpstreamError,
    audited as failed under the subject asked for."""
    served = {"population": population_mock, "driving_licence": licence_mock}.get(
        source, business_mock
    )
    admin = MockAdmin(served)
    if source == "population":
        asked, other = admin.sample(n=2)
        query = {"national_id": asked}
    elif source == "driving_licence":
        asked, other = admin.sample(n=2, kind="licence")
        query = {"number": asked}
    else:
        (asked,) = admin.sample(kind="representative")
        (other,) = population.sample()
        query = {"legal_representative": asked}
    entries: list[AuditEntry] = []
    with ServedApp(lying_proxy(served.url, asked, other)) as liar:
        table = {**installed_mocks()[source].hub_settings(liar.url), **FAST}
        if source == "population":
            table["url"] = liar.url + "/dancu"
        settings = settings_for(tmp_path, sources={source: table})
        async with Hub(settings, on_call=entries.append) as hub:
            with pytest.raises(UpstreamError) as caught:
                await hub.lookup(source, query, purpose=PURPOSE)
            assert caught.value.audit_id
            assert entries[-1].outcome is Outcome.FAILED
            assert entries[-1].subject == hub.audit.pseudonymise(asked)
            assert asked not in caught.value.detail
            assert other not in caught.value.detail


# L5: secrets in repr.


def test_l5_no_secret_shows_in_the_settings_of_the_example_config():
    """Neither repr, str nor JSON of settings loaded from examples/hub.toml shows a source's
    secret, the audit store's DSN password or Redis's password."""
    example = REPOSITORY / "examples" / "hub.toml"
    tables = tomllib.loads(example.read_text(encoding="utf-8"))["sources"]
    dsn_password, redis_password = "dsn-pw-5a7c19e2", "redis-pw-9f1e0b44"
    settings = load_settings(
        example,
        audit={"store": f"postgresql://hub:{dsn_password}@db.internal/hub"},
        redis_url=f"redis://:{redis_password}@cache.internal:6379/0",
    )
    private_key_lines = tables["vneid"]["private_key"].splitlines()[1:-1]
    secret_values = [
        tables["business"]["client_secret"],
        tables["driving_licence"]["api_key"],
        tables["driving_licence"]["api_secret"],
        tables["budget_unit"]["api_key"],
        *private_key_lines,
        dsn_password,
        redis_password,
    ]
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert [value for value in secret_values if value in shown] == []


def test_l5_audit_store_and_redis_url_take_env_and_file_references(tmp_path, monkeypatch):
    """audit.store = "env:NAME" and redis_url = "file:PATH" resolve to the values, kept secret."""
    dsn = "postgresql://hub:from-env-pw@db.internal/hub"
    url = "redis://:from-file-pw@cache.internal:6379/0"
    monkeypatch.setenv("HUB_TEST_AUDIT_DSN", dsn)
    (tmp_path / "redis-url").write_text(url + "\n", encoding="utf-8")
    settings = load_settings(
        None,
        audit={"store": "env:HUB_TEST_AUDIT_DSN"},
        redis_url=f"file:{tmp_path / 'redis-url'}",
    )
    assert settings.audit.store.get_secret_value() == dsn
    assert settings.redis_url.get_secret_value() == url
    assert "pw" not in repr(settings)


# L6: a portal logging at INFO gets httpx's request lines, identifiers in their URLs.


@pytest.fixture
def portal_logging() -> Iterator[io.StringIO]:
    """The root logger at INFO with a plain handler, as a portal sets itself up; httpx's
    and httpcore's loggers as a fresh process has them."""
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    clients = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    saved = root.level, [logger.level for logger in clients]
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for logger in clients:
        logger.setLevel(logging.NOTSET)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for logger, level in zip(clients, saved[1], strict=True):
            logger.setLevel(level)


async def test_l6_a_portal_logging_at_info_gets_no_url_with_an_identifier(
    tmp_path, licence_mock, portal_logging
):
    """A licence look-up by number, with the standard logging module at INFO: no line
    carries the number."""
    (number,) = MockAdmin(licence_mock).sample(kind="licence")
    table = {**installed_mocks()["driving_licence"].hub_settings(licence_mock.url), **FAST}
    async with Hub(settings_for(tmp_path, sources={"driving_licence": table})) as hub:
        result = await hub.lookup("driving_licence", {"number": number}, purpose=PURPOSE)
    assert result.record.number == number
    assert number not in portal_logging.getvalue()


# L8: the driving-licence mock accepts a replayed request whose timestamp is behind.


def test_l8_a_replayed_request_with_a_timestamp_behind_is_refused(licence_mock):
    """With the system's clock 200 s behind, a request stamped 290 s behind that clock is
    accepted once; sent again, it is refused as replayed_nonce."""
    credentials = installed_mocks()["driving_licence"].hub_settings(licence_mock.url)
    admin = MockAdmin(licence_mock)
    admin.clear()
    admin.fault({"kind": "clock_skew", "seconds": -200})
    try:
        target = "/v1/health"
        stamp = str(int(time.time()) - 200 - 290)
        nonce = secrets.token_urlsafe(24)
        headers = {
            "X-Api-Key": credentials["api_key"],
            "X-Timestamp": stamp,
            "X-Nonce": nonce,
            "X-Signature": signature(
                credentials["api_secret"].encode(), "GET", target, stamp, nonce, b""
            ),
        }
        with httpx.Client(base_url=licence_mock.url, timeout=10) as http:
            assert http.get(target, headers=headers).status_code == 200
            replayed = http.get(target, headers=headers)
        assert replayed.status_code == 401
        assert replayed.json()["error"] == "replayed_nonce"
    finally:
        admin.clear()


# L10: one client must not open the circuit breaker for every client.


async def test_l10_invalid_and_not_found_queries_never_open_the_breaker(
    tmp_path, population_mock, population
):
    """Dozens of not-found, upstream-refused and invalid look-ups by one client leave the
    breaker closed for another; the same breaker opens after 4 upstream failures."""
    source = population_source(
        population_mock,
        retry={"attempts": 1},
        breaker={"min_calls": 4, "failure_rate": 0.5, "window": 30, "open_for": 30},
    )
    (national_id,) = population.sample()
    noisy = purpose("portal-noisy")
    async with Hub(settings_for(tmp_path / "storm", sources={"population": source})) as hub:
        for _ in range(8):
            with pytest.raises(NotFound):
                await hub.lookup("population", {"national_id": "001099999999"}, purpose=noisy)
        population.fault({"kind": "status", "status": 400})
        for _ in range(8):
            with pytest.raises(InvalidQuery):
                await hub.lookup("population", {"national_id": national_id}, purpose=noisy)
        population.clear()
        for _ in range(8):
            with pytest.raises(InvalidQuery):
                await hub.lookup("population", {"national_id": "12345"}, purpose=noisy)
        assert (await hub.breaker_states())["population"] is BreakerState.CLOSED
        found = await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)
        assert found.record.national_id == national_id
    async with Hub(settings_for(tmp_path / "failing", sources={"population": source})) as hub:
        population.fault({"kind": "status", "status": 503})
        for _ in range(4):
            with pytest.raises(UpstreamUnavailable):
                await hub.lookup("population", {"national_id": national_id}, purpose=noisy)
        population.clear()
        with pytest.raises(CircuitOpen):
            await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)
