"""The catalog source end to end: the hub against the REST mock over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub import Hub
from hub._registry import installed_mocks
from hub.connector import HealthStatus
from hub.connectors.catalog import CatalogName, CatalogQuery
from hub.errors import DeadlineExceeded, InvalidQuery, NotFound, UpstreamError, UpstreamUnavailable
from hub.mocks._world import Address, World
from hub.records import AdministrativeUnit, CatalogItem, CatalogPage, UnitMapping
from hub.schemas import schema_path
from hub.testing import ServedApp
from hub.text import normalize
from tests._helpers import FAST, PURPOSE, MockAdmin, hub_settings

# The same world as the population mock of tests/conftest.py: the same citizens.
SEED, CITIZENS = 1, 10_000
SOURCE = "catalog"


@pytest.fixture(scope="module")
def catalog_mock() -> Iterator[ServedApp]:
    """The catalog mock, served for this module (no shared fixture exists for it)."""
    with ServedApp(installed_mocks()[SOURCE].create_app(seed=SEED, citizens=CITIZENS)) as served:
        yield served


@pytest.fixture
def catalogs(catalog_mock: ServedApp) -> Iterator[MockAdmin]:
    admin = MockAdmin(catalog_mock)
    admin.clear()
    yield admin
    admin.clear()


def catalog_source(mock: ServedApp, **overrides: Any) -> dict[str, Any]:
    return {**installed_mocks()[SOURCE].hub_settings(mock.url), **FAST, **overrides}


@pytest.fixture
async def hub(tmp_path, catalog_mock):
    async with Hub(hub_settings(tmp_path, catalog=catalog_source(catalog_mock))) as h:
        yield h


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(schema_path("admin-units-2025.json").read_text())
    return document


async def look_up(hub: Hub, query: dict[str, Any]) -> Any:
    return (await hub.lookup(SOURCE, query, purpose=PURPOSE)).record


async def whole(hub: Hub, catalog: str, **filters: str) -> list[Any]:
    """Every item of a catalog, paged through the hub 1,000 at a time."""
    found: list[Any] = []
    page = 1
    while True:
        query = {"catalog": catalog, "page": page, "page_size": 1000, **filters}
        result = await look_up(hub, query)
        assert isinstance(result, CatalogPage)
        assert (result.catalog, result.page, result.page_size) == (catalog, page, 1000)
        found.extend(result.items)
        if not result.items:
            assert len(found) == result.total
            return found
        page += 1


async def test_every_catalog_pages_through_to_its_total(hub, catalogs):
    """Each catalog's pages add up to its total, with distinct codes; 34 and 63 provinces."""
    sizes = {}
    for catalog in CatalogName:
        items = await whole(hub, catalog.value)
        codes = [item.code for item in items]
        assert len(set(codes)) == len(codes)
        units = catalog.value.startswith(("provinces", "districts", "wards"))
        assert all(isinstance(item, AdministrativeUnit if units else CatalogItem) for item in items)
        sizes[catalog.value] = len(items)
    assert sizes["provinces"] == 34
    assert sizes["provinces_before_2025"] == 63
    assert sizes["ethnic_groups"] == 54


async def test_one_entry_and_one_unit(hub):
    """A code-list entry comes back as a CatalogItem, a ward as an AdministrativeUnit."""
    kinh = await look_up(hub, {"catalog": "ethnic_groups", "code": "01"})
    assert kinh == CatalogItem(catalog="ethnic_groups", code="01", name="Kinh")
    vietnam = await look_up(hub, {"catalog": "nationalities", "code": "VN"})
    assert vietnam.name == "Việt Nam"
    ward = await look_up(hub, {"catalog": "wards_before_2025", "code": "00001"})
    assert ward == AdministrativeUnit(
        code="00001",
        name="Phường Phúc Xá",
        level="ward",
        type="phường",
        parent_code="001",
        period="before_2025",
    )
    hanoi = await look_up(hub, {"catalog": "provinces", "code": "01"})
    assert (hanoi.level, hanoi.period, hanoi.parent_code) == ("province", "current", None)


async def test_a_parent_filters_wards_by_province(hub):
    """The wards of one province, and only they."""
    wards = await whole(hub, "wards", parent="04")
    assert wards
    assert {ward.parent_code for ward in wards} == {"04"}
    everything = await whole(hub, "wards")
    assert len(wards) == sum(1 for ward in everything if ward.parent_code == "04")


async def test_a_missing_entry_is_not_found_after_one_request(hub, catalogs):
    """A well-formed code absent from the catalog is NotFound, not retried."""
    before = catalogs.requests()
    with pytest.raises(NotFound) as caught:
        await look_up(hub, {"catalog": "religions", "code": "99"})
    assert catalogs.requests() - before == 1
    assert caught.value.audit_id


