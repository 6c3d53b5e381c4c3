"""The uniform interface every source implements, and the helpers a connector uses.

A connector translates and does nothing else: query -> upstream request -> upstream
answer -> uniform record, raising the typed errors of `hub.errors`. Deadlines,
retries, the circuit breaker, concurrency limits, caching, authorization, field
minimisation and audit are the hub's, applied the same way to every connector.

A connector is registered by entry point, so that a third party adds a source by
installing a package::

    [project.entry-points."hub.connectors"]
    population = "hub.connectors.population:PopulationConnector"
"""

from __future__ import annotations

import email.utils
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, get_args, get_origin

import httpx
import orjson
from pydantic import BaseModel, ConfigDict

from hub._config import SecretRef, SourceSettings
from hub._model import PrivateModel, Query, Record
from hub._model import Query as _Query
from hub._model import Record as _Record
from hub.errors import NotFound, UpstreamError, UpstreamRejected, UpstreamUnavailable
from hub.records import AssuranceLevel, AuthorizationRequest, Verification, VerifiedIdentity

if TYPE_CHECKING:
    from hub._purpose import Purpose

__all__ = [
    "Call",
    "Connector",
    "Health",
    "HealthStatus",
    "Operation",
    "PrivateModel",
    "Query",
    "Record",
    "SecretRef",
    "SourceSettings",
    "check_status",
    "json_body",
    "retry_after_seconds",
]


class Operation(StrEnum):
    """What a caller asks of a source."""

    LOOKUP = "lookup"
    VERIFY = "verify"
    AUTHENTICATE = "authenticate"

    @property
    def idempotent(self) -> bool:
        """Whether the hub may retry it: reads are; a one-time code exchange is not."""
        return self is not Operation.AUTHENTICATE


class HealthStatus(StrEnum):
    """Whether a source's upstream answered its health check."""

    UP = "up"
    DOWN = "down"


class Health(BaseModel):
    """What a connector's health check found."""

    model_config = ConfigDict(frozen=True)

    status: HealthStatus
    detail: str | None = None
    latency_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """One attempt of one call, as the connector sees it.

    Args:
        source: The source's name.
        operation: What is being done.
        request_id: Travels to the upstream (the hub's HTTP layer adds
            ``X-Request-ID``; a protocol with its own request-id field should use it too).
        purpose: Who asks and why, for upstreams that record it.
        deadline: ``time.monotonic()`` value after which the call has failed.
        attempt: 1 for the first attempt, 2 for the first retry ...
    """

    source: str
    operation: Operation
    request_id: str
    purpose: Purpose
    deadline: float
    attempt: int = 1

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())


SettingsT = TypeVar("SettingsT", bound=SourceSettings)
QueryT = TypeVar("QueryT", bound=_Query)


