"""The hub's typed errors: one family, each with its HTTP status and retry rule.

Every failure a caller can see is one of these, whichever source it came from::

    HubError
    ├── InvalidQuery            422  bad input, refused before any upstream call
    │   ├── UnknownSource       404  no source of that name is configured
    │   └── UpstreamRejected    422  the upstream refused the query (its 400 or 422)
    ├── NotFound                404  the register has no such record
    ├── Unauthenticated         401  the caller (or the hub, upstream) is not who it claims
    ├── Forbidden               403  the caller may not use this source, operation or field
    ├── TooManyAttempts         429  refuted verifications of one subject: wait (Retry-After)
    ├── UpstreamUnavailable     503  retryable: connect errors, timeouts, 429, 502/503/504
    │   └── CircuitOpen         503  the breaker is open: failed fast, upstream untouched
    ├── UpstreamError           502  the upstream answered, but not with a usable answer
    ├── DeadlineExceeded        504  the call's overall deadline passed
    ├── AuditUnavailable        503  the audit trail cannot take the entry: no audit, no data
    └── ConfigError             500  the configuration is missing, unreadable or invalid

``UpstreamRejected`` is an ``InvalidQuery`` with the same status, ``kind`` and audit
outcome: a caller handling bad input in one place still does, and can tell, by the
class, that the upstream was asked. ``ConfigError`` comes from loading a configuration
or starting with one, never from a look-up, a verification or an authentication.

The sidecar turns each into RFC 9457 problem details with its ``status``. The
``detail`` of an error is written for the caller and never holds a national id, a
name, a key or a token: connectors and the hub word them from field names and kinds.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ValidationError

__all__ = [
    "AuditUnavailable",
    "CircuitOpen",
    "ConfigError",
    "DeadlineExceeded",
    "FieldError",
    "Forbidden",
    "HubError",
    "InvalidQuery",
    "NotFound",
    "TooManyAttempts",
    "Unauthenticated",
    "UnknownSource",
    "UpstreamError",
    "UpstreamRejected",
    "UpstreamUnavailable",
]


class HubError(Exception):
    """The base of every error the hub raises to its callers.

    Args:
        detail: A sentence for the caller; never personal data or secrets.
        source: The source the error came from, when there is one.
    """

    status: ClassVar[int] = 500
    #: A short stable name, used in audit entries, metrics and problem types.
    kind: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"
    #: Whether another attempt of the same idempotent read may succeed.
    retryable: ClassVar[bool] = False

    def __init__(self, detail: str, *, source: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.source = source
        #: Set by the hub once the failed call is in the audit trail.
        self.audit_id: str | None = None
        #: Set by the hub: the request id of the failed call.
        self.request_id: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r}, source={self.source!r})"


class FieldError:
    """One problem with one input field: where it is and what is wrong (never its value).

    Args:
        loc: The field's path, e.g. ``("query", "national_id")`` or ``("purpose",)``.
        message: What is wrong with it, in words fit for the caller.
    """

    __slots__ = ("loc", "message")

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        self.loc = loc
        self.message = message

    @property
    def field(self) -> str:
        """The dotted path of the field, e.g. ``query.national_id``."""
        return ".".join(str(part) for part in self.loc)

    def as_dict(self) -> dict[str, str]:
        """The entry of a problem's ``errors`` list: ``field`` and ``message``."""
        return {"field": self.field, "message": self.message}

    def __repr__(self) -> str:
        return f"FieldError({self.field!r}, {self.message!r})"


class InvalidQuery(HubError):
    """The input is malformed: the hub refused it, and no upstream was called.

    The one exception is the subclass `UpstreamRejected`: the query passed the hub's
    checks and the upstream refused it. Catching ``InvalidQuery`` catches both.

    Args:
        detail: A sentence naming the field(s) at fault.
        errors: One entry per field at fault.
        source: The source the query was for, when there is one.
    """

    status = 422
    kind = "invalid_query"
    title = "Invalid query"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(detail, source=source)
        self.errors = errors or []

    @classmethod
    def from_validation(
        cls, exc: ValidationError, prefix: str, *, source: str | None = None
    ) -> InvalidQuery:
        """One entry per invalid field, under ``prefix`` (``query``, ``purpose``, or none).

        The input itself is never quoted: it may be a national id or a name.
        """
        head = (prefix,) if prefix else ()
        errors = [
            # pydantic prefixes the messages of custom validators; keep only ours.
            FieldError(
                (*head, *error["loc"]) or ("body",), error["msg"].removeprefix("Value error, ")
            )
            for error in exc.errors(include_input=False, include_url=False, include_context=False)
        ]
        detail = "; ".join(f"{error.field}: {error.message}" for error in errors)
        return cls(detail, errors=errors, source=source)

    @classmethod
    def for_field(cls, field: str, message: str, *, source: str | None = None) -> InvalidQuery:
        """An error about one field, its detail naming the field."""
        loc = tuple(field.split("."))
        return cls(f"{field}: {message}", errors=[FieldError(loc, message)], source=source)

    @property
    def fields(self) -> list[str]:
        """The dotted paths of the fields at fault."""
        return [error.field for error in self.errors]


