"""The driving-licence source end to end: the hub against the signed REST mock over real HTTP."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hub import Hub
from hub._registry import installed_mocks
from hub.errors import DeadlineExceeded, InvalidQuery, NotFound, UpstreamError, UpstreamUnavailable
from hub.mocks._world import World
from hub.records import Citizen, DrivingLicence, LicenceStatus, Match
from hub.testing import ServedApp
from tests._helpers import FAST, PURPOSE, MockAdmin, hub_settings, population_source

# The same world as the population mock of tests/conftest.py: the same citizens.
SEED, CITIZENS = 1, 10_000
SOURCE = "driving_licence"


@pytest.fixture(scope="module")
def licence_mock() -> Iterator[ServedApp]:
    app = installed_mocks()[SOURCE].create_app(seed=SEED, citizens=CITIZENS)
    with ServedApp(app) as served:
        yield served


@pytest.fixture
def licences(licence_mock: ServedApp) -> Iterator[MockAdmin]:
    admin = MockAdmin(licence_mock)
    admin.clear()
    yield admin
    admin.clear()


@pytest.fixture(scope="module")
def world() -> World:
    return World(SEED, CITIZENS)


def licence_source(mock: ServedApp, **overrides: Any) -> dict[str, Any]:
    return {**installed_mocks()[SOURCE].hub_settings(mock.url), **FAST, **overrides}


@pytest.fixture
async def hub(tmp_path, licence_mock):
    async with Hub(hub_settings(tmp_path, driving_licence=licence_source(licence_mock))) as h:
        yield h


def numbers_with_status(licences: MockAdmin, world: World, status: str) -> list[str]:
    numbers = [
        n for n in licences.sample(n=400, kind="licence") if world.licence(n).status == status
    ]
    assert numbers, f"no {status} licence among the sample"
    return numbers


def holder_with_full_birth_date(licences: MockAdmin, world: World, full: bool) -> str:
    """A licence number whose holder's date of birth the register knows in full, or in part."""
    for number in licences.sample(n=400, kind="licence"):
        known = len(world.citizen(world.licence(number).index).date_of_birth) == 8
        if known == full:
            return number
    raise AssertionError("no such holder among the sample")


def expire_demo_key(mock: ServedApp, expires_at: int | None) -> None:
    key = installed_mocks()[SOURCE].hub_settings(mock.url)["api_key"]
    response = httpx.put(f"{mock.url}/_admin/keys/{key}", json={"expires_at": expires_at})
    response.raise_for_status()


# Look-ups


async def test_a_licence_is_found_by_number_and_audited(hub, licences, world):
    """A sample number comes back as a DrivingLicence, every field disclosed, with an audit id."""
    (number,) = licences.sample(kind="licence")
    result = await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)
    licence = result.record
    assert isinstance(licence, DrivingLicence)
    assert licence.number == number
    assert licence.classes
    assert 0 <= licence.points <= 12
    assert licence.holder.national_id == world.licence(number).holder_national_id
    assert result.audit_id
    assert result.fields == tuple(DrivingLicence.model_fields)


async def test_a_licence_carries_the_registers_classes_and_dates(hub, licences, world):
    """Classes, dates, points and authority are the register's, translated field by field."""
    for number in licences.sample(n=5, kind="licence"):
        licence = (await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)).record
        registered = world.licence(number)
        assert [(c.code, c.issued, c.expires) for c in licence.classes] == [
            (c.code, c.issued, c.expires) for c in registered.classes
        ]
        assert (licence.issue_date, licence.expiry_date) == (registered.issued, registered.expires)
        assert licence.points == registered.points
        assert licence.issuing_authority == registered.authority


@pytest.mark.parametrize("status", ["revoked", "expired", "suspended"])
async def test_a_licence_comes_back_with_its_status(hub, licences, world, status):
    """Revoked, expired and suspended licences say so."""
    for number in numbers_with_status(licences, world, status)[:2]:
        licence = (await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)).record
        assert licence.status is LicenceStatus(status)


