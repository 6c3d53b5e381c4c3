"""One citizen across sources: concurrently, each part audited, a failure kept to its part."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hub import Hub
from hub._registry import installed_mocks
from hub.errors import UpstreamUnavailable
from hub.records import Citizen, DrivingLicence, Enterprise
from hub.testing import ServedApp
from tests._helpers import FAST, PURPOSE, MockAdmin, hub_settings

PERSON_SOURCES = ("population", "business", "driving_licence")


@pytest.fixture(scope="module")
def mocks() -> Iterator[dict[str, ServedApp]]:
    served = {
        name: ServedApp(installed_mocks()[name].create_app(seed=1, citizens=10_000)).start()
        for name in PERSON_SOURCES
    }
    yield served
    for app in served.values():
        app.stop()


@pytest.fixture
async def hub(tmp_path, mocks):
    sources = {
        name: {**installed_mocks()[name].hub_settings(app.url), **FAST}
        for name, app in mocks.items()
    }
    async with Hub(hub_settings(tmp_path, **sources)) as h:
        yield h


async def test_a_representative_is_found_in_every_register(hub, mocks):
    """Her citizen record, her enterprises and her licences come back, each with an audit id."""
    (national_id,) = MockAdmin(mocks["business"]).sample(kind="representative")
    profile = await hub.profile(national_id, purpose=PURPOSE)
    assert set(profile.parts) == set(PERSON_SOURCES)
    assert profile.errors == {}
    citizen = profile.parts["population"].record
    assert isinstance(citizen, Citizen)
    assert citizen.national_id == national_id
    enterprises = profile.parts["business"].record
    assert enterprises
    assert all(isinstance(e, Enterprise) for e in enterprises)
    assert all(
        any(rep.national_id == national_id for rep in e.legal_representatives) for e in enterprises
    )
    licences = profile.parts["driving_licence"].record
    assert all(
        isinstance(licence, DrivingLicence) and licence.holder.national_id == national_id
        for licence in licences
    )
    audit_ids = {part.audit_id for part in profile.parts.values()}
    assert len(audit_ids) == 3
    assert None not in audit_ids
    assert len({part.request_id for part in profile.parts.values()}) == 1


async def test_a_failing_source_leaves_only_its_part_empty(hub, mocks):
    """With the business register down, the profile still has the citizen, and says why."""
    business = MockAdmin(mocks["business"])
    (national_id,) = business.sample(kind="representative")
    business.fault({"kind": "status", "status": 503})
    try:
        profile = await hub.profile(national_id, purpose=PURPOSE)
    finally:
        business.clear()
    assert "business" not in profile.parts
    assert isinstance(profile.errors["business"], UpstreamUnavailable)
    assert profile.errors["business"].audit_id
    assert profile.parts["population"].record.national_id == national_id


async def test_sources_without_a_person_query_are_left_out(tmp_path, mocks):
    """Only configured sources that can find a person by national id take part."""
    budget = ServedApp(installed_mocks()["budget_unit"].create_app()).start()
    try:
        sources = {
            "population": {
                **installed_mocks()["population"].hub_settings(mocks["population"].url),
                **FAST,
            },
            "budget_unit": installed_mocks()["budget_unit"].hub_settings(budget.url),
        }
        async with Hub(hub_settings(tmp_path, **sources)) as hub:
            (national_id,) = MockAdmin(mocks["population"]).sample()
            profile = await hub.profile(national_id, purpose=PURPOSE)
    finally:
        budget.stop()
    assert list(profile.parts) == ["population"]
