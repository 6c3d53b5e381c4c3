"""The pipeline of a call, through `Hub` over a connector held in memory: no HTTP.

Validation, authorization, minimisation, resilience, cache and audit are the hub's;
the register behind the connector counts every call that reaches it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field

from hub import Hub, HubSettings, Purpose
from hub._resilience import BreakerState
from hub.audit import AuditEntry, AuditTrail, Outcome
from hub.audit._report import page_of_entries
from hub.connector import Call, Connector, Health, HealthStatus, Operation, Query, Record
from hub.errors import (
    AuditUnavailable,
    CircuitOpen,
    HubError,
    InvalidQuery,
    NotFound,
    UpstreamError,
    UpstreamUnavailable,
)
from hub.testing import no_retries
from tests._helpers import PURPOSE

SOURCE = "register"
# Synthetic numbers of the register's two people, and of no one.
PERSON_ID = "001099000017"
NEIGHBOUR_ID = "001099000025"
MISSING_ID = "001099000033"
CACHE_KEY = "a cache key of the tests, long enough for the hub"


class PersonQuery(Query):
    national_id: str = Field(pattern=r"^[0-9]{12}$")


class Person(Record):
    national_id: str
    full_name: str
    district: str


class Register:
    """The national system behind the connector: its people, the failures it is told
    to answer with next, and every call that reached it."""

    def __init__(self) -> None:
        self.people = {
            PERSON_ID: Person(
                national_id=PERSON_ID, full_name="Nguyễn Thị Thử", district="Phường Một"
            ),
            NEIGHBOUR_ID: Person(
                national_id=NEIGHBOUR_ID, full_name="Trần Văn Mẫu", district="Phường Hai"
            ),
        }
        self.failures: list[HubError] = []
        self.calls: list[Call] = []

    def answer(self, national_id: str, call: Call) -> Person:
        self.calls.append(call)
        if self.failures:
            raise self.failures.pop(0)
        try:
            return self.people[national_id]
        except KeyError:
            raise NotFound("no such citizen", source=SOURCE) from None


class RegisterConnector(Connector):
    """A connector that asks a `Register` in memory."""

    name = SOURCE
    title = "A register in memory"
    operations = frozenset({Operation.LOOKUP})
    Query = PersonQuery
    Record = Person
    register: ClassVar[Register]

    async def lookup(self, query: PersonQuery, call: Call) -> Person:
        return self.register.answer(query.national_id, call)

    async def health(self) -> Health:
        return Health(status=HealthStatus.UP)


def settings(tmp_path: Path, **overrides: Any) -> HubSettings:
    """A hub of the register alone, its trail in ``tmp_path``; retries take milliseconds,
    and two failures in two calls open the breaker."""
    source = {
        # Never contacted: the connector answers from memory.
        "url": "http://127.0.0.1:9",
        "retry": {"attempts": 3, "backoff_initial": 0.001, "backoff_max": 0.005},
        "breaker": {"min_calls": 2, "failure_rate": 0.5, "open_for": 60},
    }
    return HubSettings(data_dir=tmp_path, sources={SOURCE: source}, **overrides)


def purpose(client: str) -> Purpose:
    return PURPOSE.model_copy(update={"client": client})


@pytest.fixture
def register(monkeypatch: pytest.MonkeyPatch) -> Register:
    register = Register()
    monkeypatch.setattr(RegisterConnector, "register", register, raising=False)
    return register


@pytest.fixture
def entries() -> list[AuditEntry]:
    """Every audit entry the hub under test writes, in order."""
    return []


@pytest.fixture
async def hub(tmp_path: Path, register: Register, entries: list[AuditEntry]) -> AsyncIterator[Hub]:
    connectors = {SOURCE: RegisterConnector}
    async with Hub(settings(tmp_path), connectors=connectors, on_call=entries.append) as hub:
        yield hub


# Validation


@pytest.mark.parametrize(
    "query",
    [{"national_id": "12"}, {"national_id": PERSON_ID, "full_name": "x"}, {}, ["not", "a", "map"]],
)
async def test_bad_input_is_refused_before_any_upstream_call(
    hub: Hub, register: Register, entries: list[AuditEntry], query: Any
) -> None:
    """A malformed query is InvalidQuery naming the query, audited, and never sent."""
    with pytest.raises(InvalidQuery) as caught:
        await hub.lookup(SOURCE, query, purpose=PURPOSE)
    assert all(field.startswith("query") for field in caught.value.fields)
    assert caught.value.audit_id is not None
    assert [entry.outcome for entry in entries] == [Outcome.INVALID]
    assert register.calls == []


async def test_a_field_the_records_lack_is_refused_before_any_upstream_call(
    hub: Hub, register: Register
) -> None:
    """Asking for a field the source's records do not have is InvalidQuery on ``fields``."""
    with pytest.raises(InvalidQuery) as caught:
        await hub.lookup(SOURCE, {"national_id": PERSON_ID}, purpose=PURPOSE, fields=["salary"])
    assert caught.value.fields == ["fields"]
    assert register.calls == []


