"""The business source end to end: the hub against the REST mock over real HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hub import Hub
from hub._registry import installed_mocks
from hub._serving import ServedApp
from hub.errors import DeadlineExceeded, InvalidQuery, NotFound, UpstreamError, UpstreamUnavailable
from hub.mocks._world import World
from hub.records import Enterprise, EnterpriseStatus
from hub.testing import LeakCheck
from hub.text import normalize
from tests._helpers import FAST, PURPOSE, hub_settings, population_source

SEED, CITIZENS = 1, 10_000  # the population mock's world (see conftest), so that they join
DEMO_SECRET = installed_mocks()["business"].hub_settings("http://127.0.0.1:1")["client_secret"]


class BusinessAdmin:
    """The shared admin surface and the authorization server's, over one kept-alive client."""

    def __init__(self, served: ServedApp, app: Any, leaks: LeakCheck) -> None:
        self.store = app.state.tokens
        self.http = httpx.Client(base_url=f"{served.url}/_admin", timeout=10)
        self._leaks = leaks

    def sample(self, n: int = 1, kind: str = "enterprise") -> list[str]:
        response = self.http.get("/sample", params={"n": n, "kind": kind})
        keys: list[str] = response.json()["keys"]
        self._leaks.add_values(keys)
        return keys

    def requests(self) -> int:
        """Requests the register has answered (the token endpoint's are apart)."""
        count: int = self.http.get("/stats").json()["requests"]
        return count

    def token_requests(self) -> int:
        count: int = self.http.get("/tokens").json()["requests"]
        return count

    def fault(self, plan: dict[str, Any]) -> None:
        self.http.put("/faults", json=plan).raise_for_status()

    def token_fault(self, plan: dict[str, Any]) -> None:
        self.http.put("/tokens/faults", json=plan).raise_for_status()

    def set_ttl(self, ttl: int) -> None:
        self.http.put("/tokens", json={"ttl": ttl}).raise_for_status()

    def revoke(self) -> None:
        self.http.delete("/tokens").raise_for_status()

    def reset(self) -> None:
        self.http.delete("/faults").raise_for_status()
        self.http.delete("/tokens/faults").raise_for_status()
        self.set_ttl(300)


@pytest.fixture(scope="module")
def business_mock() -> Iterator[tuple[ServedApp, Any]]:
    app = installed_mocks()["business"].create_app(seed=SEED, citizens=CITIZENS)
    with ServedApp(app) as served:
        yield served, app


@pytest.fixture(scope="module")
def business_admin(business_mock, leaks) -> Iterator[BusinessAdmin]:
    admin = BusinessAdmin(*business_mock, leaks)
    yield admin
    admin.http.close()


@pytest.fixture
def business(business_admin, leaks) -> Iterator[BusinessAdmin]:
    business_admin.reset()
    yield business_admin
    business_admin.reset()
    # Every token the mock issued, and the client secret, are looked for in every log line.
    leaks.add_values([*business_admin.store.held(), DEMO_SECRET])


def business_source(mock: ServedApp, **overrides: Any) -> dict[str, Any]:
    return {**installed_mocks()["business"].hub_settings(mock.url), **FAST, **overrides}


@pytest.fixture
async def hub(tmp_path, business_mock) -> Any:
    """A hub with only the business source, and no token yet."""
    async with Hub(hub_settings(tmp_path, business=business_source(business_mock[0]))) as h:
        yield h


@pytest.fixture(scope="module")
def world() -> World:
    """The served mock's world, to find enterprises of a given status."""
    return World(SEED, CITIZENS)


async def lookup(hub: Hub, **query: str) -> Any:
    return (await hub.lookup("business", query, purpose=PURPOSE)).record


# Look-ups


async def test_an_enterprise_is_found_by_code_and_audited(hub, business):
    """A sample code comes back as an Enterprise in NFC, with an audit id."""
    (code,) = business.sample(kind="enterprise")
    result = await hub.lookup("business", {"code": code}, purpose=PURPOSE)
    enterprise = result.record
    assert isinstance(enterprise, Enterprise)
    assert enterprise.code == code
    assert enterprise.name == normalize(enterprise.name)
    assert enterprise.legal_representatives
    assert enterprise.main_business_line is not None
    assert result.audit_id
    assert set(result.fields) == set(Enterprise.model_fields)