async def test_ward_successors_agree_with_the_conversion_table(hub, snapshot):
    """Old wards map to the table's successors (those the current catalog holds), partly kept."""
    current = {ward.code: ward.name for ward in await whole(hub, "wards")}
    rows = {row["old"]: row for row in snapshot["conversion"]["wards"]}
    # A ward merged whole (Phúc Xá), one split in two (Cống Vị), one split in four (Điện Biên).
    for old in (1, 7, 19):
        row = rows[old]
        mapping = await look_up(hub, {"successors_of": f"{old:05d}", "level": "ward"})
        assert isinstance(mapping, UnitMapping)
        assert mapping.old.code == f"{old:05d}"
        assert mapping.old.period == "before_2025"
        expected = [f"{code:05d}" for code in row["new"] if f"{code:05d}" in current]
        assert [s.code for s in mapping.successors] == expected
        assert [s.name for s in mapping.successors] == [current[code] for code in expected]
        assert {s.partly for s in mapping.successors} == {row["partly"]}
    assert len(expected) == 4


async def test_province_successors_agree_with_the_conversion_table(hub, snapshot):
    """Every province before 2025 maps to the provinces its table entry names."""
    for old, new in snapshot["conversion"]["provinces"].items():
        mapping = await look_up(hub, {"successors_of": f"{int(old):02d}", "level": "province"})
        assert isinstance(mapping, UnitMapping)
        assert mapping.old.level == "province"
        assert [s.code for s in mapping.successors] == [f"{code:02d}" for code in new]
        assert all(s.partly == (len(new) > 1) for s in mapping.successors)


async def test_the_worlds_addresses_and_code_lists_resolve(hub):
    """Every code a citizen's record carries is in the catalog of its period, names agreeing."""
    units = {
        catalog: {unit.code: unit for unit in await whole(hub, catalog)}
        for catalog in (
            "provinces",
            "wards",
            "provinces_before_2025",
            "districts_before_2025",
            "wards_before_2025",
        )
    }
    entries = {
        catalog: {item.code: item.name for item in await whole(hub, catalog)}
        for catalog in ("ethnic_groups", "religions", "nationalities", "marital_statuses")
    }
    entries["blood_types"] = {i.code: i.name for i in await whole(hub, "blood_types")}

    def resolves(address: Address) -> None:
        if address.before_2025:
            province = units["provinces_before_2025"][address.province]
            district = units["districts_before_2025"][address.district]
            ward = units["wards_before_2025"][address.ward]
            assert ward.parent_code == address.district
            assert district.parent_code == address.province
            names = f"{ward.name}, {district.name}, {province.name}"
        else:
            province = units["provinces"][address.province]
            ward = units["wards"][address.ward]
            assert ward.parent_code == address.province
            names = f"{ward.name}, {province.name}"
        # The package spells a few names with a double space; the hub normalises them.
        assert normalize(address.text).endswith(names)

    world = World(SEED, CITIZENS)
    old = 0
    for index in range(0, CITIZENS, 10):
        citizen = world.citizen(index)
        addresses = [
            citizen.birth_registration_place,
            citizen.hometown,
            citizen.permanent_residence,
            citizen.current_residence,
            citizen.temporary_residence,
        ]
        for address in addresses:
            if address is not None:
                resolves(address)
                old += address.before_2025
        for catalog, entry in (
            ("ethnic_groups", citizen.ethnicity),
            ("religions", citizen.religion),
            ("nationalities", citizen.nationality),
            ("marital_statuses", citizen.marital_status),
            ("blood_types", citizen.blood_type),
        ):
            if entry is not None:
                assert entries[catalog][entry.code] == entry.name
    assert old > 100, "too few addresses from before 2025 to mean anything"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"catalog": "ward", "code": "00004"}, "query.catalog"),
        ({"catalog": "Wards"}, "query.catalog"),
        ({"catalog": "provinces", "code": "1"}, "query.code"),
        ({"catalog": "wards", "code": "0000A"}, "query.code"),
        ({"catalog": "nationalities", "code": "vn"}, "query.code"),
        ({"catalog": "ethnic_groups", "code": "001"}, "query.code"),
        ({"catalog": "wards", "parent": "001"}, "query.parent"),
        ({"catalog": "religions", "parent": "01"}, "query.parent"),
        ({"catalog": "wards", "page": 0}, "query.page"),
        ({"catalog": "wards", "page_size": 1001}, "query.page_size"),
        ({"catalog": "wards", "code": "00004", "page_size": 10}, "query"),
        ({"successors_of": "00001"}, "query"),
        ({"successors_of": "01", "level": "ward"}, "query.successors_of"),
        ({"successors_of": "00001", "level": "town"}, "query.level"),
        ({"successors_of": "00001", "level": "ward", "catalog": "wards"}, "query"),
        ({}, "query"),
    ],
)
async def test_bad_queries_never_reach_the_catalog(hub, catalogs, query, field):
    """Unknown catalog names and malformed codes fail with the field named, the mock untouched."""
    before = catalogs.requests()
    with pytest.raises(InvalidQuery) as caught:
        await look_up(hub, query)
    assert caught.value.fields == [field]
    assert catalogs.requests() == before


