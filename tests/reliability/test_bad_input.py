"""Bad input from callers of the library: refused before any upstream call, naming the field.

Every refusal is an `InvalidQuery` (or its `UnknownSource`) whose ``fields`` name what
is wrong, whose words never repeat the input, with an audit entry (outcome invalid, no
attempt), and the mock's request count unchanged. Strings that a free-text field's
contract admits travel to the upstream as data and come back as its typed answer.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from hub import Hub
from hub.audit import Outcome
from hub.audit._entry import parse_audit_id
from hub.connector import Operation
from hub.errors import HubError, InvalidQuery, NotFound, UnknownSource
from hub.testing import LeakCheck
from tests._helpers import PURPOSE
from tests.reliability._inputs import (
    INJECTIONS,
    LICENCE,
    MALFORMED,
    NATIONAL_ID,
    PURPOSE_ADMITS,
    PURPOSE_FIELDS,
    REDIRECT,
    SLOTS,
    WRONG_TYPES,
    Slot,
    nested,
)
from tests.reliability.conftest import SOURCES, Hubs, Probe, Upstream

pytestmark = pytest.mark.asyncio(loop_scope="module")

PURPOSE_DATA = PURPOSE.model_dump()


async def call(probe: Probe, source: str, operation: Operation, query: Any, **options: Any) -> Any:
    hub = probe.hub
    purpose = options.pop("purpose", PURPOSE_DATA)
    if operation is Operation.LOOKUP:
        return await hub.lookup(source, query, purpose=purpose, **options)
    if operation is Operation.VERIFY:
        return await hub.verify(source, query, purpose=purpose, **options)
    return await hub.authenticate(source, query, purpose=purpose, **options)


async def refused(
    probe: Probe,
    upstream: Upstream,
    source: str,
    operation: Operation,
    query: Any,
    field: str,
    leaks: LeakCheck,
    **options: Any,
) -> InvalidQuery:
    """The call is refused as InvalidQuery naming ``field``, audited, the upstream untouched."""
    before, requests = len(probe.entries), upstream.requests()
    with pytest.raises(InvalidQuery) as caught:
        await call(probe, source, operation, query, **options)
    error = caught.value
    leaks.add(f"{error} {error!r}")
    assert field in error.fields, f"{field} not named in {error.fields}"
    assert error.audit_id
    assert len(probe.entries) == before + 1
    entry = probe.entries[-1]
    assert (entry.outcome, entry.error, entry.attempts) == (
        Outcome.INVALID,
        error.kind,
        0,
    )
    assert upstream.requests() == requests, "a refused call reached the upstream"
    return error


def never_quoted(error: HubError, value: Any) -> None:
    # As in the leak check: a value shorter than six characters identifies nobody.
    if isinstance(value, str) and len(value) >= 6:
        assert value not in f"{error.detail} {error!r}", "the error repeats the input"


CASES = [pytest.param(slot, name, id=f"{slot.id}: {name}") for slot in SLOTS for name in INJECTIONS]


@pytest.mark.parametrize(("slot", "name"), CASES)
async def test_a_hostile_string_in_a_query_field(
    slot: Slot, name: str, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """Refused naming the field with no upstream call; or, where admitted, answered as data."""
    probe, upstream = await hubs.get(slot.source), upstreams[slot.source]
    value = INJECTIONS[name]
    if name not in slot.admits:
        error = await refused(
            probe,
            upstream,
            slot.source,
            slot.operation,
            slot.query(value),
            f"query.{slot.field}",
            leaks,
        )
        never_quoted(error, value)
        return
    requests = upstream.requests()
    with pytest.raises(HubError) as caught:
        await call(probe, slot.source, slot.operation, slot.query(value))
    leaks.add(caught.value.detail)
    assert type(caught.value) is slot.answer
    assert probe.entries[-1].outcome is not Outcome.INVALID
    assert upstream.requests() > requests
    never_quoted(caught.value, value)


MALFORMED_CASES = [
    pytest.param(slot, value, id=f"{slot.id}: {what}")
    for source, field, what, value in MALFORMED
    for slot in SLOTS
    if (slot.source, slot.field) == (source, field)
]


@pytest.mark.parametrize(("slot", "value"), MALFORMED_CASES)
async def test_a_malformed_identifier(
    slot: Slot, value: str, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """A wrong length, province, year, check digit or shape is refused naming the field."""
    error = await refused(
        await hubs.get(slot.source),
        upstreams[slot.source],
        slot.source,
        slot.operation,
        slot.query(value),
        f"query.{slot.field}",
        leaks,
    )
    never_quoted(error, value)


WRONG_TYPE_CASES = [
    pytest.param(slot, name, id=f"{slot.id}: {name}") for slot in SLOTS for name in WRONG_TYPES
]


@pytest.mark.parametrize(("slot", "name"), WRONG_TYPE_CASES)
async def test_a_value_of_the_wrong_type(
    slot: Slot, name: str, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """A number, boolean, list or object where text (or a level) belongs is InvalidQuery."""
    await refused(
        await hubs.get(slot.source),
        upstreams[slot.source],
        slot.source,
        slot.operation,
        slot.query(WRONG_TYPES[name]),
        f"query.{slot.field}",
        leaks,
    )


@pytest.mark.parametrize("slot", SLOTS, ids=lambda slot: slot.id)
async def test_null_is_the_field_left_out(slot: Slot, hubs: Hubs, leaks: LeakCheck) -> None:
    """An explicit None answers as the field left out would: the same error, never a crash."""
    probe = await hubs.get(slot.source)
    without = {name: value for name, value in slot.base.items() if name != slot.field}
    answers: list[Any] = []
    for query in (slot.query(None), without):
        try:
            await call(probe, slot.source, slot.operation, query)
            answers.append(None)
        except HubError as exc:
            leaks.add(exc.detail)
            answers.append((type(exc), getattr(exc, "fields", None)))
    assert answers[0] == answers[1]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    "query", ["a string", ["a", "list"], None, 42], ids=["string", "list", "null", "number"]
)
async def test_a_query_that_is_no_object(
    source: str, query: Any, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """The query itself must be an object."""
    operation = Operation.AUTHENTICATE if source == "vneid" else Operation.LOOKUP
    probe = await hubs.get(source)
    await refused(probe, upstreams[source], source, operation, query, "query", leaks)


@pytest.mark.parametrize("slot", SLOTS, ids=lambda slot: slot.id)
async def test_an_unknown_field_is_refused(
    slot: Slot, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """A field the model does not have is named, never silently ignored."""
    query = {**slot.base, "national_id_OR_1": "1"}
    probe = await hubs.get(slot.source)
    await refused(
        probe,
        upstreams[slot.source],
        slot.source,
        slot.operation,
        query,
        "query.national_id_OR_1",
        leaks,
    )


@pytest.mark.parametrize("depth", [1_000, 100_000])
async def test_a_deeply_nested_value_is_refused(
    depth: int, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """A national id buried in lists a thousand (or 100,000) deep: InvalidQuery, no crash."""
    await refused(
        await hubs.get("population"),
        upstreams["population"],
        "population",
        Operation.LOOKUP,
        {"national_id": nested(depth)},
        "query.national_id",
        leaks,
    )


PURPOSE_CASES = [
    pytest.param(field, name, id=f"purpose.{field}: {name}")
    for field in PURPOSE_FIELDS
    for name in INJECTIONS
]


@pytest.mark.parametrize(("field", "name"), PURPOSE_CASES)
async def test_a_hostile_string_in_the_purpose(
    field: str, name: str, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """Refused naming the field; or, printable text, written to the audit trail verbatim."""
    probe, upstream = await hubs.get("population"), upstreams["population"]
    value = INJECTIONS[name]
    purpose = {**PURPOSE_DATA, field: value}
    query = {"national_id": NATIONAL_ID}
    if name not in PURPOSE_ADMITS:
        error = await refused(
            probe,
            upstream,
            "population",
            Operation.LOOKUP,
            query,
            f"purpose.{field}",
            leaks,
            purpose=purpose,
        )
        never_quoted(error, value)
        return
    with pytest.raises(NotFound) as caught:
        await call(probe, "population", Operation.LOOKUP, query, purpose=purpose)
    stored = await stored_entry(probe.hub, caught.value)
    assert stored[field] == value


async def stored_entry(hub: Hub, error: HubError) -> dict[str, Any]:
    """The entry as the audit store keeps it (its canonical bytes), by the error's audit id."""
    assert error.audit_id is not None
    node, index = parse_audit_id(error.audit_id)
    async with hub.audit.store.snapshot() as snapshot:
        [(_, body)] = await snapshot.bodies(node, index, index + 1)
    entry: dict[str, Any] = orjson.loads(body)["entry"]
    return entry


