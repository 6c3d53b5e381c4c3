"""Bad input from callers of the sidecar: a clear 4xx naming the field, no upstream call.

The sidecar serves every source to one client allowed everything, in front of the
package's mocks. Every refusal is RFC 9457 problem details (``errors`` naming each
field for a 422); every body goes to the leak check; the mock's request count proves
the upstream untouched. Strings a free-text field's contract admits reach the
upstream as data and come back as its typed answer (404, 401).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import Hub, load_settings
from hub.audit import AuditEntry
from hub.connector import Operation
from hub.sidecar import create_app, hash_key
from hub.testing import LeakCheck, ServedApp
from tests._helpers import collect_problem
from tests.reliability._inputs import (
    INJECTIONS,
    MALFORMED,
    NATIONAL_ID,
    PURPOSE_ADMITS,
    REDIRECT,
    SLOTS,
    WRONG_TYPES,
    Slot,
)
from tests.reliability.conftest import PATIENT, SOURCES, Upstream

KEY = "key-reliability-0123456789abcdef0123456789"
CLIENT = "portal-reliability"
PURPOSE_IN = {"officer": "cb.0042", "procedure": "1.001757", "dossier": "H37.22-240315-0001"}
PROBLEM = "application/problem+json"
_OPERATIONS = {
    "population": ["lookup", "verify"],
    "business": ["lookup"],
    "vneid": ["authenticate"],
    "driving_licence": ["lookup", "verify"],
    "budget_unit": ["lookup"],
    "catalog": ["lookup"],
}


class Sidecar:
    """The served sidecar, a client holding the key, and the audit entries of its calls."""

    def __init__(self, url: str, entries: list[AuditEntry]) -> None:
        self.url = url
        self.entries = entries
        self.http = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=20,
            event_hooks={"response": [collect_problem]},
        )

    def operate(self, source: str, operation: Operation | str, body: Any, **kwargs: Any) -> Any:
        path = f"/v1/sources/{source}/{Operation(operation).value}"
        if "content" in kwargs:
            return self.http.post(path, **kwargs)
        return self.http.post(path, json=body, **kwargs)


@pytest.fixture(scope="module")
def sidecar(
    upstreams: dict[str, Upstream], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sidecar]:
    root: Path = tmp_path_factory.mktemp("sidecar")
    settings = load_settings(
        None,
        data_dir=str(root),
        sources={name: upstreams[name].settings(**PATIENT) for name in SOURCES},
        clients={
            CLIENT: {
                "key_sha256": hash_key(KEY),
                "sources": {name: {"operations": ops} for name, ops in _OPERATIONS.items()},
            }
        },
    )
    entries: list[AuditEntry] = []
    app = create_app(settings, hub=Hub(settings, on_call=entries.append))
    with ServedApp(app) as served:
        side = Sidecar(served.url, entries)
        yield side
        side.http.close()


def problem(response: httpx.Response, status: int, leaks: LeakCheck) -> dict[str, Any]:
    """The problem details of a refusal: its status, its media type, nothing internal."""
    leaks.add(response.text)
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert "Traceback" not in response.text
    return body


def refused(
    response: httpx.Response, field: str, leaks: LeakCheck, status: int = 422
) -> dict[str, Any]:
    body = problem(response, status, leaks)
    named = [error["field"] for error in body.get("errors") or []]
    assert field in named, f"{field} not named in {named}"
    return body


def never_quoted(response: httpx.Response, value: str) -> None:
    # As in the leak check: a value shorter than six characters identifies nobody.
    if len(value) >= 6:
        assert value not in response.text, "the problem repeats the input"


def body(query: Any, purpose: Any = None) -> dict[str, Any]:
    return {"query": query, "purpose": PURPOSE_IN if purpose is None else purpose}


CASES = [pytest.param(slot, name, id=f"{slot.id}: {name}") for slot in SLOTS for name in INJECTIONS]


@pytest.mark.parametrize(("slot", "name"), CASES)
def test_a_hostile_string_in_a_query_field(
    slot: Slot, name: str, sidecar: Sidecar, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """422 naming the field (413 past the body limit) and no upstream call; admitted: answered."""
    upstream, value = upstreams[slot.source], INJECTIONS[name]
    requests = upstream.requests()
    response = sidecar.operate(slot.source, slot.operation, body(slot.query(value)))
    if name == "very long":
        problem(response, 413, leaks)
    elif name not in slot.admits:
        refused(response, f"query.{slot.field}", leaks)
    else:
        assert slot.answer is not None
        problem(response, slot.answer.status, leaks)
        assert upstream.requests() > requests
        return
    assert upstream.requests() == requests, "a refused call reached the upstream"
    never_quoted(response, value)


MALFORMED_CASES = [
    pytest.param(slot, value, id=f"{slot.id}: {what}")
    for source, field, what, value in MALFORMED
    for slot in SLOTS
    if (slot.source, slot.field) == (source, field)
]


@pytest.mark.parametrize(("slot", "value"), MALFORMED_CASES)
def test_a_malformed_identifier(
    slot: Slot, value: str, sidecar: Sidecar, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """A wrong length, province, year, check digit or shape: 422 naming the field."""
    upstream = upstreams[slot.source]
    requests = upstream.requests()
    response = sidecar.operate(slot.source, slot.operation, body(slot.query(value)))
    refused(response, f"query.{slot.field}", leaks)
    assert upstream.requests() == requests
    never_quoted(response, value)


WRONG_TYPE_CASES = [
    pytest.param(slot, name, id=f"{slot.id}: {name}") for slot in SLOTS for name in WRONG_TYPES
]


@pytest.mark.parametrize(("slot", "name"), WRONG_TYPE_CASES)
def test_a_value_of_the_wrong_type(
    slot: Slot, name: str, sidecar: Sidecar, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """A JSON number, boolean, array or object where a field's text belongs: 422."""
    upstream = upstreams[slot.source]
    requests = upstream.requests()
    response = sidecar.operate(slot.source, slot.operation, body(slot.query(WRONG_TYPES[name])))
    refused(response, f"query.{slot.field}", leaks)
    assert upstream.requests() == requests


