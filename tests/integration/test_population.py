"""The population source end to end: the hub against the SOAP mock over real HTTP."""

from __future__ import annotations

import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import pytest

from hub import Hub, SyncHub
from hub.errors import (
    CircuitOpen,
    ConfigError,
    DeadlineExceeded,
    InvalidQuery,
    NotFound,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from hub.records import Citizen, LifeStatus, Match
from hub.text import normalize
from tests._helpers import PURPOSE, hub_settings, population_source


async def test_a_citizen_is_found_and_audited(hub, population):
    """A sample national id comes back as a Citizen with an audit id."""
    (national_id,) = population.sample(kind="citizen")
    result = await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)
    citizen = result.record
    assert isinstance(citizen, Citizen)
    assert citizen.national_id == national_id
    assert citizen.full_name == normalize(citizen.full_name)
    assert result.audit_id
    assert "national_id" in result.fields
    assert len(result.fields) == len(Citizen.model_fields)


async def test_an_unknown_citizen_is_not_found_and_not_retried(hub, population):
    """A valid number with no record is NotFound after exactly one request."""
    before = population.requests()
    with pytest.raises(NotFound) as caught:
        await hub.lookup("population", {"national_id": "001099999999"}, purpose=PURPOSE)
    assert population.requests() - before == 1
    assert caught.value.audit_id


async def test_a_partial_date_of_birth_stays_partial(hub, population):
    """The register's year-only or month-and-year date is not padded."""
    (national_id,) = population.sample(kind="partial_dob")
    citizen = (await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)).record
    assert citizen.date_of_birth.day is None


async def test_a_name_stored_in_nfd_comes_back_in_nfc_and_verifies(hub, population):
    """The register's decomposed name is normalised, and an NFD claim matches it."""
    (national_id,) = population.sample(kind="nfd_name")
    citizen = (await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)).record
    assert unicodedata.is_normalized("NFC", citizen.full_name)
    typed = unicodedata.normalize("NFD", citizen.full_name.upper())
    check = await hub.verify(
        "population", {"national_id": national_id, "full_name": typed}, purpose=PURPOSE
    )
    assert check.matches == {"full_name": Match.MATCH}


async def test_a_deceased_citizen_says_so(hub, population):
    """Status and date of death come through."""
    (national_id,) = population.sample(kind="deceased")
    citizen = (await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)).record
    assert citizen.status is LifeStatus.DECEASED
    assert citizen.date_of_death is not None


async def test_lookup_by_legacy_card_with_name_and_birth_date(hub, population):
    """The 9-digit card plus name and date of birth finds the same citizen."""
    (national_id,) = population.sample(kind="legacy_id")
    citizen = (await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)).record
    assert citizen.legacy_id is not None
    again = await hub.lookup(
        "population",
        {
            "legacy_id": citizen.legacy_id,
            "full_name": citizen.full_name,
            "date_of_birth": str(citizen.date_of_birth),
        },
        purpose=PURPOSE,
    )
    assert again.record.national_id == national_id


async def test_verify_matching_and_mismatching_fields(hub, population):
    """True facts match; a wrong name is a mismatch; no personal data comes back."""
    (national_id,) = population.sample(kind="citizen")
    citizen = (await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)).record
    claim = {
        "national_id": national_id,
        "full_name": citizen.full_name,
        "sex": citizen.sex.value,
    }
    good = await hub.verify("population", claim, purpose=PURPOSE)
    assert good.matches == {"full_name": Match.MATCH, "sex": Match.MATCH}
    assert good.verdict == "confirmed"
    bad = await hub.verify("population", {**claim, "full_name": "Tên Khác Hẳn"}, purpose=PURPOSE)
    assert bad.matches["full_name"] is Match.MISMATCH
    assert bad.verdict == "refuted"
    assert set(bad.verification.model_dump()) == {"matches", "status", "verdict"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"national_id": "03709000123"}, "query.national_id"),
        ({"national_id": "999090001234"}, "query.national_id"),
        ({"legacy_id": "123456789"}, "query"),
        ({"national_id": "037090001234", "extra": "x"}, "query.extra"),
    ],
)
async def test_invalid_input_never_reaches_the_register(hub, population, query, field):
    """A malformed query is InvalidQuery naming the field, and the mock sees nothing."""
    before = population.requests()
    with pytest.raises(InvalidQuery) as caught:
        await hub.lookup("population", query, purpose=PURPOSE)
    assert field in caught.value.fields
    assert population.requests() == before