async def test_a_deceased_holders_licence_is_revoked(hub, licences, world):
    """Looked up by the holder's national id, a deceased citizen's licence is revoked."""
    deceased = licences.sample(n=300, kind="deceased")
    holder = next(nid for nid in deceased if world.licences_of(nid))
    result = await hub.lookup(SOURCE, {"holder_national_id": holder}, purpose=PURPOSE)
    (licence,) = result.record
    assert licence.holder.national_id == holder
    assert licence.status is LicenceStatus.REVOKED


async def test_the_holders_licences_match_the_population_register(
    tmp_path, licence_mock, population_mock, licences
):
    """A holder's profile: the licence names the population register's citizen, id and name."""
    sources = {
        "population": population_source(population_mock),
        SOURCE: licence_source(licence_mock),
    }
    holders = licences.sample(n=3, kind="licence_holder")
    async with Hub(hub_settings(tmp_path, **sources)) as hub:
        for national_id in holders:
            profile = await hub.profile(national_id, purpose=PURPOSE)
            assert not profile.errors
            citizen = profile.parts["population"].record
            assert isinstance(citizen, Citizen)
            (licence,) = profile.parts[SOURCE].record
            assert licence.holder.national_id == citizen.national_id == national_id
            assert licence.holder.full_name == citizen.full_name
            assert profile.parts[SOURCE].audit_id != profile.parts["population"].audit_id


async def test_a_citizen_without_a_licence_has_an_empty_list(hub, licences, world):
    """A minor holds no licence: the holder search answers an empty tuple, not an error."""
    (minor,) = licences.sample(kind="minor")
    assert world.find_citizen(minor) is not None
    result = await hub.lookup(SOURCE, {"holder_national_id": minor}, purpose=PURPOSE)
    assert result.record == ()
    assert result.audit_id


async def test_an_unknown_number_is_not_found_and_not_retried(hub, licences):
    """A well-formed number with no licence is NotFound after exactly one request."""
    before = licences.requests()
    with pytest.raises(NotFound) as caught:
        await hub.lookup(SOURCE, {"number": "000000000001"}, purpose=PURPOSE)
    assert licences.requests() - before == 1
    assert caught.value.audit_id


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"number": "01234567890"}, "query.number"),
        ({"number": "01234567890a"}, "query.number"),
        ({"holder_national_id": "999090001234"}, "query.holder_national_id"),
        ({"number": "012345678901", "holder_national_id": "037090001234"}, "query"),
        ({}, "query"),
        ({"number": "012345678901", "national_id": "037090001234"}, "query.national_id"),
    ],
)
async def test_invalid_input_never_reaches_the_system(hub, licences, query, field):
    """A malformed query is InvalidQuery naming the field, and the mock sees nothing."""
    before = licences.requests()
    with pytest.raises(InvalidQuery) as caught:
        await hub.lookup(SOURCE, query, purpose=PURPOSE)
    assert field in caught.value.fields
    assert licences.requests() == before


# Verification


async def test_verify_confirms_the_holders_name_and_birth_date(hub, licences, world):
    """The true name and full date of birth are confirmed, with the licence's status."""
    number = holder_with_full_birth_date(licences, world, full=True)
    licence = (await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)).record
    born = world.citizen(world.licence(number).index).birth_date
    claim = {"number": number, "full_name": licence.holder.full_name, "date_of_birth": str(born)}
    check = await hub.verify(SOURCE, claim, purpose=PURPOSE)
    assert check.matches == {"full_name": Match.MATCH, "date_of_birth": Match.MATCH}
    assert check.verdict == "confirmed"
    assert check.verification.status == licence.status.value


async def test_verify_with_a_wrong_name_is_a_mismatch_and_gives_the_status(hub, licences, world):
    """A wrong name is refuted; the licence's status still comes back, and no personal data."""
    (number,) = numbers_with_status(licences, world, "revoked")[:1]
    check = await hub.verify(
        SOURCE, {"number": number, "full_name": "Tên Khác Hẳn"}, purpose=PURPOSE
    )
    assert check.matches == {"full_name": Match.MISMATCH}
    assert check.verdict == "refuted"
    assert check.verification.status == "revoked"
    assert set(check.verification.model_dump()) == {"matches", "status", "verdict"}


