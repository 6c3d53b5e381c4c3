"""The budget-unit mock's REST contract: its answers, its key, its faults, its OpenAPI."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.applications import Starlette

from hub._serving import ServedApp
from hub.mocks._world import World
from hub.mocks.budget_unit import API_KEY, create_app, hub_settings
from hub.schemas import schema_path

SEED, CITIZENS = 3, 2_000
KEY = {"X-Api-Key": API_KEY}


OPENAPI: dict[str, Any] = json.loads(schema_path("budget_unit/openapi.json").read_text())


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """A validator of the OpenAPI's schema ``name`` (JSON Schema 2020-12, formats checked)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": OPENAPI["components"]}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def conforms(name: str, data: object) -> None:
    """Fail with every error if ``data`` does not match the OpenAPI's schema ``name``."""
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator(name).iter_errors(data)]
    assert errors == []


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=SEED, citizens=CITIZENS)


@pytest.fixture(scope="module")
def app() -> Starlette:
    return create_app(seed=SEED, citizens=CITIZENS)


@pytest.fixture(scope="module")
def served(app: Starlette) -> Iterator[ServedApp]:
    with ServedApp(app, lifespan="off") as server:
        yield server


@pytest.fixture
def client(served: ServedApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=10) as http:
        http.delete("/_admin/faults")
        yield http
        http.delete("/_admin/faults")


def sample(client: httpx.Client, n: int) -> list[str]:
    keys: list[str] = client.get("/_admin/sample", params={"n": n}).json()["keys"]
    return keys


def test_every_unit_is_served_as_the_world_has_it(client, world):
    """Each unit of the register comes back with its world record, matching the OpenAPI."""
    codes = sample(client, world.budget_units)
    assert len(codes) == world.budget_units
    for code in codes:
        response = client.get(f"/v1/units/{code}", headers=KEY)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        data = response.json()
        conforms("BudgetUnit", data)
        unit = world.budget_unit(code)
        assert data["maDonVi"] == code
        assert data["tenDonVi"] == unit.name
        assert data["loaiDonVi"] == {"ma": unit.unit_type.code, "ten": unit.unit_type.name}
        assert data["diaChi"]["maXa"] == unit.address.ward
        assert (data["trangThai"] == "da_dong") == (unit.status == "closed")


def test_a_closed_unit_keeps_the_codes_of_its_time(client, world):
    """Units closed on 1 July 2025 carry their closing date and a district code."""
    closed = [c for c in sample(client, 100) if world.budget_unit(c).status == "closed"]
    assert closed, "the sample holds no closed unit"
    data = client.get(f"/v1/units/{closed[0]}", headers=KEY).json()
    assert data["trangThai"] == "da_dong"
    assert data["ngayDong"] == "2025-07-01"
    assert data["capNganSach"] in ("huyen", "xa")
    assert data["diaChi"]["maHuyen"] is not None


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Api-Key": "wrong"}, {"X-Api-Key": API_KEY + "x"}],
    ids=["missing", "wrong", "longer"],
)
def test_a_missing_or_wrong_key_is_401(client, headers):
    """Without the key nothing is answered, not even whether the unit exists."""
    (code,) = sample(client, 1)
    for path in (f"/v1/units/{code}", "/v1/units/9999999", "/v1/status"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        conforms("Problem", response.json())


def test_an_absent_code_is_404_and_a_malformed_one_422(client):
    """404 for a well-formed code nobody holds; 422 naming ``code`` for a malformed one."""
    missing = client.get("/v1/units/9999999", headers=KEY)
    assert missing.status_code == 404
    conforms("Problem", missing.json())
    for code in ("123456", "12345678", "12a4567"):
        invalid = client.get(f"/v1/units/{code}", headers=KEY)
        assert invalid.status_code == 422
        conforms("Problem", invalid.json())
        assert [e["field"] for e in invalid.json()["errors"]] == ["code"]
        assert code not in invalid.text


def test_status_counts_the_units(client, world):
    """The status endpoint answers with the register's size."""
    data = client.get("/v1/status", headers=KEY).json()
    conforms("Status", data)
    assert data["soDonVi"] == world.budget_units


def test_an_expired_key_fault_refuses_then_goes(client):
    """``expired_key`` answers 401 for its count, then the key works again."""
    (code,) = sample(client, 1)
    client.put("/_admin/faults", json={"kind": "expired_key", "count": 1}).raise_for_status()
    refused = client.get(f"/v1/units/{code}", headers=KEY)
    assert refused.status_code == 401
    conforms("Problem", refused.json())
    assert client.get(f"/v1/units/{code}", headers=KEY).status_code == 200


def test_the_shared_faults_apply(client):
    """A 503 burst, then garbage JSON of the right content type."""
    (code,) = sample(client, 1)
    client.put("/_admin/faults", json={"kind": "status", "status": 503, "count": 1})
    assert client.get(f"/v1/units/{code}", headers=KEY).status_code == 503
    client.put("/_admin/faults", json={"kind": "malformed", "count": 1})
    garbage = client.get(f"/v1/units/{code}", headers=KEY)
    assert garbage.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        json.loads(garbage.content)
    assert client.get(f"/v1/units/{code}", headers=KEY).status_code == 200


def test_every_route_is_in_the_openapi(app):
    """The mock serves exactly the paths its published contract lists."""
    routes = {route.path for route in app.routes if not route.path.startswith("/_admin")}
    assert routes == set(OPENAPI["paths"])


def test_hub_settings_carry_the_url_and_the_key():
    """The [sources.budget_unit] table points at the server and holds the mock's key."""
    assert hub_settings("http://127.0.0.1:8080") == {
        "url": "http://127.0.0.1:8080",
        "api_key": API_KEY,
    }


@schemathesis.openapi.from_path(schema_path("budget_unit/openapi.json")).parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_generated_requests_get_documented_answers(case, served):
    """Requests generated from the OpenAPI never get a 5xx, and every answer conforms.

    A valid request may still find nothing (a well-formed code nobody holds), so the
    acceptance of schema-valid data is not among the checks.
    """
    case.call_and_validate(
        base_url=served.url, headers=KEY, excluded_checks=[positive_data_acceptance]
    )
