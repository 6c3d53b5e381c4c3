"""The budget-unit source end to end: the hub against the REST mock over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub import Hub
from hub._registry import installed_mocks
from hub.connector import HealthStatus
from hub.connectors.budget_unit import BudgetUnitSettings
from hub.errors import (
    DeadlineExceeded,
    InvalidQuery,
    NotFound,
    UpstreamError,
    UpstreamUnavailable,
)
from hub.mocks._world import World
from hub.mocks.budget_unit import API_KEY
from hub.records import BudgetUnit
from hub.testing import ServedApp
from tests._helpers import FAST, PURPOSE, MockAdmin, hub_settings

# The same world as the population mock of tests/conftest.py.
SEED, CITIZENS = 1, 10_000
SOURCE = "budget_unit"
KEY = {"X-Api-Key": API_KEY}


@pytest.fixture(scope="module")
def unit_mock() -> Iterator[ServedApp]:
    """The budget-unit mock, served for this module (no shared fixture exists for it)."""
    with ServedApp(installed_mocks()[SOURCE].create_app(seed=SEED, citizens=CITIZENS)) as served:
        yield served


@pytest.fixture
def units(unit_mock: ServedApp) -> Iterator[MockAdmin]:
    admin = MockAdmin(unit_mock)
    admin.clear()
    yield admin
    admin.clear()


@pytest.fixture(scope="module")
def world() -> World:
    """The mock's world, for keys and expected facts.

    Keys come from it rather than from the admin surface's sample, which marks what it
    gives as personal values for the suite's leak check: budget-unit codes are public,
    and the hub (rightly) does not keep them out of log lines.
    """
    return World(SEED, CITIZENS)


def unit_source(mock: ServedApp, **overrides: Any) -> dict[str, Any]:
    return {**installed_mocks()[SOURCE].hub_settings(mock.url), **FAST, **overrides}


@pytest.fixture
async def hub(tmp_path, unit_mock):
    async with Hub(hub_settings(tmp_path, budget_unit=unit_source(unit_mock))) as h:
        yield h


async def look_up(hub: Hub, code: str) -> BudgetUnit:
    record = (await hub.lookup(SOURCE, {"code": code}, purpose=PURPOSE)).record
    assert isinstance(record, BudgetUnit)
    return record


async def test_a_unit_is_found_as_the_register_has_it(hub, units, world):
    """Sample codes come back as BudgetUnit records carrying the world's facts."""
    for code in world.sample("budget_unit", 5):
        result = await hub.lookup(SOURCE, {"code": f"  {code} "}, purpose=PURPOSE)
        unit = result.record
        expected = world.budget_unit(code)
        assert isinstance(unit, BudgetUnit)
        assert result.audit_id
        assert unit.code == code
        assert unit.name == expected.name
        assert unit.type == expected.unit_type.name
        assert unit.governing_authority == expected.authority
        assert unit.budget_level == expected.level
        assert unit.status == expected.status
        assert unit.address is not None
        assert unit.address.text == expected.address.text
        assert unit.address.ward_code == expected.address.ward


async def test_a_closed_unit_says_so_and_keeps_its_old_codes(hub, units, world):
    """A unit closed with the districts and old communes is "closed", with a district code."""
    closed = [
        code
        for code in world.sample("budget_unit", 200)
        if world.budget_unit(code).status == "closed"
    ]
    assert closed, "no closed unit among the sample"
    unit = await look_up(hub, closed[0])
    assert unit.status == "closed"
    assert unit.budget_level in ("district", "commune")
    assert unit.address is not None
    assert unit.address.district_code == world.budget_unit(closed[0]).address.district


async def test_an_unknown_code_is_not_found_and_not_retried(hub, units):
    """A well-formed code nobody holds is NotFound after exactly one request."""
    before = units.requests()
    with pytest.raises(NotFound) as caught:
        await look_up(hub, "9999999")
    assert units.requests() - before == 1
    assert caught.value.audit_id


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"code": "123456"}, "query.code"),
        ({"code": "12345678"}, "query.code"),
        ({"code": "1234 567"}, "query.code"),
        ({"code": 1234567}, "query.code"),
        ({}, "query.code"),
        ({"code": "1234567", "name": "x"}, "query.name"),
    ],
)
async def test_invalid_codes_never_reach_the_register(hub, units, query, field):
    """A malformed query is InvalidQuery naming the field, and the mock sees nothing."""
    before = units.requests()
    with pytest.raises(InvalidQuery) as caught:
        await hub.lookup(SOURCE, query, purpose=PURPOSE)
    assert caught.value.fields == [field]
    assert units.requests() == before


async def test_a_wrong_api_key_is_an_upstream_error_once(tmp_path, unit_mock, units, world):
    """The hub's refused key is UpstreamError (not the portal's fault), not retried, never
    quoted; health shows it down."""
    (code,) = world.sample("budget_unit", 1)
    wrong = "not-the-agency-key-0002"
    source = unit_source(unit_mock, api_key=wrong)
    async with Hub(hub_settings(tmp_path, budget_unit=source)) as hub:
        before = units.requests()
        with pytest.raises(UpstreamError) as caught:
            await look_up(hub, code)
        assert units.requests() - before == 1
        health = await hub.health()
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value)
    assert caught.value.audit_id
    assert health[SOURCE].status is HealthStatus.DOWN