class Connector(ABC, Generic[SettingsT, QueryT]):
    """The base of every connector.

    Subclasses set the class variables and implement the operations they list in
    ``operations``; the hub validates the input with ``Query`` (``Claim`` for verify,
    ``Credential`` for authenticate) before calling them.

    The type arguments name the source's ``Settings`` and look-up ``Query`` models, so
    that a type checker knows ``self.settings`` and the query ``lookup`` receives::

        class PopulationConnector(Connector[PopulationSettings, CitizenQuery]):
            Settings = PopulationSettings
            Query = CitizenQuery

    A source without look-ups gives ``Never`` as its query type. The class variables
    stay what the hub validates with at run time; a class whose ``Settings`` or
    ``Query`` is not (a subclass of) its type argument is refused when it is defined.

    Args:
        settings: This source's validated ``Settings``.
        http: The pooled HTTP client the hub built for this source (base URL, limits,
            TLS, timeouts, request-id propagation and size limits already applied).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    operations: ClassVar[frozenset[Operation]]
    Settings: ClassVar[type[SourceSettings]] = SourceSettings
    # The base models under other names: inside the class body, Query and Record
    # name the class variables.
    #: The model of each operation's input: Query for look-ups, Claim for verify,
    #: Credential for authenticate; a source declares those of its operations.
    Query: ClassVar[type[_Query]]
    Record: ClassVar[type[_Record]]
    Claim: ClassVar[type[_Query] | None] = None
    Credential: ClassVar[type[_Query] | None] = None
    #: Whether the source's queries and records concern people. The hub then keeps
    #: their values out of every log line and refuses a record about someone else than
    #: the one asked for (see ``record_identifiers``); a source of public code lists
    #: says False.
    personal_data: ClassVar[bool] = True
    #: Where the records a look-up finds carry the identifiers of its query: query field
    #: -> dotted paths into the record (a list is searched item by item), one of which
    #: must hold the value asked for in every record found, or the answer is refused as
    #: an `UpstreamError`. None: each of national_id, code, number and legacy_id that the
    #: Query and the Record both have, under its own name.
    record_identifiers: ClassVar[Mapping[str, tuple[str, ...]] | None] = None
    #: The record field each fact of a ``Claim`` is checked against, for the clients'
    #: field rules: a client may verify only facts it may see. A fact not listed is
    #: checked against the field of its own name.
    verified_fields: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass of a declared connector is held to its ancestor's declaration too.
        for klass in cls.__mro__:
            for base in klass.__dict__.get("__orig_bases__", ()):
                if get_origin(base) is Connector:
                    settings, query = get_args(base)
                    _check_declared(cls, "Settings", settings)
                    _check_declared(cls, "Query", query)

    def __init__(self, settings: SettingsT, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http

    async def lookup(self, query: QueryT, call: Call) -> _Record | Sequence[_Record]:
        """Fetch the record(s) the query names."""
        raise NotImplementedError

    async def verify(self, claim: Any, call: Call) -> Verification:
        """Check claimed facts against the register without revealing its data."""
        raise NotImplementedError

    async def authenticate(self, credential: Any, call: Call) -> VerifiedIdentity:
        """Turn a credential (an authorization code ...) into a verified identity."""
        raise NotImplementedError

    async def authorization_request(
        self, redirect_uri: str, level: AssuranceLevel
    ) -> AuthorizationRequest:
        """For sources that authenticate: where to send the citizen, and what to keep."""
        raise NotImplementedError

    @classmethod
    def person_query(cls, national_id: str) -> dict[str, Any] | None:
        """The look-up that finds a person's records here by national id, if there is one.

        Sources that answer it take part in `Hub.profile`.
        """
        return None

    @abstractmethod
    async def health(self) -> Health:
        """A cheap check that the upstream answers; never a look-up of a person."""

    async def aclose(self) -> None:
        """Release what the connector holds besides the hub's HTTP client."""


def _check_declared(cls: type, variable: str, argument: object) -> None:
    """Refuse a class variable that contradicts the type argument declared for it.

    Only a model class is checked: ``Any``, a type variable (a generic subclass) or
    ``Never`` (no look-ups) leaves the class variable as the subclass sets it.
    """
    # Any is a class since Python 3.11, but it declares nothing.
    if argument is Any or not isinstance(argument, type):
        return
    declared = getattr(cls, variable, None)
    if not (isinstance(declared, type) and issubclass(declared, argument)):
        shown = declared.__name__ if isinstance(declared, type) else "not set"
        raise TypeError(
            f"{cls.__name__}.{variable} is {shown}, but the class is declared with "
            f"{argument.__name__}"
        )


# Helpers for connectors that speak HTTP + JSON.

_RETRYABLE_STATUS = frozenset({502, 503, 504})


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def check_status(
    response: httpx.Response, *, source: str, not_found: str = "no such record"
) -> None:
    """Raise the typed error an HTTP status stands for; return on 2xx.

    429 and 502/503/504 are retryable (``UpstreamUnavailable``, with Retry-After);
    404 is ``NotFound``; 400/422 mean the upstream refused the query
    (``UpstreamRejected``); any other status is an unusable answer (``UpstreamError``).
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 404:
        raise NotFound(not_found, source=source)
    if status == 429:
        raise UpstreamUnavailable(
            "the upstream is rate limiting",
            source=source,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            cause="rate_limited",
        )
    if status in _RETRYABLE_STATUS:
        raise UpstreamUnavailable(
            f"the upstream answered {status}",
            source=source,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            cause=f"status_{status}",
        )
    if status in (400, 422):
        raise UpstreamRejected("the upstream refused the query as invalid", source=source)
    raise UpstreamError(f"the upstream answered {status}", source=source)


def json_body(response: httpx.Response, *, source: str) -> Any:
    """The JSON body of a response, or ``UpstreamError`` if it is not JSON.

    orjson refuses nesting deeper than 1024 levels, which bounds what a hostile
    upstream can make the parser do.
    """
    content_type = response.headers.get("Content-Type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UpstreamError("the upstream answered with a non-JSON content type", source=source)
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise UpstreamError("the upstream answered with malformed JSON", source=source) from None
    return data