# Resilience


async def test_an_unavailable_upstream_is_retried(
    hub: Hub, register: Register, entries: list[AuditEntry]
) -> None:
    """Two UpstreamUnavailable then an answer: three attempts, numbered, and audited so."""
    register.failures = [UpstreamUnavailable("down", source=SOURCE) for _ in range(2)]
    found = await hub.lookup(SOURCE, {"national_id": PERSON_ID}, purpose=PURPOSE)
    assert isinstance(found.record, Person)
    assert found.record.district == "Phường Một"
    assert [call.attempt for call in register.calls] == [1, 2, 3]
    assert entries[-1].attempts == 3


async def test_no_retries_gives_a_call_through_the_hub_one_attempt(
    hub: Hub, register: Register
) -> None:
    """Within no_retries(), an unavailable upstream fails the call at its first attempt."""
    register.failures = [UpstreamUnavailable("down", source=SOURCE)]
    with no_retries(), pytest.raises(UpstreamUnavailable):
        await hub.lookup(SOURCE, {"national_id": PERSON_ID}, purpose=PURPOSE)
    assert len(register.calls) == 1


@pytest.mark.parametrize(
    ("national_id", "refused"),
    [
        pytest.param(MISSING_ID, False, id="not-found"),
        pytest.param(PERSON_ID, True, id="refused-by-the-upstream"),
    ],
)
async def test_not_found_and_refused_queries_leave_the_breaker_closed(
    hub: Hub, register: Register, national_id: str, refused: bool
) -> None:
    """Four not-founds (or queries the upstream refuses) in a row: the breaker stays
    closed and the next look-up reaches the upstream."""
    if refused:
        register.failures = [InvalidQuery("refused", source=SOURCE) for _ in range(4)]
    for _ in range(4):
        with pytest.raises((NotFound, InvalidQuery)):
            await hub.lookup(SOURCE, {"national_id": national_id}, purpose=PURPOSE)
    assert (await hub.breaker_states())[SOURCE] is BreakerState.CLOSED
    await hub.lookup(SOURCE, {"national_id": PERSON_ID}, purpose=PURPOSE)
    assert len(register.calls) == 5


async def test_upstream_errors_open_the_breaker(hub: Hub, register: Register) -> None:
    """Two unusable answers open the breaker: the third call fails fast, unsent."""
    register.failures = [UpstreamError("garbage", source=SOURCE) for _ in range(2)]
    for _ in range(2):
        with pytest.raises(UpstreamError):
            await hub.lookup(SOURCE, {"national_id": PERSON_ID}, purpose=PURPOSE)
    with pytest.raises(CircuitOpen):
        await hub.lookup(SOURCE, {"national_id": PERSON_ID}, purpose=PURPOSE)
    assert len(register.calls) == 2


async def test_an_answer_about_someone_else_is_an_upstream_error(
    hub: Hub, register: Register, entries: list[AuditEntry]
) -> None:
    """A record of another national id than the one asked for never reaches the caller."""
    register.people[PERSON_ID] = register.people[NEIGHBOUR_ID]
    with pytest.raises(UpstreamError):
        await hub.lookup(SOURCE, {"national_id": PERSON_ID}, purpose=PURPOSE)
    assert [entry.outcome for entry in entries] == [Outcome.FAILED]


# Minimisation


