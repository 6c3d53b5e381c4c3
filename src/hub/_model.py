"""Base models: records and queries never show their values in a repr."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["IDENTIFIER_FIELDS", "PrivateModel", "Query", "Record"]

#: The usual names of the field that identifies a query's subject, in order of precedence.
IDENTIFIER_FIELDS = ("national_id", "code", "number", "legacy_id")


class _Redacted:
    __slots__ = ()

    def __repr__(self) -> str:
        return "•••"


_REDACTED = _Redacted()


class PrivateModel(BaseModel):
    """A frozen model whose repr and str name its fields but never show their values.

    Records and queries carry national ids and names; a repr ends up in tracebacks,
    debug logs and error reports, so it must not carry them along.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __repr_args__(self) -> Any:
        return [
            (name, _REDACTED) for name in type(self).model_fields if getattr(self, name) is not None
        ]


class Record(PrivateModel):
    """The uniform record a connector returns (a citizen, an enterprise, a licence ...)."""


class Query(PrivateModel):
    """What a caller asks a source for; validated before any upstream call.

    Input is trimmed of surrounding whitespace and unknown fields are refused, so a
    typo in a field name is an error rather than a silently broader query.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    def subject(self) -> str | None:
        """The identifier this query is about, pseudonymised in the audit trail.

        The default is the first of the usual identifier fields that is set;
        a query model whose subject is elsewhere overrides this.
        """
        for name in IDENTIFIER_FIELDS:
            value = getattr(self, name, None)
            if isinstance(value, str) and value:
                return value
        return None