class UnknownSource(InvalidQuery):
    """No source of that name is configured (404 over HTTP: the source is in the path)."""

    status = 404
    kind = "unknown_source"
    title = "Unknown source"


class UpstreamRejected(InvalidQuery):
    """The upstream refused the query as invalid: an HTTP 400 or 422, or its own word for it.

    The query passed the hub's checks and reached the upstream, whose rules it broke;
    asked again as it is, it would be refused again, so it is never retried. It keeps
    the ``status``, ``kind`` and ``title`` of `InvalidQuery`, and so the same problem
    type and audit entry: only the class tells the two apart. ``errors`` is empty
    unless the connector can name the fields the upstream refused.

    Args:
        detail: A sentence saying which upstream refused the query; never its values.
        errors: Fields at fault, when the upstream names them.
        source: The source whose upstream refused it.
    """


class NotFound(HubError):
    """The source was asked and its register holds no such record."""

    status = 404
    kind = "not_found"
    title = "Not found"


class Unauthenticated(HubError):
    """The caller, or the hub towards the upstream, is not who it claims to be."""

    status = 401
    kind = "unauthenticated"
    title = "Unauthenticated"


class Forbidden(HubError):
    """The caller may not use this source, this operation or these fields."""

    status = 403
    kind = "forbidden"
    title = "Forbidden"


class TooManyAttempts(HubError):
    """The caller's verifications of this subject were refuted too often; it must wait.

    Args:
        detail: A sentence for the caller; never the subject's identifier.
        source: The source asked.
        retry_after: Seconds until another verification of this subject is allowed.
    """

    status = 429
    kind = "too_many_attempts"
    title = "Too many verification attempts"

    def __init__(self, detail: str, *, source: str | None = None, retry_after: float) -> None:
        super().__init__(detail, source=source)
        self.retry_after = retry_after


class UpstreamUnavailable(HubError):
    """The upstream could not be reached or asked us to come back later.

    Args:
        detail: What happened, in words fit for the caller.
        retry_after: Seconds the upstream asked us to wait (from ``Retry-After``).
        cause: A short name of the underlying failure: ``connect``, ``timeout``,
            ``status_503``, ``rate_limited``, ``reset``, ``retries_exhausted`` ...
    """

    status = 503
    kind = "upstream_unavailable"
    title = "Upstream unavailable"
    retryable = True

    def __init__(
        self,
        detail: str,
        *,
        source: str | None = None,
        retry_after: float | None = None,
        cause: str = "unavailable",
    ) -> None:
        super().__init__(detail, source=source)
        self.retry_after = retry_after
        self.cause = cause


class CircuitOpen(UpstreamUnavailable):
    """The source's breaker is open; the upstream was not touched."""

    kind = "circuit_open"
    retryable = False

    def __init__(
        self, detail: str, *, source: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(detail, source=source, retry_after=retry_after, cause="circuit_open")


class UpstreamError(HubError):
    """The upstream answered with something unusable: malformed, truncated, unexpected."""

    status = 502
    kind = "upstream_error"
    title = "Bad answer from upstream"


class DeadlineExceeded(HubError):
    """The call's overall deadline passed, retries and their waits included."""

    status = 504
    kind = "deadline_exceeded"
    title = "Deadline exceeded"


class AuditUnavailable(HubError):
    """The audit trail could not take the entry, so the answer is withheld."""

    status = 503
    kind = "audit_unavailable"
    title = "Audit trail unavailable"


class ConfigError(HubError):
    """The configuration is missing, unreadable or invalid.

    Raised by `hub.load_settings` and when a hub, a sidecar or a command starts with a
    configuration; its ``detail`` names the setting at fault, never a secret.
    """

    kind = "config"
    title = "Invalid configuration"