async def test_a_branch_code_finds_the_enterprise_it_belongs_to(hub, business):
    """NNNNNNNNNN-001 answers the parent, with that branch among its branches."""
    (branch,) = business.sample(kind="branch")
    enterprise = await lookup(hub, code=branch)
    assert enterprise.code == branch[:10]
    assert branch in [item.code for item in enterprise.branches]


async def test_a_branch_code_typed_without_its_dash_is_formatted(hub, business):
    """stdnum reads 13 digits without the dash; the register gets the formatted code."""
    (branch,) = business.sample(kind="branch")
    enterprise = await lookup(hub, code=branch.replace("-", ""))
    assert enterprise.code == branch[:10]


async def test_an_unregistered_code_is_not_found_and_not_retried(hub, business):
    """A valid code with no record is NotFound after one register request."""
    await lookup(hub, code=business.sample(kind="enterprise")[0])
    before = business.requests()
    with pytest.raises(NotFound) as caught:
        await lookup(hub, code="0100233488")
    assert business.requests() - before == 1
    assert caught.value.audit_id


async def test_a_dissolved_enterprise_comes_back_with_its_status(hub, business, world):
    """The register keeps dissolved (and bankrupt) enterprises; the status says so."""
    codes = business.sample(kind="enterprise", n=200)
    statuses = {code: world.enterprise(code).status for code in codes}
    for wanted in (EnterpriseStatus.DISSOLVED, EnterpriseStatus.BANKRUPT):
        code = next(code for code, status in statuses.items() if status == wanted.value)
        enterprise = await lookup(hub, code=code)
        assert enterprise.status is wanted


async def test_a_representatives_enterprises_agree_with_the_population_register(
    tmp_path, business_mock, business, population_mock, population
):
    """Hub.profile joins both sources: each enterprise names her, as the population mock does."""
    sources = {
        "business": business_source(business_mock[0]),
        "population": population_source(population_mock),
    }
    async with Hub(hub_settings(tmp_path, **sources)) as hub:
        for national_id in population.sample(kind="representative", n=3):
            profile = await hub.profile(national_id, purpose=PURPOSE)
            assert profile.errors == {}
            citizen = profile.parts["population"].record
            enterprises = profile.parts["business"].record
            assert isinstance(enterprises, tuple)
            assert enterprises
            for enterprise in enterprises:
                named = [
                    person
                    for person in enterprise.legal_representatives
                    if person.national_id == national_id
                ]
                assert len(named) == 1
                assert named[0].full_name == citizen.full_name
            assert profile.parts["business"].audit_id != profile.parts["population"].audit_id


async def test_a_citizen_who_represents_nothing_has_an_empty_list(hub, business, population):
    """A look-up by representative is a list; for most citizens it is empty."""
    (minor,) = population.sample(kind="minor")
    result = await hub.lookup("business", {"legal_representative": minor}, purpose=PURPOSE)
    assert result.record == ()
    assert result.audit_id


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"code": "0100233489"}, "query.code"),
        ({"code": "01002334"}, "query.code"),
        ({"legal_representative": "03709000123"}, "query.legal_representative"),
        ({"legal_representative": "999090001234"}, "query.legal_representative"),
        ({}, "query"),
        ({"code": "0100233488", "legal_representative": "037090001234"}, "query"),
        ({"code": "0100233488", "name": "x"}, "query.name"),
    ],
)
async def test_invalid_input_never_reaches_the_register(hub, business, query, field):
    """A malformed query is InvalidQuery naming the field; neither server sees a request."""
    before = (business.requests(), business.token_requests())
    with pytest.raises(InvalidQuery) as caught:
        await hub.lookup("business", query, purpose=PURPOSE)
    assert field in caught.value.fields
    assert (business.requests(), business.token_requests()) == before


# The access token


async def test_one_token_serves_many_lookups(hub, business):
    """Sequential and concurrent look-ups share one token request."""
    codes = business.sample(kind="enterprise", n=12)
    before = business.token_requests()
    for code in codes[:4]:
        await lookup(hub, code=code)
    await asyncio.gather(*(lookup(hub, code=code) for code in codes[4:]))
    assert business.token_requests() - before == 1