@pytest.mark.parametrize("slot", SLOTS, ids=lambda slot: slot.id)
def test_null_is_the_field_left_out(slot: Slot, sidecar: Sidecar, leaks: LeakCheck) -> None:
    """An explicit null answers as the field left out would: the same status and fields."""
    without = {name: value for name, value in slot.base.items() if name != slot.field}
    answers = []
    for query in (slot.query(None), without):
        response = sidecar.operate(slot.source, slot.operation, body(query))
        leaks.add(response.text)
        assert response.status_code < 500, response.text[:300]
        errors = response.json().get("errors") if response.status_code == 422 else None
        answers.append((response.status_code, [error["field"] for error in errors or []]))
    assert answers[0] == answers[1]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"query": "037090001234", "purpose": PURPOSE_IN}, "query"),
        ({"query": ["037090001234"], "purpose": PURPOSE_IN}, "query"),
        ({"query": None, "purpose": PURPOSE_IN}, "query"),
        ({"purpose": PURPOSE_IN}, "query"),
        ({"query": {"national_id": NATIONAL_ID}}, "purpose"),
        ({"query": {"national_id": NATIONAL_ID}, "purpose": "cb.0042"}, "purpose"),
        ({"query": {"national_id": NATIONAL_ID}, "purpose": [PURPOSE_IN]}, "purpose"),
        (
            {"query": {"national_id": NATIONAL_ID}, "purpose": {**PURPOSE_IN, "role": "admin"}},
            "purpose.role",
        ),
        (
            {"query": {"national_id": NATIONAL_ID}, "purpose": {**PURPOSE_IN, "officer": 42}},
            "purpose.officer",
        ),
        ({**body({"national_id": NATIONAL_ID}), "admin": True}, "admin"),
        ({**body({"national_id": NATIONAL_ID}), "fields": "national_id"}, "fields"),
        ({**body({"national_id": NATIONAL_ID}), "fields": ["salary"]}, "fields"),
        (body({"national_id": NATIONAL_ID, "national_id_OR_1": "1"}), "query.national_id_OR_1"),
        ([body({"national_id": NATIONAL_ID})], "body"),
        ("037090001234", "body"),
    ],
    ids=[
        "query a string",
        "query an array",
        "query null",
        "query missing",
        "purpose missing",
        "purpose a string",
        "purpose an array",
        "purpose with an unknown field",
        "officer a number",
        "an unknown top-level field",
        "fields a string",
        "fields unknown",
        "an unknown query field",
        "the body an array",
        "the body a string",
    ],
)
def test_a_malformed_body(
    payload: Any, field: str, sidecar: Sidecar, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """Each shape error is a 422 naming where it is; the register hears nothing."""
    upstream = upstreams["population"]
    requests = upstream.requests()
    refused(sidecar.operate("population", "lookup", payload), field, leaks)
    assert upstream.requests() == requests


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_a_body_past_the_limit_is_413(
    chunked: bool, sidecar: Sidecar, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """A 10 MB body is refused before it is read whole, announced or streamed."""
    filler = b'{"query": {"national_id": "' + b"1" * 10_000_000 + b'"}}'
    content: Any = filler
    if chunked:
        content = iter([filler[i : i + 65536] for i in range(0, len(filler), 65536)])
    requests = upstreams["population"].requests()
    response = sidecar.operate(
        "population", "lookup", None, content=content, headers={"Content-Type": "application/json"}
    )
    problem(response, 413, leaks)
    assert upstreams["population"].requests() == requests


@pytest.mark.parametrize(
    ("depth", "field"), [(30_000, "body"), (1_000, "query.national_id")], ids=["30000", "1000"]
)
def test_a_deeply_nested_body(
    depth: int, field: str, sidecar: Sidecar, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """Past the JSON parser's depth limit, the body; within it, the field: 422 either way."""
    # 30,000 levels is about as deep as fits in the body limit (64 KiB).
    content = (
        b'{"query": {"national_id": '
        + b"[" * depth
        + b'"x"'
        + b"]" * depth
        + b'}, "purpose": {"officer": "a", "procedure": "b", "dossier": "c"}}'
    )
    requests = upstreams["population"].requests()
    response = sidecar.operate(
        "population", "lookup", None, content=content, headers={"Content-Type": "application/json"}
    )
    refused(response, field, leaks)
    assert upstreams["population"].requests() == requests


@pytest.mark.parametrize(
    ("content", "content_type", "status", "field"),
    [
        (b'{"query": {"national_id": "x"}}', "text/plain", 415, None),
        (b'{"query": {"national_id": "x"}', "application/json", 422, "body"),
        (b'{"query": {"national_id": "\xff\xfe"}}', "application/json", 422, "body"),
        (b"", "application/json", 422, "body"),
        (
            b'{"query": {"national_id": "001090000001"},'
            b' "purpose": {"officer": "cb\\u0000", "procedure": "p", "dossier": "d"}}',
            "application/json",
            422,
            "purpose.officer",
        ),
    ],
    ids=["not json", "cut short", "not utf-8", "empty", "escaped nul"],
)
def test_a_body_that_is_not_usable_json(
    content: bytes,
    content_type: str,
    status: int,
    field: str | None,
    sidecar: Sidecar,
    upstreams: dict[str, Upstream],
    leaks: LeakCheck,
) -> None:
    """Not JSON is 415; broken JSON is 422 naming the body; an escaped NUL, the field."""
    requests = upstreams["population"].requests()
    response = sidecar.operate(
        "population", "lookup", None, content=content, headers={"Content-Type": content_type}
    )
    if field is None:
        problem(response, status, leaks)
    else:
        refused(response, field, leaks, status)
    assert upstreams["population"].requests() == requests


PURPOSE_CASES = [
    pytest.param(field, name, id=f"purpose.{field}: {name}")
    for field in ("officer", "procedure", "dossier")
    for name in INJECTIONS
]


@pytest.mark.parametrize(("field", "name"), PURPOSE_CASES)
def test_a_hostile_string_in_the_purpose(
    field: str, name: str, sidecar: Sidecar, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """422 naming the field; printable text is audited as given (the key is unknown: 404)."""
    upstream, value = upstreams["population"], INJECTIONS[name]
    requests = upstream.requests()
    response = sidecar.operate(
        "population", "lookup", body({"national_id": NATIONAL_ID}, {**PURPOSE_IN, field: value})
    )
    if name == "very long":
        problem(response, 413, leaks)
    elif name not in PURPOSE_ADMITS:
        refused(response, f"purpose.{field}", leaks)
    else:
        problem(response, 404, leaks)
        assert getattr(sidecar.entries[-1], field) == value
        return
    assert upstream.requests() == requests


@pytest.mark.parametrize(
    "character",
    ["\x85", "\u2028", "\u202e", "\x9b"],
    ids=["next line", "line separator", "right-to-left override", "C1 CSI"],
)
def test_the_purpose_refuses_invisible_and_line_breaking_characters(
    character: str, sidecar: Sidecar, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """What breaks a line or reorders text in an audit report is refused at the door."""
    requests = upstreams["population"].requests()
    purpose = {**PURPOSE_IN, "officer": f"cb.{character}0042"}
    response = sidecar.operate("population", "lookup", body({"national_id": NATIONAL_ID}, purpose))
    refused(response, "purpose.officer", leaks)
    assert upstreams["population"].requests() == requests


def test_a_purpose_naming_another_client_is_409(
    sidecar: Sidecar, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """The client is the authenticated one; a body claiming another is a conflict."""
    requests = upstreams["population"].requests()
    purpose = {**PURPOSE_IN, "client": "portal-other'; DROP TABLE audit;--"}
    response = sidecar.operate("population", "lookup", body({"national_id": NATIONAL_ID}, purpose))
    problem(response, 409, leaks)
    assert upstreams["population"].requests() == requests


@pytest.mark.parametrize(
    "source",
    ["population'--", "..%2Fpopulation", "POPULATION", "population%00", "x" * 100],
    ids=["sql", "path", "upper case", "nul", "very long"],
)
def test_a_hostile_source_in_the_path(
    source: str, sidecar: Sidecar, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """A source name that cannot be one is refused (422 naming it, or 404), nobody called."""
    before = {name: upstream.requests() for name, upstream in upstreams.items()}
    response = sidecar.http.post(
        f"/v1/sources/{source}/lookup", json=body({"national_id": NATIONAL_ID})
    )
    leaks.add(response.text)
    assert response.status_code in (404, 422), response.text[:300]
    assert response.headers["content-type"] == PROBLEM
    if response.status_code == 422:
        assert "path.source" in [error["field"] for error in response.json()["errors"]]
    assert {name: upstream.requests() for name, upstream in upstreams.items()} == before


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"redirect_uri": f"{REDIRECT}\r\nX-Injected: yes", "level": 2}, "query.redirect_uri"),
        ({"redirect_uri": f"{REDIRECT}\x00", "level": 2}, "query.redirect_uri"),
        ({"redirect_uri": "javascript:alert(1)", "level": 2}, "query.redirect_uri"),
        ({"redirect_uri": REDIRECT, "level": 3}, "query.level"),
        ({"redirect_uri": REDIRECT, "level": "two"}, "query.level"),
        ({"level": 2}, "query.redirect_uri"),
    ],
    ids=["crlf", "nul", "not http", "level 3", "level text", "no redirect uri"],
)
def test_a_broken_authorization_request(
    params: dict[str, Any],
    field: str,
    sidecar: Sidecar,
    upstreams: dict[str, Upstream],
    leaks: LeakCheck,
) -> None:
    """The portal's redirect URI and level are checked before the provider is asked."""
    requests = upstreams["vneid"].requests()
    response = sidecar.http.get("/v1/sources/vneid/authorization", params=params)
    refused(response, field, leaks)
    assert upstreams["vneid"].requests() == requests