@pytest.mark.parametrize(
    ("asked", "disclosed"),
    [
        (None, ("national_id", "district")),
        (["district", "full_name"], ("district",)),
    ],
)
async def test_fields_are_minimised_per_client(
    tmp_path: Path,
    register: Register,
    entries: list[AuditEntry],
    asked: list[str] | None,
    disclosed: tuple[str, ...],
) -> None:
    """A client sees only the fields its rule allows and it asked for; the others are
    unset, and the audit entry names what was disclosed."""
    rule = {"operations": ["lookup"], "fields": ["national_id", "district"]}
    configured = settings(tmp_path, clients={"portal-a": {"sources": {SOURCE: rule}}})
    async with Hub(
        configured, connectors={SOURCE: RegisterConnector}, on_call=entries.append
    ) as hub:
        found = await hub.lookup(
            SOURCE, {"national_id": PERSON_ID}, purpose=purpose("portal-a"), fields=asked
        )
    assert isinstance(found.record, Person)
    assert found.fields == disclosed
    assert found.record.model_fields_set == set(disclosed)
    assert found.record.full_name is None
    assert found.data() == {name: getattr(register.people[PERSON_ID], name) for name in disclosed}
    assert entries[-1].fields == sorted(disclosed)


# Audit


async def test_the_audit_entry_is_durable_before_the_answer_returns(hub: Hub) -> None:
    """Once the answer is back, the store holds its entry under the answer's audit id."""
    found = await hub.lookup(
        SOURCE, {"national_id": PERSON_ID}, purpose=PURPOSE, request_id="req-durable"
    )
    subject = hub.audit.pseudonymise(PERSON_ID)
    total, stored = await page_of_entries(hub.audit.store, subject, offset=0, limit=10)
    assert total == 1
    assert stored[0].audit_id == found.audit_id
    assert stored[0].entry.request_id == "req-durable"
    assert stored[0].entry.outcome is Outcome.OK


async def test_no_answer_without_an_audit_entry(tmp_path: Path, register: Register) -> None:
    """When the trail cannot take the entry, the caller gets AuditUnavailable, not the record."""
    configured = settings(tmp_path)
    trail = await AuditTrail.open(configured.audit, data_dir=tmp_path)
    async with Hub(configured, audit=trail, connectors={SOURCE: RegisterConnector}) as hub:
        await trail.aclose()
        with pytest.raises(AuditUnavailable) as caught:
            await hub.lookup(
                SOURCE, {"national_id": PERSON_ID}, purpose=PURPOSE, request_id="req-lost"
            )
    assert caught.value.request_id == "req-lost"
    assert caught.value.audit_id is None
    assert len(register.calls) == 1


async def test_fail_open_answers_without_an_audit_id(tmp_path: Path, register: Register) -> None:
    """With audit.fail_open (development only) the answer comes back, with no audit id."""
    configured = settings(tmp_path, audit={"fail_open": True})
    trail = await AuditTrail.open(configured.audit, data_dir=tmp_path)
    async with Hub(configured, audit=trail, connectors={SOURCE: RegisterConnector}) as hub:
        await trail.aclose()
        found = await hub.lookup(SOURCE, {"national_id": PERSON_ID}, purpose=PURPOSE)
    assert found.audit_id is None
    assert isinstance(found.record, Person)


# Cache


async def test_a_cached_answer_does_not_reach_the_upstream(
    tmp_path: Path, register: Register, entries: list[AuditEntry]
) -> None:
    """The second look-up of a record is a cache hit: no upstream call, audited as a hit,
    and reported as cached only to the client whose look-up filled the entry."""
    configured = settings(tmp_path, cache={"enabled": True, "key": CACHE_KEY})
    async with Hub(
        configured, connectors={SOURCE: RegisterConnector}, on_call=entries.append
    ) as hub:
        query = {"national_id": PERSON_ID}
        first = await hub.lookup(SOURCE, query, purpose=purpose("portal-a"))
        again = await hub.lookup(SOURCE, query, purpose=purpose("portal-a"))
        other = await hub.lookup(SOURCE, query, purpose=purpose("portal-b"))
    assert len(register.calls) == 1
    assert (first.cached, again.cached, other.cached) == (False, True, False)
    assert again.record == first.record == other.record
    assert [entry.cache for entry in entries] == ["miss", "hit", "hit"]