async def test_concurrent_first_lookups_share_one_token_request(hub, business):
    """Sixteen look-ups at once, before any token: one token request (single flight)."""
    codes = business.sample(kind="enterprise", n=16)
    before = business.token_requests()
    records = await asyncio.gather(*(lookup(hub, code=code) for code in codes))
    assert [record.code for record in records] == codes
    assert business.token_requests() - before == 1


async def test_a_token_is_renewed_before_it_expires(hub, business):
    """With 1-second tokens, a look-up after a second fetches a new token first: no 401."""
    (code,) = business.sample(kind="enterprise")
    business.set_ttl(1)
    before = (business.requests(), business.token_requests())
    await lookup(hub, code=code)
    await asyncio.sleep(1.0)
    await lookup(hub, code=code)
    # Two tokens and two look-ups; a refused token would have cost a third register request.
    assert (business.requests(), business.token_requests()) == (before[0] + 2, before[1] + 2)


async def test_a_revoked_token_is_renewed_once_and_the_lookup_succeeds(hub, business):
    """401 invalid_token -> one new token -> the same request again, answered."""
    code, other = business.sample(kind="enterprise", n=2)
    await lookup(hub, code=code)
    business.revoke()
    before = (business.requests(), business.token_requests())
    result = await hub.lookup("business", {"code": other}, purpose=PURPOSE)
    assert result.record.code == other
    assert (business.requests(), business.token_requests()) == (before[0] + 2, before[1] + 1)


async def test_callers_refused_together_share_one_renewal(hub, business):
    """Twelve look-ups refused with the same revoked token cause one token request."""
    codes = business.sample(kind="enterprise", n=12)
    await lookup(hub, code=codes[0])
    business.revoke()
    before = business.token_requests()
    records = await asyncio.gather(*(lookup(hub, code=code) for code in codes))
    assert [record.code for record in records] == codes
    assert business.token_requests() - before == 1


async def test_a_register_refusing_every_token_fails_after_one_renewal(hub, business):
    """A fresh token refused too is an UpstreamError: one renewal, no loop, no retry."""
    (code,) = business.sample(kind="enterprise")
    await lookup(hub, code=code)
    business.fault({"kind": "invalid_token"})
    before = (business.requests(), business.token_requests())
    with pytest.raises(UpstreamError, match="newly issued access token"):
        await lookup(hub, code=code)
    assert (business.requests(), business.token_requests()) == (before[0] + 2, before[1] + 1)


async def test_a_wrong_client_secret_is_an_upstream_error_that_names_no_secret(
    tmp_path, business_mock, business, leaks
):
    """invalid_client is the hub's misconfiguration: UpstreamError (502), not retried."""
    served = business_mock[0]
    source = business_source(served, client_secret="not-the-secret-at-all")
    (code,) = business.sample(kind="enterprise")
    before = (business.requests(), business.token_requests())
    async with Hub(hub_settings(tmp_path, business=source)) as hub:
        with pytest.raises(UpstreamError) as caught:
            await lookup(hub, code=code)
    assert "client credentials" in caught.value.detail
    assert "not-the-secret-at-all" not in str(caught.value)
    assert caught.value.audit_id
    assert (business.requests(), business.token_requests()) == (before[0], before[1] + 1)
    leaks.add_values(["not-the-secret-at-all"])
    leaks.add(str(caught.value))


async def test_no_token_or_secret_reaches_a_log_line_or_an_error(hub, business, caplog, leaks):
    """Through a renewal and a failure, neither the token nor the secret is written."""
    caplog.set_level(logging.DEBUG)
    code, other = business.sample(kind="enterprise", n=2)
    business.revoke()  # the tokens of earlier tests are not this hub's
    await lookup(hub, code=code)
    secrets = {*business.store.held(), DEMO_SECRET}  # the token about to be revoked too
    business.revoke()
    await lookup(hub, code=other)
    business.fault({"kind": "invalid_token"})
    with pytest.raises(UpstreamError) as caught:
        await lookup(hub, code=code)
    secrets.update(business.store.held())
    assert len(secrets) == 4  # the secret, and the tokens of the three token requests
    written = [caplog.text, str(caught.value), repr(caught.value)]
    for secret in secrets:
        assert not any(secret in text for text in written)
    leaks.add_values(secrets)
    leaks.add(str(caught.value))


