"""The connector against its mock, through a hub: what the contract kit does not cover."""

from __future__ import annotations

import datetime as dt
import unicodedata

import httpx
import pytest
from hub import HubSettings, SyncHub
from hub.errors import InvalidQuery, Unauthenticated
from hub.records import LifeStatus
from hub.testing import ServedApp

from lienthong_social_insurance import (
    CoverageStatus,
    Scheme,
    SocialInsurance,
    SocialInsuranceConnector,
    SocialInsuranceSettings,
)
from lienthong_social_insurance_mock import API_KEY, create_app, hub_settings

from .conftest import PURPOSE, TUNING, sample

# The synthetic world's dates are as of this day.
AS_OF = dt.date(2025, 11, 1)


def look_up(hub: SyncHub, **query: str) -> SocialInsurance:
    record = hub.lookup("social_insurance", query, purpose=PURPOSE).record
    assert isinstance(record, SocialInsurance)
    return record


def test_the_number_and_the_national_id_find_the_same_record(hub, mock):
    """A member found by her national id is found again, the same, by her number."""
    (national_id,) = sample(mock, "national_id")
    by_id = look_up(hub, national_id=national_id)
    assert by_id.holder.national_id == national_id
    assert look_up(hub, insurance_number=by_id.insurance_number) == by_id


def test_holders_agree_with_the_population_register(hub, mock):
    """Name, date of birth and sex are the population register's, for every kind of member."""
    for national_id in sample(mock, "national_id", 5) + sample(mock, "deceased"):
        insured = look_up(hub, national_id=national_id)
        citizen = hub.lookup("population", {"national_id": national_id}, purpose=PURPOSE).record
        assert insured.holder.full_name == citizen.full_name
        assert insured.date_of_birth == citizen.date_of_birth
        assert insured.sex == citizen.sex
        assert (insured.date_of_death is not None) == (citizen.status is LifeStatus.DECEASED)


def test_a_death_closes_coverage_and_card(hub, mock):
    """The deceased have ended coverage, no open period, and no card valid after the death."""
    for national_id in sample(mock, "deceased", 3):
        record = look_up(hub, national_id=national_id)
        assert record.date_of_death is not None
        assert record.status is CoverageStatus.ENDED
        assert record.employer is None
        assert all(period.end is not None for period in record.periods)
        if record.health_insurance is not None:
            death = record.date_of_death
            assert record.health_insurance.valid_until.year <= death.year


def test_paused_contributions_leave_an_expired_card(hub, mock):
    """A paused member keeps her employer, but her card ended with the last month paid."""
    record = look_up(hub, national_id=sample(mock, "paused")[0])
    assert record.status is CoverageStatus.PAUSED
    assert record.employer is not None
    assert record.periods[-1].employer == record.employer
    assert record.health_insurance is not None
    assert not record.health_insurance.valid_on(AS_OF)


def test_contributing_members_have_an_open_period_and_a_valid_card(hub, mock):
    """Contributions being paid: the last period is open and the card covers today."""
    for national_id in sample(mock, "contributing", 3) + sample(mock, "voluntary"):
        record = look_up(hub, national_id=national_id)
        assert record.status is CoverageStatus.CONTRIBUTING
        assert record.periods[-1].end is None
        assert (record.employer is None) == (record.periods[-1].scheme is Scheme.VOLUNTARY)
        assert record.contribution_months > 0
        assert record.health_insurance is not None
        assert record.health_insurance.valid_on(AS_OF)
        assert record.health_insurance.number.endswith(record.insurance_number)


def test_a_name_sent_in_nfd_comes_back_in_nfc(hub, mock):
    """The register sends some names decomposed; the record holds them composed."""
    headers = {"X-Api-Key": API_KEY, "X-Ma-Don-Vi": "T"}
    decomposed = []
    with httpx.Client(base_url=mock.url, headers=headers) as client:
        for national_id in sample(mock, "national_id", 100):
            answer = client.post("/api/v1/tra-cuu", json={"soDinhDanh": national_id}).json()
            if not unicodedata.is_normalized("NFC", answer["hoTen"]):
                decomposed.append(national_id)
    assert decomposed, "no name in NFD among the first 100 members"
    for national_id in decomposed:
        name = look_up(hub, national_id=national_id).holder.full_name
        assert unicodedata.is_normalized("NFC", name)