async def test_a_claim_contradicting_the_number_is_refused_before_the_register(hub, population):
    """The id encodes sex and birth year; a claim against them never leaves the hub."""
    (national_id,) = population.sample(kind="citizen")
    wrong_year = int(national_id[4:6]) + 1900 + 100 * (int(national_id[3]) // 2) + 1
    before = population.requests()
    with pytest.raises(InvalidQuery, match="year"):
        await hub.verify(
            "population",
            {"national_id": national_id, "date_of_birth": str(wrong_year)},
            purpose=PURPOSE,
        )
    assert population.requests() == before


@pytest.mark.parametrize("missing", ["officer", "procedure", "dossier", "client"])
async def test_every_part_of_the_purpose_is_required(hub, population, missing):
    """A blank part of the purpose is InvalidQuery naming it; there is no anonymous look-up."""
    purpose = PURPOSE.model_dump() | {missing: "  "}
    with pytest.raises(InvalidQuery) as caught:
        await hub.lookup("population", {"national_id": "037090001234"}, purpose=purpose)
    assert f"purpose.{missing}" in caught.value.fields


async def test_an_unknown_source_lists_the_configured_ones(hub):
    """Asking for a source that is not there names the ones that are."""
    with pytest.raises(InvalidQuery, match="configured: population"):
        await hub.lookup("populaton", {"national_id": "037090001234"}, purpose=PURPOSE)


async def test_two_503s_then_success_takes_three_attempts(hub, population):
    """A burst of two 503s is absorbed by the retries."""
    (national_id,) = population.sample()
    population.fault({"kind": "status", "status": 503, "count": 2})
    before = population.requests()
    result = await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)
    assert result.record.national_id == national_id
    assert population.requests() - before == 3


async def test_a_429_retry_after_is_waited_for(hub, population):
    """429 with Retry-After: 1 makes the hub wait a second before the next attempt."""
    (national_id,) = population.sample()
    population.fault({"kind": "status", "status": 429, "retry_after": 1, "count": 1})
    started = time.monotonic()
    await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)
    assert time.monotonic() - started >= 1.0


@pytest.mark.parametrize(
    "plan",
    [
        {"kind": "status", "status": 400},
        {"kind": "status", "status": 422},
        {"kind": "soap_fault", "fault": "YeuCauKhongHopLe"},
    ],
    ids=["400", "422", "YeuCauKhongHopLe"],
)
async def test_a_query_the_register_refuses_is_upstream_rejected_and_not_retried(
    hub, population, plan
):
    """One attempt, an UpstreamRejected that a handler of InvalidQuery still catches."""
    (national_id,) = population.sample()
    population.fault(plan)
    before = population.requests()
    with pytest.raises(InvalidQuery) as caught:
        await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)
    assert type(caught.value) is UpstreamRejected
    assert (caught.value.status, caught.value.kind) == (422, "invalid_query")
    assert caught.value.audit_id
    assert population.requests() - before == 1


async def test_soap_faults_and_malformed_xml_are_typed(hub, population):
    """A system-error fault and garbage XML are UpstreamError."""
    (national_id,) = population.sample()
    for plan in ({"kind": "soap_fault", "fault": "LoiHeThong"}, {"kind": "malformed"}):
        population.fault(plan)
        with pytest.raises(UpstreamError):
            await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)
        population.clear()