async def test_a_name_typed_in_nfd_upper_case_and_spaced_matches(hub, licences):
    """Decomposed, upper-cased, doubly spaced: still the same name."""
    (number,) = licences.sample(kind="licence")
    licence = (await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)).record
    typed = "  ".join(unicodedata.normalize("NFD", licence.holder.full_name.upper()).split())
    check = await hub.verify(SOURCE, {"number": number, "full_name": typed}, purpose=PURPOSE)
    assert check.matches == {"full_name": Match.MATCH}


async def test_a_partial_birth_date_in_the_register_is_unknown(hub, licences, world):
    """A register date known in part: an agreeing claim is unknown, another year a mismatch."""
    number = holder_with_full_birth_date(licences, world, full=False)
    born = world.citizen(world.licence(number).index).birth_date
    agreeing = await hub.verify(
        SOURCE, {"number": number, "date_of_birth": str(born)}, purpose=PURPOSE
    )
    assert agreeing.matches == {"date_of_birth": Match.UNKNOWN}
    assert agreeing.verdict == "inconclusive"
    other = born.replace(year=born.year - 1, day=min(born.day, 28))
    refuted = await hub.verify(
        SOURCE, {"number": number, "date_of_birth": str(other)}, purpose=PURPOSE
    )
    assert refuted.matches == {"date_of_birth": Match.MISMATCH}


@pytest.mark.parametrize(
    ("claim", "field"),
    [
        ({"number": "012345678901", "date_of_birth": "1990"}, "query.date_of_birth"),
        ({"number": "012345678901", "date_of_birth": "1990-02-30"}, "query.date_of_birth"),
        ({"number": "012345678901"}, "query"),
        ({"number": "012345678901", "full_name": "Lê 3"}, "query.full_name"),
        ({"full_name": "Lê Văn A"}, "query.number"),
    ],
)
async def test_an_invalid_claim_never_reaches_the_system(hub, licences, claim, field):
    """Partial or impossible dates, nothing to check, a bad name: refused before any call."""
    before = licences.requests()
    with pytest.raises(InvalidQuery) as caught:
        await hub.verify(SOURCE, claim, purpose=PURPOSE)
    assert field in caught.value.fields
    assert licences.requests() == before


async def test_verifying_an_unknown_licence_is_not_found(hub, licences):
    """No licence, nothing to verify: NotFound."""
    with pytest.raises(NotFound):
        await hub.verify(
            SOURCE, {"number": "000000000001", "full_name": "Lê Văn A"}, purpose=PURPOSE
        )


# Credentials


@pytest.mark.parametrize(
    ("overrides", "refusal"),
    [
        ({"api_secret": "not-the-secret-of-this-key"}, "bad_signature"),
        ({"api_key": "no-such-key"}, "unknown_key"),
    ],
)
async def test_wrong_credentials_are_an_upstream_error_and_not_retried(
    tmp_path, licence_mock, licences, leaks, overrides, refusal
):
    """The system's refusal is named, the credentials are not, and one request is enough."""
    source = licence_source(licence_mock, **overrides)
    (number,) = licences.sample(kind="licence")
    before = licences.requests()
    async with Hub(hub_settings(tmp_path, driving_licence=source)) as hub:
        with pytest.raises(UpstreamError) as caught:
            await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)
        health = (await hub.health())[SOURCE]
    assert licences.requests() - before == 2  # the look-up, then the health check
    assert refusal in caught.value.detail
    leaks.add(caught.value.detail)
    for value in overrides.values():
        assert value not in caught.value.detail
        assert value not in repr(caught.value)
    assert health.status == "down"
    assert refusal in (health.detail or "")


async def test_an_expired_key_is_an_upstream_error(hub, licence_mock, licences):
    """Once the system expires the hub's key, look-ups fail naming it, until it is renewed."""
    (number,) = licences.sample(kind="licence")
    expire_demo_key(licence_mock, int(time.time()) - 1)
    try:
        with pytest.raises(UpstreamError, match="expired_key"):
            await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)
    finally:
        expire_demo_key(licence_mock, None)
    assert (await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)).record.number == number