def test_catalog_queries_have_no_subject():
    """No personal data: no query of any shape names a subject for the audit trail."""
    for query in (
        {"catalog": "wards", "code": "00004"},
        {"catalog": "wards", "parent": "01"},
        {"successors_of": "00001", "level": "ward"},
    ):
        assert CatalogQuery.model_validate(query).subject() is None


async def test_record_fields_cannot_be_chosen(hub):
    """The catalog answers several record types, so there are no fields to minimise to."""
    with pytest.raises(InvalidQuery) as caught:
        await hub.lookup(
            SOURCE, {"catalog": "ethnic_groups", "code": "01"}, purpose=PURPOSE, fields=["name"]
        )
    assert caught.value.fields == ["fields"]


async def test_two_503s_then_success_takes_three_attempts(hub, catalogs):
    """A burst of two 503s is absorbed by the retries."""
    catalogs.fault({"kind": "status", "status": 503, "count": 2})
    before = catalogs.requests()
    assert (await look_up(hub, {"catalog": "blood_types", "code": "1"})).name == "O"
    assert catalogs.requests() - before == 3


async def test_a_429_retry_after_is_waited_for(hub, catalogs):
    """429 with Retry-After: 1 makes the hub wait at least a second before the next attempt."""
    catalogs.fault({"kind": "status", "status": 429, "retry_after": 1, "count": 1})
    started = time.monotonic()
    await look_up(hub, {"catalog": "blood_types", "code": "1"})
    assert time.monotonic() - started >= 1.0


@pytest.mark.parametrize("kind", ["malformed", "wrong_content_type"])
async def test_unusable_answers_are_upstream_errors_at_once(hub, catalogs, kind):
    """Garbage JSON or an HTML page is UpstreamError after one request."""
    catalogs.fault({"kind": kind})
    before = catalogs.requests()
    with pytest.raises(UpstreamError):
        await look_up(hub, {"catalog": "provinces", "page": 1})
    assert catalogs.requests() - before == 1


async def test_the_deadline_bounds_a_catalog_that_never_answers(tmp_path, catalog_mock, catalogs):
    """With no answer at all, the call ends within its deadline, typed."""
    source = catalog_source(catalog_mock, deadline=1.0, attempt_timeout=0.4)
    catalogs.fault({"kind": "timeout"})
    async with Hub(hub_settings(tmp_path, catalog=source)) as hub:
        started = time.monotonic()
        with pytest.raises((DeadlineExceeded, UpstreamUnavailable)):
            await look_up(hub, {"catalog": "religions", "code": "01"})
        assert time.monotonic() - started < 3.0


async def test_health_reports_the_catalog_up(hub):
    """The catalog list answers."""
    assert (await hub.health())[SOURCE].status is HealthStatus.UP


def rogue_catalog(answer: dict[str, Any]) -> Starlette:
    """An upstream that answers ``answer`` to every request: a catalog gone wrong."""

    async def reply(request: Request) -> JSONResponse:
        return JSONResponse(answer)

    return Starlette(routes=[Route("/{path:path}", reply)])


@pytest.mark.parametrize(
    ("query", "answer"),
    [
        ({"catalog": "ethnic_groups", "code": "01"}, {"ma": "02", "ten": "Tày"}),
        ({"catalog": "ethnic_groups", "code": "01"}, {"ma": "01"}),
        ({"catalog": "wards", "code": "00004"}, {"ma": "00004", "ten": "X", "cap": "thon"}),
        (
            {"catalog": "religions"},
            {"danhMuc": "ethnic_groups", "trang": 1, "kichThuocTrang": 100, "tongSo": 0},
        ),
        ({"successors_of": "00001", "level": "ward"}, {"donVi": None, "donViKeThua": []}),
    ],
)
async def test_an_answer_that_does_not_fit_is_an_upstream_error(tmp_path, query, answer):
    """Another entry, a missing field, an unknown level or catalog: UpstreamError, no crash."""
    with ServedApp(rogue_catalog(answer)) as rogue:
        async with Hub(hub_settings(tmp_path, catalog={"url": rogue.url, **FAST})) as hub:
            with pytest.raises(UpstreamError):
                await look_up(hub, query)
