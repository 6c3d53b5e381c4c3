"""The catalog mock's REST contract: catalogs, pages, entries, successors, its OpenAPI."""

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
from hub.mocks._world import (
    BLOOD_TYPES,
    MARITAL_STATUSES,
    ethnic_groups,
    nationalities,
    religions,
)
from hub.mocks.catalog import create_app, hub_settings
from hub.schemas import schema_path

CURRENT = json.loads(schema_path("admin-units-2025.json").read_text(encoding="utf-8"))["current"]
CATALOGS = {
    "provinces": 34,
    "wards": len(CURRENT["wards"]),
    "provinces_before_2025": 63,
    "districts_before_2025": 696,
    "wards_before_2025": 10_051,
    "ethnic_groups": 54,
    "religions": len(religions()),
    "nationalities": len(nationalities()),
    "marital_statuses": 4,
    "blood_types": 4,
}


OPENAPI: dict[str, Any] = json.loads(schema_path("catalog/openapi.json").read_text())


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """A validator of the OpenAPI's schema ``name`` (JSON Schema 2020-12, formats checked)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": OPENAPI["components"]}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(schema_path("admin-units-2025.json").read_text())
    return document


def conforms(name: str, data: object) -> None:
    """Fail with every error if ``data`` does not match the OpenAPI's schema ``name``."""
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator(name).iter_errors(data)]
    assert errors == []


@pytest.fixture(scope="module")
def app() -> Starlette:
    return create_app(seed=3, citizens=2_000)


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


def items(client: httpx.Client, catalog: str, **params: Any) -> list[dict[str, Any]]:
    """Every entry of a catalog, page by page."""
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        data = client.get(
            f"/v1/catalogs/{catalog}/items", params={"page": page, "page_size": 1000, **params}
        ).json()
        found.extend(data["danhSach"])
        if len(found) >= data["tongSo"]:
            return found
        page += 1


def test_the_catalog_list_names_each_catalog_and_its_size(client):
    """GET /v1/catalogs lists the ten catalogs with their sizes."""
    data = client.get("/v1/catalogs").json()
    conforms("CatalogList", data)
    assert {c["ma"]: c["tongSo"] for c in data["danhSach"]} == CATALOGS


@pytest.mark.parametrize("catalog", sorted(CATALOGS))
def test_every_page_matches_the_openapi_and_adds_up(client, catalog):
    """Pages of every catalog validate, hold distinct codes in order, and sum to the total."""
    first = client.get(f"/v1/catalogs/{catalog}/items")
    conforms("Page", first.json())
    assert (first.json()["trang"], first.json()["kichThuocTrang"]) == (1, 100)
    entries = items(client, catalog)
    codes = [entry["ma"] for entry in entries]
    assert len(codes) == CATALOGS[catalog]
    assert codes == sorted(set(codes))
    last = client.get(f"/v1/catalogs/{catalog}/items", params={"page": 999, "page_size": 1000})
    conforms("Page", last.json())
    assert last.json()["danhSach"] == []


def test_the_code_lists_are_the_worlds(client):
    """The code lists (ethnic groups, religions ...) hold the world's codes and names."""
    lists = {
        "ethnic_groups": ethnic_groups().values(),
        "religions": religions().values(),
        "nationalities": nationalities().values(),
        "marital_statuses": MARITAL_STATUSES.values(),
        "blood_types": BLOOD_TYPES.values(),
    }
    for catalog, entries in lists.items():
        served = {entry["ma"]: entry["ten"] for entry in items(client, catalog)}
        assert served == {entry.code: entry.name for entry in entries}


def test_the_current_units_are_the_snapshots(client):
    """Provinces and wards in force are those of the vietnam-provinces snapshot, wards under
    their province."""
    provinces = {p["ma"]: p["ten"] for p in items(client, "provinces")}
    assert set(provinces) == {f"{p['code']:02d}" for p in CURRENT["provinces"]}
    assert (provinces["01"], provinces["04"]) == ("Thành phố Hà Nội", "Tỉnh Cao Bằng")
    wards = {w["ma"]: (w["ten"], w["maCapTren"]) for w in items(client, "wards")}
    assert wards == {
        f"{w['code']:05d}": (w["name"], f"{w['province']:02d}") for w in CURRENT["wards"]
    }


def test_parent_filters_wards_by_province_and_covers_them_all(client):
    """Filtered pages of every province hold only its wards and together all of them."""
    total = 0
    for province in items(client, "provinces"):
        page = client.get(
            "/v1/catalogs/wards/items", params={"parent": province["ma"], "page_size": 1000}
        ).json()
        conforms("Page", page)
        assert {w["maCapTren"] for w in page["danhSach"]} == {province["ma"]}
        assert len(page["danhSach"]) == page["tongSo"]
        total += page["tongSo"]
    assert total == CATALOGS["wards"]


def test_old_wards_filter_by_district(client):
    """wards_before_2025 filters by a district code of 3 digits."""
    wards = items(client, "wards_before_2025", parent="001")
    assert wards
    assert {w["maCapTren"] for w in wards} == {"001"}
    assert all(w["thoiKy"] == "truoc_2025" for w in wards)


