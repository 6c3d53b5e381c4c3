"""The audit entry: its schema file, canonical bytes, validation, and audit ids."""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from typing import Any

import pydantic
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.audit import AuditEntry, Outcome
from hub.audit._entry import (
    audit_id,
    canonical_entry,
    entry_json_schema,
    parse_audit_id,
    record_bytes,
)
from hub.schemas import schema_path
from tests.audit.conftest import make_entry


def test_schema_file_matches_the_model() -> None:
    """hub/schemas/audit-entry.schema.json is the model's schema (`python -m hub.audit schema`)."""
    on_disk = json.loads(schema_path("audit-entry.schema.json").read_text(encoding="utf-8"))
    assert on_disk == entry_json_schema()


def test_schema_describes_what_is_stored() -> None:
    """The schema requires every field and forbids others; time is RFC 3339 text."""
    schema = entry_json_schema()
    assert set(schema["required"]) == set(AuditEntry.model_fields)
    assert schema["additionalProperties"] is False
    assert schema["properties"]["time"]["format"] == "date-time"


def test_time_is_utc_with_milliseconds_and_z() -> None:
    """A time in any zone is kept as UTC, cut to the millisecond, written with Z."""
    hanoi = dt.timezone(dt.timedelta(hours=7))
    entry = make_entry(time=dt.datetime(2024, 3, 15, 15, 30, 0, 123999, tzinfo=hanoi))
    assert entry.time == dt.datetime(2024, 3, 15, 8, 30, 0, 123000, tzinfo=dt.UTC)
    assert entry.model_dump(mode="json")["time"] == "2024-03-15T08:30:00.123Z"


def test_naive_time_is_refused() -> None:
    """A time without a zone is ambiguous, and refused."""
    with pytest.raises(pydantic.ValidationError, match="time zone"):
        make_entry(time=dt.datetime(2024, 3, 15, 8, 30))


def test_fields_are_sorted_names_only() -> None:
    """Field names are kept sorted and once; a value (an id) cannot pass as a name."""
    entry = make_entry(fields=["national_id", "full_name", "national_id"])
    assert entry.fields == ["full_name", "national_id"]
    with pytest.raises(pydantic.ValidationError):
        make_entry(fields=["037090001234"])
    with pytest.raises(pydantic.ValidationError):
        make_entry(fields=["Nguyễn Văn An"])


def test_subject_is_a_pseudonym() -> None:
    """The subject is 64 hex digits (an HMAC), never an identifier."""
    make_entry(subject="a" * 64)
    with pytest.raises(pydantic.ValidationError):
        make_entry(subject="037090001234")


def test_error_goes_with_a_failed_outcome() -> None:
    """An error kind is given exactly when the outcome is not ok."""
    make_entry(outcome=Outcome.NOT_FOUND, error="not_found", fields=[])
    with pytest.raises(pydantic.ValidationError, match="outcome"):
        make_entry(outcome=Outcome.OK, error="not_found")
    with pytest.raises(pydantic.ValidationError, match="outcome"):
        make_entry(outcome=Outcome.FAILED, error=None)


def test_entry_is_frozen_and_closed() -> None:
    """An entry cannot be changed, and takes no fields beyond its own."""
    entry = make_entry()
    with pytest.raises(pydantic.ValidationError):
        entry.client = "other"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="extra"):
        make_entry(national_id="037090001234")


def test_milliseconds_are_bounded_and_rounded() -> None:
    """Milliseconds are kept to the microsecond; negative or huge values are refused."""
    assert make_entry(total_ms=12.3456789).total_ms == 12.346
    for bad in (-1.0, float("inf"), float("nan"), 2e9):
        with pytest.raises(pydantic.ValidationError):
            make_entry(total_ms=bad)


def test_control_characters_are_refused() -> None:
    """Free text carries no control characters (no forged lines in any output)."""
    with pytest.raises(pydantic.ValidationError):
        make_entry(officer="cb.0042\nforged")


# Canonical bytes

texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x7f"),
    max_size=30,
).filter(lambda text: not any(ord(char) < 0x20 for char in text))
names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
milliseconds = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)

entries = st.builds(
    AuditEntry,
    time=st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    node=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True),
    request_id=texts.filter(bool),
    client=texts,
    officer=texts,
    procedure=texts,
    dossier=texts,
    source=names,
    operation=st.sampled_from(["lookup", "verify", "authenticate"]),
    subject=st.none() | st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    fields=st.lists(st.from_regex(r"[a-z_][a-z0-9_.]{0,15}", fullmatch=True), max_size=6),
    outcome=st.just(Outcome.OK),
    error=st.none(),
    attempts=st.integers(0, 1000),
    upstream_ms=st.none() | milliseconds,
    total_ms=milliseconds,
    cache=st.sampled_from([None, "hit", "miss"]),
)


@settings(max_examples=300, deadline=None)
@given(entry=entries)
def test_canonical_bytes_are_rfc_8785(entry: AuditEntry) -> None:
    """The fast serialisation of any valid entry is byte for byte the rfc8785 package's."""
    assert canonical_entry(entry) == rfc8785.dumps(entry.model_dump(mode="json"))


@settings(max_examples=100, deadline=None)
@given(entry=entries, index=st.integers(0, 2**53 - 1))
def test_record_bytes_are_rfc_8785(entry: AuditEntry, index: int) -> None:
    """The leaf record is RFC 8785 of {"entry": ..., "index": ...}, and reads back."""
    record = record_bytes(canonical_entry(entry), index)
    assert record == rfc8785.dumps({"entry": entry.model_dump(mode="json"), "index": index})
    parsed: dict[str, Any] = json.loads(record)
    assert parsed["index"] == index
    assert AuditEntry.model_validate(parsed["entry"]) == entry


def test_whole_milliseconds_have_no_fraction() -> None:
    """12.0 ms is written 12, as RFC 8785 writes it."""
    assert b'"total_ms":12,' in canonical_entry(make_entry(total_ms=12.0))


# Audit ids


@pytest.mark.parametrize(("node", "index"), [("hue-1", 0), ("a.b_c-d", 42), ("N", 2**53 - 1)])
def test_audit_id_round_trip(node: str, index: int) -> None:
    """An audit id names its node and index, and needs no escaping in a URL."""
    value = audit_id(node, index)
    assert parse_audit_id(value) == (node, index)
    assert urllib.parse.quote(value, safe="") == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "hue-1",
        "hue-1~",
        "~5",
        "hue-1~-5",
        "hue-1~05",
        "hue-1~1e3",
        "h u~1",
        "a~9007199254740992",
    ],
)
def test_malformed_audit_ids_are_refused(value: str) -> None:
    """Anything but NODE~INDEX (a safe integer without leading zeros) is refused."""
    with pytest.raises(ValueError, match="audit id"):
        parse_audit_id(value)