# Faults


async def test_a_burst_of_503_is_retried(hub, business):
    """Two 503s then the answer: three register requests."""
    (code,) = business.sample(kind="enterprise")
    await lookup(hub, code=code)
    business.fault({"kind": "status", "status": 503, "count": 2})
    before = business.requests()
    assert (await lookup(hub, code=code)).code == code
    assert business.requests() - before == 3


async def test_a_429_retry_after_is_waited_for(hub, business):
    """429 with Retry-After: 1 makes the hub wait a second before the next attempt."""
    (code,) = business.sample(kind="enterprise")
    await lookup(hub, code=code)
    business.fault({"kind": "status", "status": 429, "retry_after": 1, "count": 1})
    before = business.requests()
    started = time.monotonic()
    await lookup(hub, code=code)
    assert time.monotonic() - started >= 1.0
    assert business.requests() - before == 2


async def test_a_token_endpoint_503_is_retried(hub, business):
    """The token request is part of the attempt: a 503 there is retried like any other."""
    (code,) = business.sample(kind="enterprise")
    business.token_fault({"kind": "status", "status": 503, "count": 1})
    before = (business.requests(), business.token_requests())
    assert (await lookup(hub, code=code)).code == code
    assert (business.requests(), business.token_requests()) == (before[0] + 1, before[1] + 2)


@pytest.mark.parametrize(
    "plan",
    [
        {"kind": "malformed"},
        {"kind": "wrong_content_type"},
        {"kind": "status", "status": 404},
        {"kind": "status", "status": 400},
    ],
    ids=["malformed", "html", "404", "400"],
)
async def test_an_unusable_token_answer_is_an_upstream_error(hub, business, plan):
    """Garbage, HTML, a 404 or a bare 400 at the token endpoint: UpstreamError, not retried."""
    (code,) = business.sample(kind="enterprise")
    business.token_fault(plan)
    before = (business.requests(), business.token_requests())
    with pytest.raises(UpstreamError):
        await lookup(hub, code=code)
    assert (business.requests(), business.token_requests()) == (before[0], before[1] + 1)


@pytest.mark.parametrize("kind", ["malformed", "wrong_content_type"])
async def test_an_unusable_register_answer_is_an_upstream_error(hub, business, kind):
    """Garbage JSON, or HTML where JSON belongs, is UpstreamError and not retried."""
    (code,) = business.sample(kind="enterprise")
    await lookup(hub, code=code)
    business.fault({"kind": kind})
    before = business.requests()
    with pytest.raises(UpstreamError):
        await lookup(hub, code=code)
    assert business.requests() - before == 1


async def test_a_truncated_answer_is_retried(hub, business):
    """A body cut short is a transport failure: retried, then answered."""
    (code,) = business.sample(kind="enterprise")
    await lookup(hub, code=code)
    business.fault({"kind": "truncated", "count": 1})
    before = business.requests()
    assert (await lookup(hub, code=code)).code == code
    assert business.requests() - before == 2


async def test_the_deadline_bounds_a_register_that_never_answers(tmp_path, business_mock, business):
    """With no answer at all, the call ends in DeadlineExceeded near its deadline."""
    source = business_source(business_mock[0], deadline=1.0, attempt_timeout=0.4)
    (code,) = business.sample(kind="enterprise")
    business.fault({"kind": "timeout"})
    async with Hub(hub_settings(tmp_path, business=source)) as hub:
        started = time.monotonic()
        with pytest.raises((DeadlineExceeded, UpstreamUnavailable)):
            await lookup(hub, code=code)
        assert time.monotonic() - started < 3.0


async def test_health_reports_the_register_up(hub, business):
    """The health check needs no token and reaches the mock."""
    before = business.token_requests()
    health = await hub.health()
    assert health["business"].status == "up"
    assert business.token_requests() == before