@pytest.mark.parametrize(
    "character",
    ["\x85", "\u2028", "\u2029", "\x9b", "\u2066", "\u200b"],
    ids=["next line", "line separator", "paragraph separator", "C1 CSI", "isolate", "zero width"],
)
async def test_the_purpose_refuses_invisible_and_line_breaking_characters(
    character: str, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """NEL, line and paragraph separators, C1 controls, bidi and zero-width marks are refused."""
    # The purpose is written to the audit trail and its reports: text that breaks lines,
    # starts escape sequences, or reorders and hides characters must not get in.
    purpose = {**PURPOSE_DATA, "officer": f"cb.{character}0042"}
    await refused(
        await hubs.get("population"),
        upstreams["population"],
        "population",
        Operation.LOOKUP,
        {"national_id": NATIONAL_ID},
        "purpose.officer",
        leaks,
        purpose=purpose,
    )


@pytest.mark.parametrize(
    "purpose",
    [
        "a string",
        ["cb.0042"],
        None,
        {key: value for key, value in PURPOSE_DATA.items() if key != "dossier"},
        {**PURPOSE_DATA, "officer": ""},
        {**PURPOSE_DATA, "officer": "   "},
        {**PURPOSE_DATA, "officer": 42},
        {**PURPOSE_DATA, "role": "admin"},
    ],
    ids=["string", "list", "null", "missing dossier", "empty", "blank", "number", "unknown field"],
)
async def test_a_malformed_purpose_is_refused(
    purpose: Any, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """There is no anonymous or half-explained look-up."""
    error = await refused(
        await hubs.get("population"),
        upstreams["population"],
        "population",
        Operation.LOOKUP,
        {"national_id": NATIONAL_ID},
        "purpose" if not isinstance(purpose, dict) else _purpose_field(purpose),
        leaks,
        purpose=purpose,
    )
    assert all(field.startswith("purpose") for field in error.fields)


def _purpose_field(purpose: dict[str, Any]) -> str:
    if "role" in purpose:
        return "purpose.role"
    if "dossier" not in purpose:
        return "purpose.dossier"
    return "purpose.officer"


@pytest.mark.parametrize(
    ("fields", "named"),
    [(["national_id", "salary"], "fields"), ("national_id", "fields")],
    ids=["unknown field", "a string, not a list"],
)
async def test_asking_for_fields_a_record_lacks(
    fields: Any, named: str, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """Fields to disclose must be record fields."""
    await refused(
        await hubs.get("population"),
        upstreams["population"],
        "population",
        Operation.LOOKUP,
        {"national_id": NATIONAL_ID},
        named,
        leaks,
        fields=fields,
    )


@pytest.mark.parametrize(
    "request_id",
    ["id with spaces", "id\r\nX-Injected: yes", "id\x00", "é" * 10, "x" * 129],
    ids=["spaces", "crlf", "nul", "not ascii", "too long"],
)
async def test_an_unusable_request_id(
    request_id: str, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """A request id travels to upstreams and logs: only 1 to 128 safe characters."""
    await refused(
        await hubs.get("population"),
        upstreams["population"],
        "population",
        Operation.LOOKUP,
        {"national_id": NATIONAL_ID},
        "request_id",
        leaks,
        request_id=request_id,
    )


@pytest.mark.parametrize(
    "source",
    ["population'; --", "../population", "population\x00", "POPULATION", "x" * 10_000],
    ids=["sql", "path", "nul", "upper case", "very long"],
)
async def test_an_unknown_source_name(
    source: str, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """UnknownSource naming the field, the name not repeated unless it is a plain name."""
    probe = await hubs.get("population")
    before = {name: upstream.requests() for name, upstream in upstreams.items()}
    with pytest.raises(UnknownSource) as caught:
        await probe.hub.lookup(source, {"national_id": NATIONAL_ID}, purpose=PURPOSE_DATA)
    leaks.add(str(caught.value))
    assert caught.value.fields == ["source"]
    assert source not in caught.value.detail
    assert probe.entries[-1].source == "unknown"
    assert {name: upstream.requests() for name, upstream in upstreams.items()} == before


async def test_a_verification_claim_contradicting_its_number(
    hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """The number encodes sex and birth year: a claim against it never reaches the register."""
    await refused(
        await hubs.get("population"),
        upstreams["population"],
        "population",
        Operation.VERIFY,
        {"national_id": NATIONAL_ID, "sex": "female", "date_of_birth": "1991"},
        "query",
        leaks,
    )


@pytest.mark.parametrize(
    "redirect_uri",
    [f"{REDIRECT}\r\nX-Injected: yes", f"{REDIRECT}\x00", f"{REDIRECT}?a=b c", f"{REDIRECT}#frag"],
    ids=["crlf", "nul", "space", "fragment"],
)
async def test_a_credential_with_a_broken_redirect_uri(
    redirect_uri: str, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """The redirect URI is sent to the provider: it must be a URL, not any text after http."""
    credential = {
        "code": "an-authorization-code",
        "code_verifier": "v" * 43,
        "nonce": "n" * 16,
        "redirect_uri": redirect_uri,
        "level": 2,
    }
    await refused(
        await hubs.get("vneid"),
        upstreams["vneid"],
        "vneid",
        Operation.AUTHENTICATE,
        credential,
        "query.redirect_uri",
        leaks,
    )


@pytest.mark.parametrize(
    ("redirect_uri", "level", "field"),
    [
        (f"{REDIRECT}\r\nX-Injected: yes", 2, "redirect_uri"),
        (f"{REDIRECT}\x00", 2, "redirect_uri"),
        ("javascript:alert(1)", 2, "redirect_uri"),
        (REDIRECT, 3, "level"),
    ],
    ids=["crlf", "nul", "not http", "level 3"],
)
async def test_a_broken_authorization_request(
    redirect_uri: str,
    level: int,
    field: str,
    hubs: Hubs,
    upstreams: dict[str, Upstream],
    leaks: LeakCheck,
) -> None:
    """The portal's redirect URI and level are checked before the provider is asked."""
    probe, upstream = await hubs.get("vneid"), upstreams["vneid"]
    requests = upstream.requests()
    with pytest.raises(InvalidQuery) as caught:
        await probe.hub.authorization_request(
            "vneid", redirect_uri=redirect_uri, level=level, client=PURPOSE.client
        )
    leaks.add(str(caught.value))
    assert caught.value.fields == [field]
    assert upstream.requests() == requests


async def test_an_invalid_enterprise_code_is_explained_without_a_number(
    hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """The refusal describes a tax code's shape without quoting one: no run of 9+ digits."""
    # Error bodies go to portals and their logs, where the suite's leak rule holds.
    error = await refused(
        await hubs.get("business"),
        upstreams["business"],
        "business",
        Operation.LOOKUP,
        {"code": "12345"},
        "query.code",
        leaks,
    )
    assert not re.search(r"[0-9]{9,}", error.detail)


async def test_a_licence_claim_with_a_partial_date(
    hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """The driving-licence system checks full dates only: a year alone is refused here."""
    await refused(
        await hubs.get("driving_licence"),
        upstreams["driving_licence"],
        "driving_licence",
        Operation.VERIFY,
        {"number": LICENCE, "date_of_birth": "1990"},
        "query.date_of_birth",
        leaks,
    )