@pytest.mark.parametrize(
    ("catalog", "params", "field"),
    [
        ("wards", {"page_size": 1001}, "page_size"),
        ("wards", {"page_size": 0}, "page_size"),
        ("wards", {"page": 0}, "page"),
        ("wards", {"page": "x"}, "page"),
        ("religions", {"parent": "01"}, "parent"),
        ("provinces", {"parent": "01"}, "parent"),
        ("wards", {"parent": "0\x01"}, "parent"),
        ("districts_before_2025", {"parent": "1"}, "parent"),
        ("wards_before_2025", {"parent": "0011"}, "parent"),
    ],
)
def test_bad_paging_is_422_naming_the_parameter(client, catalog, params, field):
    """Bad paging, a parent where it does not apply or not a unit code, are refused."""
    response = client.get(f"/v1/catalogs/{catalog}/items", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    conforms("Problem", response.json())
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_one_entry_or_404(client):
    """An entry by code matches the OpenAPI; unknown catalogs and codes are 404."""
    kinh = client.get("/v1/catalogs/ethnic_groups/items/01")
    conforms("Entry", kinh.json())
    assert kinh.json() == {"ma": "01", "ten": "Kinh"}
    ward = client.get("/v1/catalogs/wards_before_2025/items/00001").json()
    conforms("AdministrativeUnit", ward)
    assert (ward["ten"], ward["cap"], ward["maCapTren"]) == ("Phường Phúc Xá", "xa", "001")
    for path in (
        "/v1/catalogs/ethnic_groups/items/99",
        "/v1/catalogs/districts/items/001",
        "/v1/catalogs/districts/items",
    ):
        response = client.get(path)
        assert response.status_code == 404
        conforms("Problem", response.json())


def test_ward_successors_follow_the_official_conversion(client, snapshot):
    """Each old ward maps to the table's successors the current catalog holds, with partly."""
    current = {w["ma"]: w["ten"] for w in items(client, "wards")}
    rows = snapshot["conversion"]["wards"]
    legacy = {w["code"] for w in snapshot["legacy"]["wards"]}
    checked = {"whole": 0, "split": 0}
    for row in rows[::100]:
        if row["old"] not in legacy:
            continue
        code = f"{row['old']:05d}"
        data = client.get(f"/v1/administrative-units/before-2025/ward/{code}/successors").json()
        conforms("Successors", data)
        assert data["donVi"]["ma"] == code
        expected = [f"{n:05d}" for n in row["new"] if f"{n:05d}" in current]
        assert [s["ma"] for s in data["donViKeThua"]] == expected
        assert all(s["ten"] == current[s["ma"]] for s in data["donViKeThua"])
        assert all(s["motPhan"] is row["partly"] for s in data["donViKeThua"])
        checked["split" if row["partly"] else "whole"] += 1
    assert checked["whole"] > 10
    assert checked["split"] > 1


def test_province_successors(client, snapshot):
    """Hà Giang (02) went wholly to Tuyên Quang (08); every old province has successors."""
    data = client.get("/v1/administrative-units/before-2025/province/02/successors").json()
    conforms("Successors", data)
    assert data["donVi"]["ten"] == "Tỉnh Hà Giang"
    assert data["donViKeThua"] == [{"ma": "08", "ten": "Tỉnh Tuyên Quang", "motPhan": False}]
    for old, new in snapshot["conversion"]["provinces"].items():
        path = f"/v1/administrative-units/before-2025/province/{int(old):02d}/successors"
        successors = client.get(path).json()["donViKeThua"]
        assert [s["ma"] for s in successors] == [f"{n:02d}" for n in new]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/administrative-units/before-2025/ward/99999/successors",
        "/v1/administrative-units/before-2025/district/001/successors",
        "/v1/administrative-units/before-2025/province/00/successors",
    ],
)
def test_unknown_old_units_are_404(client, path):
    """No such unit, or a level the conversion does not cover."""
    response = client.get(path)
    assert response.status_code == 404
    conforms("Problem", response.json())


def test_the_shared_faults_apply(client):
    """A 503 burst, then garbage JSON of the right content type."""
    client.put("/_admin/faults", json={"kind": "status", "status": 503, "count": 1})
    assert client.get("/v1/catalogs").status_code == 503
    client.put("/_admin/faults", json={"kind": "malformed", "count": 1})
    garbage = client.get("/v1/catalogs")
    assert garbage.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        json.loads(garbage.content)
    assert client.get("/v1/catalogs").status_code == 200


def test_every_route_is_in_the_openapi(app):
    """The mock serves exactly the paths its published contract lists, with no security."""
    routes = {route.path for route in app.routes if not route.path.startswith("/_admin")}
    assert routes == set(OPENAPI["paths"])
    assert OPENAPI["security"] == []


def test_hub_settings_point_at_the_server():
    """The [sources.catalog] table is the URL alone: no credentials."""
    assert hub_settings("http://127.0.0.1:8080") == {"url": "http://127.0.0.1:8080"}


@schemathesis.openapi.from_path(schema_path("catalog/openapi.json")).parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_generated_requests_get_documented_answers(case, served):
    """Requests generated from the OpenAPI never get a 5xx, and every answer conforms.

    A valid request may still find nothing (a well-formed code nobody holds), so the
    acceptance of schema-valid data is not among the checks.
    """
    case.call_and_validate(base_url=served.url, excluded_checks=[positive_data_acceptance])