async def test_an_expired_key_is_an_upstream_error(hub, units, world):
    """The register refusing the hub's key as expired is UpstreamError after one request."""
    (code,) = world.sample("budget_unit", 1)
    units.fault({"kind": "expired_key"})
    before = units.requests()
    with pytest.raises(UpstreamError):
        await look_up(hub, code)
    assert units.requests() - before == 1


def test_the_key_is_held_as_a_secret(unit_mock):
    """The configured key is a SecretStr: absent from the settings' repr and dump."""
    table = unit_source(unit_mock)
    settings = BudgetUnitSettings.model_validate(table)
    assert table["api_key"] not in repr(settings)
    assert table["api_key"] not in str(settings.model_dump())
    assert settings.api_key.get_secret_value() == table["api_key"]


async def test_two_503s_then_success_takes_three_attempts(hub, units, world):
    """A burst of two 503s is absorbed by the retries."""
    (code,) = world.sample("budget_unit", 1)
    units.fault({"kind": "status", "status": 503, "count": 2})
    before = units.requests()
    assert (await look_up(hub, code)).code == code
    assert units.requests() - before == 3


async def test_a_429_retry_after_is_waited_for(hub, units, world):
    """429 with Retry-After: 1 makes the hub wait at least a second before the next attempt."""
    (code,) = world.sample("budget_unit", 1)
    units.fault({"kind": "status", "status": 429, "retry_after": 1, "count": 1})
    before = units.requests()
    started = time.monotonic()
    await look_up(hub, code)
    assert time.monotonic() - started >= 1.0
    assert units.requests() - before == 2


async def test_a_retry_after_beyond_the_limit_ends_the_retries(hub, units, world):
    """A 429 asking for a minute is not waited for: UpstreamUnavailable after one request."""
    (code,) = world.sample("budget_unit", 1)
    units.fault({"kind": "status", "status": 429, "retry_after": 60})
    before = units.requests()
    with pytest.raises(UpstreamUnavailable):
        await look_up(hub, code)
    assert units.requests() - before == 1


@pytest.mark.parametrize(
    ("kind", "error", "requests"),
    [
        ("malformed", UpstreamError, 1),
        ("wrong_content_type", UpstreamError, 1),
        ("truncated", UpstreamUnavailable, FAST["retry"]["attempts"]),
    ],
)
async def test_unusable_answers_are_typed(hub, units, kind, error, requests, world):
    """Garbage JSON and an HTML page are UpstreamError at once; a cut answer is retried."""
    (code,) = world.sample("budget_unit", 1)
    units.fault({"kind": kind})
    before = units.requests()
    with pytest.raises(error):
        await look_up(hub, code)
    assert units.requests() - before == requests


async def test_the_deadline_bounds_a_register_that_never_answers(tmp_path, unit_mock, units, world):
    """With no answer at all, the call ends within its deadline, typed."""
    source = unit_source(unit_mock, deadline=1.0, attempt_timeout=0.4)
    (code,) = world.sample("budget_unit", 1)
    units.fault({"kind": "timeout"})
    async with Hub(hub_settings(tmp_path, budget_unit=source)) as hub:
        started = time.monotonic()
        with pytest.raises((DeadlineExceeded, UpstreamUnavailable)):
            await look_up(hub, code)
        assert time.monotonic() - started < 3.0


async def test_health_reports_the_register_up(hub):
    """The status endpoint answers with the configured key."""
    assert (await hub.health())[SOURCE].status is HealthStatus.UP


def rogue_register(answer: dict[str, Any]) -> Starlette:
    """An upstream that answers ``answer`` to every request: a register gone wrong."""

    async def reply(request: Request) -> JSONResponse:
        return JSONResponse(answer)

    return Starlette(routes=[Route("/{path:path}", reply)])


async def test_an_answer_that_does_not_fit_is_an_upstream_error(tmp_path, unit_mock, world):
    """Another unit's record, an unknown budget level or a missing field: UpstreamError."""
    (code,) = world.sample("budget_unit", 1)
    async with httpx.AsyncClient(base_url=unit_mock.url) as http:
        real = (await http.get(f"/v1/units/{code}", headers=KEY)).json()
    for answer in (
        {**real, "maDonVi": "1000000" if code != "1000000" else "1000001"},
        {**real, "capNganSach": "thon"},
        {key: value for key, value in real.items() if key != "tenDonVi"},
    ):
        with ServedApp(rogue_register(answer)) as rogue:
            source = {**unit_source(unit_mock), "url": rogue.url}
            async with Hub(hub_settings(tmp_path, budget_unit=source)) as hub:
                with pytest.raises(UpstreamError):
                    await look_up(hub, code)
