"""The audit entry, its canonical bytes, and the audit id that names its place in a tree."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from hub._patterns import NODE_PATTERN, SOURCE_NAME_PATTERN

__all__ = [
    "AuditEntry",
    "Outcome",
    "audit_id",
    "canonical_entry",
    "entry_json_schema",
    "parse_audit_id",
    "record_bytes",
]

#: Separates the node from the index in an audit id; it is URL-safe (RFC 3986
#: "unreserved") and never part of a node's name, so an id splits without ambiguity.
ID_SEPARATOR = "~"
#: The largest index an audit id carries: JSON's safe integers (RFC 8785, section 3.2.2.3).
MAX_INDEX = 2**53 - 1
#: Milliseconds are kept to the microsecond and below 1e9 (11 days), which is also
#: where the compact serialisation below equals RFC 8785's number formatting.
MAX_MS = 1e9

_NODE_RE = re.compile(NODE_PATTERN)
_INDEX_RE = re.compile(r"^(0|[1-9][0-9]{0,15})$")


class Outcome(StrEnum):
    """How a call ended."""

    OK = "ok"
    DENIED = "denied"
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    FAILED = "failed"


def _utc_milliseconds(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a time zone (use UTC)")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and ``Z``: fixed width, so text order is time order."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def _milliseconds(value: float) -> float:
    if not math.isfinite(value) or not 0 <= value <= MAX_MS:
        raise ValueError(f"must be between 0 and {MAX_MS:.0f} milliseconds")
    # Adding 0.0 turns a negative zero into zero, which JSON has no other spelling for.
    return round(value, 3) + 0.0


def _json_number(value: float) -> float | int:
    # RFC 8785 writes 12.0 as 12; an int makes every JSON writer agree.
    return int(value) if value.is_integer() else value


#: An instant, written as RFC 3339 UTC with milliseconds: 2024-03-15T08:30:00.123Z.
Timestamp = Annotated[
    datetime,
    AfterValidator(_utc_milliseconds),
    PlainSerializer(format_time, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$",
        }
    ),
]
Milliseconds = Annotated[
    float,
    AfterValidator(_milliseconds),
    PlainSerializer(_json_number, when_used="json"),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": MAX_MS}),
]
# Free text of the caller (client, officer, procedure, dossier): printable, bounded.
Text = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
Name = Annotated[str, StringConstraints(pattern=SOURCE_NAME_PATTERN)]
# Names only: a field name starts with a letter, so no identifier can pass as one.
FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")]


def _sorted_names(names: list[str]) -> list[str]:
    return sorted(set(names))


class AuditEntry(BaseModel):
    """One call to a source, as the audit trail keeps it: who asked, why, what was disclosed.

    The subject is pseudonymised (HMAC-SHA256 of the identifier under the trail's key)
    and only the names of the disclosed fields are kept, never their values. The leaf
    of the audit tree is the RFC 8785 canonical JSON of ``{"entry": <this entry>,
    "index": <its position>}``, hashed as in RFC 6962.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", title="AuditEntry")

    time: Timestamp = Field(description="When the call was made, UTC.")
    node: Annotated[str, StringConstraints(pattern=NODE_PATTERN)] = Field(
        description="The hub node (replica) whose tree holds the entry."
    )
    request_id: Annotated[Text, StringConstraints(min_length=1)] = Field(
        description="The request id (X-Request-ID) of the call."
    )
    client: Text = Field(description="The calling system (portal).")
    officer: Text = Field(description="The officer who asked, as the client names them.")
    procedure: Text = Field(description="The administrative procedure's code.")
    dossier: Text = Field(description="The dossier (ho so) the call served.")
    source: Name = Field(description="The source called, e.g. population.")
    operation: Name = Field(description='"lookup", "verify" or "authenticate".')
    subject: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        description="HMAC-SHA256 (hex) of the subject's identifier, or null."
    )
    fields: Annotated[list[FieldName], AfterValidator(_sorted_names)] = Field(
        description="The names of the fields disclosed, sorted; never their values."
    )
    outcome: Outcome = Field(description="How the call ended.")
    error: Name | None = Field(description="The error's kind when the outcome is not ok.")
    attempts: int = Field(ge=0, le=1000, description="Upstream attempts; 0 without a call.")
    upstream_ms: Milliseconds | None = Field(description="Time spent upstream, milliseconds.")
    total_ms: Milliseconds = Field(description="Time of the whole call, milliseconds.")
    cache: Literal["hit", "miss"] | None = Field(description="Whether the cache answered.")

    @model_validator(mode="after")
    def _error_matches_outcome(self) -> AuditEntry:
        if (self.outcome is Outcome.OK) != (self.error is None):
            raise ValueError("error is given exactly when the outcome is not ok")
        return self


def canonical_entry(entry: AuditEntry) -> bytes:
    """The entry as RFC 8785 canonical JSON (UTF-8).

    The values an `AuditEntry` admits are strings without control characters, safe
    integers, null and finite numbers below 1e9 written without a needless ``.0``; for
    those, sorted-key compact JSON is byte for byte RFC 8785, which the tests check
    against the ``rfc8785`` package. It is used here because it is some forty times
    faster, and every append pays for it.
    """
    # The model's JSON form, field by field: model_dump(mode="json") costs three times as
    # much, and the tests hold the two equal.
    values: dict[str, Any] = dict(entry.__dict__)
    values["time"] = format_time(entry.time)
    values["total_ms"] = _json_number(entry.total_ms)
    if entry.upstream_ms is not None:
        values["upstream_ms"] = _json_number(entry.upstream_ms)
    return orjson.dumps(values, option=orjson.OPT_SORT_KEYS)


def record_bytes(canonical: bytes, index: int) -> bytes:
    """The leaf data of an entry at ``index``: RFC 8785 of ``{"entry": ..., "index": ...}``.

    Binding the position into the hashed bytes lets a verifier name an entry that was
    moved, removed or inserted, not only notice that a root does not hold.

    Args:
        canonical: The entry's canonical JSON (`canonical_entry`).
        index: The entry's position in its node's tree, from 0.
    """
    return b'{"entry":' + canonical + b',"index":' + str(index).encode() + b"}"


def audit_id(node: str, index: int) -> str:
    """The audit id of the entry at ``index`` of ``node``'s tree, e.g. ``hue-1~4096``."""
    return f"{node}{ID_SEPARATOR}{index}"


def parse_audit_id(value: str) -> tuple[str, int]:
    """The node and index an audit id names.

    Raises:
        ValueError: the text is not an audit id.
    """
    node, separator, index = value.rpartition(ID_SEPARATOR)
    if not separator or not _NODE_RE.fullmatch(node) or not _INDEX_RE.fullmatch(index):
        raise ValueError("not an audit id (expected NODE~INDEX, e.g. hue-1~42)")
    number = int(index)
    if number > MAX_INDEX:
        raise ValueError("not an audit id: the index is too large")
    return node, number


def entry_json_schema() -> dict[str, Any]:
    """The JSON Schema of an audit entry, as checked in at hub/schemas/audit-entry.schema.json."""
    schema = AuditEntry.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
