"""What the hub answers: the result of each operation, and the sources it serves."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from hub._model import Record
from hub.connector import Operation
from hub.errors import HubError
from hub.records import Verification, VerifiedIdentity

__all__ = [
    "AuthenticationResult",
    "LookupResult",
    "Profile",
    "SourceInfo",
    "VerificationResult",
]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A configured source: what it is and what it can do."""

    name: str
    title: str
    operations: frozenset[Operation]


@dataclass(frozen=True, slots=True)
class LookupResult:
    """The answer to a look-up.

    ``record`` holds only the fields the client may see and asked for (``fields``);
    the others are None and absent from ``record.model_fields_set``. A look-up that
    finds several records (an enterprise search by representative) has a tuple.
    ``cached`` says that the cache answered with an entry this client's own look-up
    filled; a hit on another client's entry is not reported (it would tell that someone
    else looked this person up), though its audit entry records it. ``receipt`` is the
    signed receipt (compact JWS) when one was asked for: its digest covers `data`.
    """

    source: str
    record: Record | tuple[Record, ...]
    fields: tuple[str, ...]
    audit_id: str | None
    request_id: str
    cached: bool = False
    receipt: str | None = None

    def data(self) -> Any:
        """The disclosed fields as JSON-ready data."""
        if isinstance(self.record, tuple):
            return [_disclosed(item, self.fields) for item in self.record]
        return _disclosed(self.record, self.fields)


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """The answer to a verification: per field, match / mismatch / unknown.

    ``receipt`` is the signed receipt when one was asked for: its digest covers the
    verification's JSON form.
    """

    source: str
    verification: Verification
    audit_id: str | None
    request_id: str
    receipt: str | None = None

    @property
    def matches(self) -> Mapping[str, str]:
        return self.verification.matches

    @property
    def verdict(self) -> str:
        return self.verification.verdict


@dataclass(frozen=True, slots=True)
class Profile:
    """One person across sources: a look-up result per source, or its error."""

    national_id: str
    parts: Mapping[str, LookupResult]
    errors: Mapping[str, HubError]
    request_id: str

    def __repr__(self) -> str:
        return f"Profile(parts={sorted(self.parts)}, errors={sorted(self.errors)})"


@dataclass(frozen=True, slots=True)
class AuthenticationResult:
    """The answer to an authentication: the verified identity (minimised).

    ``ticket``, for a client with the ``citizen-portal`` role and a login at the
    configured level, lets that client read the citizen's access history
    (`Hub.access_history`) for a few minutes. ``receipt`` is the signed receipt when
    one was asked for: its digest covers `data`.
    """

    source: str
    identity: VerifiedIdentity
    fields: tuple[str, ...]
    audit_id: str | None
    request_id: str
    ticket: str | None = dataclasses.field(default=None, repr=False)
    receipt: str | None = None

    def data(self) -> Any:
        return _disclosed(self.identity, self.fields)


def _disclosed(record: BaseModel, fields: Sequence[str]) -> dict[str, Any]:
    return record.model_dump(mode="json", include=set(fields))