async def test_persistent_failure_opens_the_breaker_and_later_calls_fail_fast(
    tmp_path, population_mock, population
):
    """After enough failures the mock is no longer called at all."""
    source = population_source(
        population_mock,
        retry={"attempts": 2, "backoff_initial": 0.01},
        breaker={"min_calls": 3, "failure_rate": 0.5, "open_for": 30},
    )
    (national_id,) = population.sample()
    population.fault({"kind": "status", "status": 503})
    async with Hub(hub_settings(tmp_path, population=source)) as hub:
        for _ in range(3):
            with pytest.raises(UpstreamUnavailable):
                await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)
        before = population.requests()
        started = time.monotonic()
        for _ in range(5):
            with pytest.raises(CircuitOpen):
                await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)
        assert population.requests() == before
        assert time.monotonic() - started < 1.0


async def test_the_deadline_bounds_a_register_that_never_answers(
    tmp_path, population_mock, population
):
    """With no answer at all, the call ends in DeadlineExceeded near its deadline."""
    source = population_source(population_mock, deadline=1.0, attempt_timeout=0.4)
    (national_id,) = population.sample()
    population.fault({"kind": "timeout"})
    async with Hub(hub_settings(tmp_path, population=source)) as hub:
        started = time.monotonic()
        with pytest.raises((DeadlineExceeded, UpstreamUnavailable)):
            await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)
        assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("transport", ["aiohttp", "native"])
async def test_both_transports_work(tmp_path, population_mock, population, transport):
    """The aiohttp transport is the default; httpx's own stays selectable."""
    (national_id,) = population.sample()
    source = population_source(population_mock, transport=transport)
    async with Hub(hub_settings(tmp_path, population=source)) as hub:
        result = await hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE)
    assert result.record.national_id == national_id


def test_sync_hub_from_several_threads(tmp_path, population_mock, population):
    """Eight threads share one SyncHub; every look-up answers with its own audit id."""
    keys = population.sample(n=16)
    settings = hub_settings(tmp_path, population=population_source(population_mock))
    with SyncHub(settings) as sync_hub, ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(
                lambda key: sync_hub.lookup("population", {"national_id": key}, purpose=PURPOSE),
                keys,
            )
        )
    assert [result.record.national_id for result in results] == keys
    assert len({result.audit_id for result in results}) == len(keys)


async def test_requested_fields_are_the_only_ones_disclosed(hub, population):
    """Asking for two fields returns those two; the rest are withheld."""
    (national_id,) = population.sample()
    result = await hub.lookup(
        "population",
        {"national_id": national_id},
        purpose=PURPOSE,
        fields=["national_id", "full_name"],
    )
    assert result.fields == ("national_id", "full_name")
    assert set(result.data()) == {"national_id", "full_name"}
    assert result.record.hometown is None


async def test_unknown_requested_fields_are_refused(hub):
    """A field name the record does not have is InvalidQuery naming `fields`."""
    with pytest.raises(InvalidQuery) as caught:
        await hub.lookup(
            "population", {"national_id": "037090001234"}, purpose=PURPOSE, fields=["salary"]
        )
    assert caught.value.fields == ["fields"]


async def test_health_reports_the_register_up(hub):
    """The population health check reaches the mock."""
    health = await hub.health()
    assert health["population"].status == "up"


async def test_a_hub_with_no_such_connector_is_a_config_error(tmp_path):
    """A [sources.x] table for an uninstalled connector names it."""
    with pytest.raises(ConfigError, match="nosuch"):
        async with Hub(hub_settings(tmp_path, nosuch={"url": "http://127.0.0.1:1"})):
            pass


def test_sync_hub_is_a_context_manager_that_closes(tmp_path, population_mock):
    """Closing a SyncHub stops its loop thread."""
    sync_hub = SyncHub(hub_settings(tmp_path, population=population_source(population_mock)))
    sync_hub.close()
    assert not sync_hub._thread.is_alive()