def test_one_identifier_exactly(hub):
    """Both identifiers, or neither, is InvalidQuery on the query itself."""
    for query in ({}, {"insurance_number": "7912345678", "national_id": "079090001234"}):
        with pytest.raises(InvalidQuery) as caught:
            hub.lookup("social_insurance", query, purpose=PURPOSE)
        assert caught.value.fields == ["query"]


def test_a_refused_key_is_unauthenticated_and_health_is_down(tmp_path, mock):
    """The register's 401 is Unauthenticated, not retried; the health check says down."""
    source = {**hub_settings(mock.url), **TUNING, "api_key": "not-the-key"}
    settings = HubSettings(data_dir=tmp_path, sources={"social_insurance": source})
    before = httpx.get(f"{mock.url}/_admin/stats").json()["requests"]
    with SyncHub(settings) as hub:
        with pytest.raises(Unauthenticated):
            hub.lookup("social_insurance", {"insurance_number": "7912345678"}, purpose=PURPOSE)
        assert httpx.get(f"{mock.url}/_admin/stats").json()["requests"] == before + 1
        assert hub.health()["social_insurance"].status == "down"


def test_the_key_is_read_from_the_environment_and_never_shown(monkeypatch):
    """``env:NAME`` is resolved; the key is in no repr of the settings."""
    monkeypatch.setenv("SI_TEST_KEY", "key-from-the-environment")
    settings = SocialInsuranceSettings.model_validate(
        {"url": "http://127.0.0.1:1", "api_key": "env:SI_TEST_KEY"}
    )
    assert settings.api_key.get_secret_value() == "key-from-the-environment"
    assert "key-from-the-environment" not in repr(settings)
    monkeypatch.delenv("SI_TEST_KEY")
    with pytest.raises(ValueError, match="SI_TEST_KEY is not set"):
        SocialInsuranceSettings.model_validate(
            {"url": "http://127.0.0.1:1", "api_key": "env:SI_TEST_KEY"}
        )


def test_takes_part_in_a_profile(hub, mock):
    """`Hub.profile` finds a member's social insurance beside her citizen record."""
    (national_id,) = sample(mock, "national_id")
    profile = hub.profile(national_id, purpose=PURPOSE)
    assert set(profile.parts) == {"population", "social_insurance"}
    assert SocialInsuranceConnector.person_query(national_id) == {"national_id": national_id}


def test_mock_answers_the_same_for_the_same_seed(mock):
    """A second mock of the same world gives the same numbers and records."""
    headers = {"X-Api-Key": API_KEY, "X-Ma-Don-Vi": "T"}
    numbers = sample(mock, "insurance_number", 3)
    with ServedApp(create_app(seed=1, citizens=2_000)) as twin:
        assert sample(twin, "insurance_number", 3) == numbers
        for number in numbers:
            body = {"maSoBhxh": number}
            first = httpx.post(f"{mock.url}/api/v1/tra-cuu", json=body, headers=headers)
            second = httpx.post(f"{twin.url}/api/v1/tra-cuu", json=body, headers=headers)
            assert first.status_code == 200
            assert first.json() == second.json()


def test_a_cached_answer_is_the_same_record(tmp_path, mock):
    """With the hub's cache on, the second look-up is a hit and gives an equal record."""
    (number,) = sample(mock, "insurance_number")
    settings = HubSettings(
        data_dir=tmp_path,
        sources={"social_insurance": {**hub_settings(mock.url), **TUNING}},
        cache={"enabled": True, "key": "a-test-key-of-at-least-32-characters"},
    )
    with SyncHub(settings) as hub:
        query = {"insurance_number": number}
        first = hub.lookup("social_insurance", query, purpose=PURPOSE)
        second = hub.lookup("social_insurance", query, purpose=PURPOSE)
    assert (first.cached, second.cached) == (False, True)
    assert second.record == first.record