async def test_a_drifted_upstream_clock_is_an_upstream_error(hub, licences):
    """The system's clock ten minutes off: every signature is stale, and the error says so."""
    (number,) = licences.sample(kind="licence")
    licences.fault({"kind": "clock_skew", "seconds": 600})
    with pytest.raises(UpstreamError, match="stale_timestamp"):
        await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)


# Faults


async def test_two_503s_then_success_takes_three_attempts(hub, licences):
    """A burst of two 503s is absorbed by the retries."""
    (number,) = licences.sample(kind="licence")
    licences.fault({"kind": "status", "status": 503, "count": 2})
    before = licences.requests()
    result = await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)
    assert result.record.number == number
    assert licences.requests() - before == 3


async def test_a_429_retry_after_is_waited_for(hub, licences):
    """429 with Retry-After: 1 makes the hub wait a second before the next attempt."""
    (number,) = licences.sample(kind="licence")
    licences.fault({"kind": "status", "status": 429, "retry_after": 1, "count": 1})
    before = licences.requests()
    started = time.monotonic()
    await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)
    assert time.monotonic() - started >= 1.0
    assert licences.requests() - before == 2


@pytest.mark.parametrize("kind", ["malformed", "wrong_content_type"])
async def test_an_unusable_answer_is_an_upstream_error(hub, licences, kind):
    """Garbage JSON or an HTML page is UpstreamError, for look-ups and verifications."""
    (number,) = licences.sample(kind="licence")
    licences.fault({"kind": kind})
    with pytest.raises(UpstreamError):
        await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)
    with pytest.raises(UpstreamError):
        await hub.verify(SOURCE, {"number": number, "full_name": "Lê Văn A"}, purpose=PURPOSE)


async def test_a_cut_answer_is_retried_with_a_fresh_nonce(hub, licences):
    """The mock accepted the first request's nonce before cutting its answer; the retry passes."""
    (number,) = licences.sample(kind="licence")
    licences.fault({"kind": "truncated", "count": 1})
    before = licences.requests()
    result = await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)
    assert result.record.number == number
    assert licences.requests() - before == 2


async def test_the_deadline_bounds_a_system_that_never_answers(tmp_path, licence_mock, licences):
    """With no answer at all, the call ends at its deadline, not at the test's timeout."""
    source = licence_source(licence_mock, deadline=1.0, attempt_timeout=0.4)
    (number,) = licences.sample(kind="licence")
    licences.fault({"kind": "timeout"})
    async with Hub(hub_settings(tmp_path, driving_licence=source)) as hub:
        started = time.monotonic()
        with pytest.raises((DeadlineExceeded, UpstreamUnavailable)):
            await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)
        assert time.monotonic() - started < 5.0


class NonceRecorder:
    """An ASGI wrapper that notes the X-Nonce of every protocol request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.nonces: list[bytes | None] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_admin"):
            self.nonces.append(dict(scope["headers"]).get(b"x-nonce"))
        await self.app(scope, receive, send)


async def test_retries_never_reuse_a_nonce(tmp_path):
    """Each attempt of a retried look-up and verification goes out with a nonce of its own."""
    recorder = NonceRecorder(installed_mocks()[SOURCE].create_app(seed=SEED, citizens=2_000))
    with ServedApp(recorder) as served:
        admin = MockAdmin(served)
        (number,) = admin.sample(kind="licence")
        async with Hub(hub_settings(tmp_path, driving_licence=licence_source(served))) as hub:
            admin.fault({"kind": "status", "status": 503, "count": 2})
            await hub.lookup(SOURCE, {"number": number}, purpose=PURPOSE)
            admin.fault({"kind": "status", "status": 503, "count": 2})
            await hub.verify(SOURCE, {"number": number, "full_name": "Lê Văn A"}, purpose=PURPOSE)
    assert len(recorder.nonces) == 6
    assert None not in recorder.nonces
    assert len(set(recorder.nonces)) == 6


async def test_health_reports_the_system_up(hub):
    """The signed health check reaches the mock."""
    health = await hub.health()
    assert health[SOURCE].status == "up"
