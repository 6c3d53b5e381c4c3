"""The hub: one pipeline for every look-up, verification and authentication.

    caller -> authorize -> validate -> resilience (deadline, breaker, limit, retry)
           -> connector -> minimise -> audit (durable) -> answer with its audit id

Failures take the same path: a denied, invalid, failed or not-found call is audited
too, and the error carries its audit id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from hub._cache import Cache, CacheBackend, MemoryCacheBackend, record_types
from hub._config import HEALTH_TIMEOUT, HubSettings, describe_validation_error, load_settings
from hub._history import (
    HISTORY_OPERATION,
    HISTORY_SOURCE,
    TICKET_KEY_LABEL,
    AccessField,
    AccessHistory,
    AccessItem,
    Tickets,
    field_label,
    source_title,
)
from hub._http import build_client, current_request_id
from hub._logging import (
    get_logger,
    observe_sensitive,
    quiet_http_clients,
    redacting,
    register_secret,
)
from hub._model import IDENTIFIER_FIELDS, Query, Record
from hub._patterns import REQUEST_ID as _REQUEST_ID
from hub._patterns import SOURCE_NAME as _SOURCE_NAME
from hub._policy import AccessPolicy, AttemptStore, MemoryAttemptStore, VerificationLimit
from hub._purpose import Purpose
from hub._registry import connector_class, installed_connectors
from hub._resilience import Attempts, BreakerState, Resilience
from hub.audit import AuditEntry, AuditTrail, InclusionProof, Outcome
from hub.audit._entry import format_time
from hub.audit._receipt import ReceiptClaims, data_digest
from hub.audit._report import page_of_entries
from hub.audit._store import StoreError
from hub.connector import Call, Connector, Health, HealthStatus, Operation
from hub.errors import (
    AuditUnavailable,
    ConfigError,
    FieldError,
    HubError,
    InvalidQuery,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
    UnknownSource,
    UpstreamError,
)
from hub.records import (
    AssuranceLevel,
    AuthorizationRequest,
    Verdict,
    Verification,
    VerifiedIdentity,
)

__all__ = [
    "AuthenticationResult",
    "Hub",
    "LookupResult",
    "Profile",
    "SourceInfo",
    "SyncHub",
    "VerificationResult",
]

T = TypeVar("T")
log = get_logger("hub")

#: The most items a page of an access history holds.
_MAX_PAGE_SIZE = 200
_REDIRECT_URI = re.compile(r"^https?://[\x21-\x7e]{1,2040}$")


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


def _minimise(record: Record, keep: frozenset[str] | None) -> tuple[Record, tuple[str, ...]]:
    """The record with only ``keep`` fields set, and the names of those fields."""
    names = type(record).model_fields
    if keep is None or keep >= names.keys():
        return record, tuple(names)
    values = {name: getattr(record, name) if name in keep else None for name in names}
    kept = tuple(name for name in names if name in keep)
    return type(record).model_construct(_fields_set=set(kept), **values), kept


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class _Source:
    info: SourceInfo
    connector: Connector[Any, Any]
    resilience: Resilience
    http: httpx.AsyncClient
    record_types: dict[str, type[Record]]
    #: Query field -> the record paths that must carry its value (``record_identifiers``).
    identifiers: dict[str, tuple[str, ...]]


@dataclass(slots=True)
class _Outcome:
    """What the pipeline learned about one call, for its audit entry."""

    started: float
    request_id: str
    source: str
    operation: Operation
    purpose: Purpose | None = None
    subject: str | None = None
    fields: tuple[str, ...] = ()
    attempts: int = 0
    upstream_ms: float | None = None
    cache: str | None = None


class Hub:
    """The asynchronous hub; use ``async with``.

    Args:
        settings: The configuration (`Hub.from_config` loads one from TOML and the
            environment).
        audit: The audit trail; by default the one the settings describe (SQLite
            under the data directory unless configured).
        connectors: The connector classes by source name; by default those
            installed under the ``hub.connectors`` entry points.
        on_call: Called with every call's audit entry once it is durable (metrics,
            tests); more can be added with `observe`.
    """

    def __init__(
        self,
        settings: HubSettings | None = None,
        *,
        audit: AuditTrail | None = None,
        connectors: Mapping[str, type[Connector[Any, Any]]] | None = None,
        on_call: Callable[[AuditEntry], None] | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self._audit = audit
        self._owns_audit = audit is None
        self._connector_classes = connectors
        self._observers: list[Callable[[AuditEntry], None]] = [on_call] if on_call else []
        self._sources: dict[str, _Source] = {}
        self.policy = AccessPolicy(self.settings.clients)
        self._health_cache: tuple[float, dict[str, Health]] | None = None
        self._redis: Any = None
        self._cache: Cache | None = None
        self._verification_limit: VerificationLimit | None = None
        self._tickets: Tickets | None = None
        self._started = False

    @classmethod
    def from_config(cls, path: str | Path | None = None, **overrides: Any) -> Hub:
        """A hub configured from a TOML file and ``HUB_`` environment variables.

        Args:
            path: The TOML file; None uses ``$HUB_CONFIG`` or ./hub.toml when present,
                else the embedded default.
            overrides: Top-level settings replacing the file's.
        """
        return cls(load_settings(path, **overrides))

    # Life cycle

    async def start(self) -> None:
        """Open the audit trail and one pooled client and connector per source.

        From here on the HTTP clients' request lines, which carry identifiers in their
        URLs, stay out of the application's logs below WARNING.
        """
        if self._started:
            return
        quiet_http_clients()
        try:
            backend: CacheBackend
            attempts: AttemptStore
            if self.settings.redis_url is not None:
                # The redis extra is imported only when it is configured.
                from hub._redis import RedisAttemptStore, RedisCacheBackend, connect

                self._redis = connect(self.settings.redis_url.get_secret_value())
                backend = RedisCacheBackend(self._redis)
                attempts = RedisAttemptStore(self._redis)
            else:
                backend = MemoryCacheBackend(self.settings.cache.max_entries)
                attempts = MemoryAttemptStore()
            if self.settings.cache.enabled:
                self._cache = Cache(self.settings.cache, backend)
            if self.settings.verification.enabled:
                self._verification_limit = VerificationLimit(self.settings.verification, attempts)
            for name, table in self.settings.sources.items():
                source = self._open_source(name, table)
                if source is not None:
                    self._sources[name] = source
            if self._audit is None:
                self._audit = await AuditTrail.open(
                    self.settings.audit, data_dir=self.settings.data_dir
                )
            self._tickets = Tickets(
                self._audit.derived_key(TICKET_KEY_LABEL), self.settings.citizen
            )
        except BaseException:
            await self.aclose()
            raise
        self._started = True

    def _open_source(self, name: str, table: Mapping[str, Any]) -> _Source | None:
        classes = self._connector_classes or installed_connectors()
        if name not in classes:
            known = ", ".join(classes) or "none"
            raise ConfigError(f"sources.{name}: no such connector installed (installed: {known})")
        cls = classes[name] if self._connector_classes else connector_class(name)
        try:
            settings = cls.Settings.model_validate(table)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, where=f"sources.{name}")) from None
        if not settings.enabled:
            return None
        _register_secrets(settings)
        if self._redis is not None:
            from hub._redis import RedisBreakerStore

            # Replicas share the breaker, so its clock is the wall clock.
            store = RedisBreakerStore(self._redis, settings.breaker.window)
            resilience = Resilience(name, settings, breaker_store=store, clock=time.time)
        else:
            resilience = Resilience(name, settings)
        http = build_client(settings, source=name)
        return _Source(
            info=SourceInfo(name, cls.title, cls.operations),
            connector=cls(settings, http),
            resilience=resilience,
            http=http,
            record_types=record_types(cls.Record),
            identifiers=_record_identifiers(cls),
        )

    async def aclose(self) -> None:
        """Close every connector and client, and flush the audit trail."""
        for source in self._sources.values():
            try:
                await source.connector.aclose()
            finally:
                await source.http.aclose()
        self._sources.clear()
        if self._audit is not None and self._owns_audit:
            await self._audit.aclose()
            self._audit = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        self._started = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # What is here

    @property
    def audit(self) -> AuditTrail:
        if self._audit is None:
            raise RuntimeError("the hub is not started; use `async with hub:`")
        return self._audit

    def observe(self, callback: Callable[[AuditEntry], None]) -> None:
        """Call ``callback`` with every call's audit entry (metrics, tests)."""
        self._observers.append(callback)

    @property
    def redis(self) -> Any:
        """The Redis client shared state lives in, when ``redis_url`` is configured."""
        return self._redis

    async def breaker_states(self) -> dict[str, BreakerState]:
        """Each source's circuit breaker state (for metrics)."""
        return {name: await src.resilience.breaker.state() for name, src in self._sources.items()}

    def sources(self, client: str | None = None) -> list[SourceInfo]:
        """The configured sources, or those ``client`` may use."""
        infos = [source.info for source in self._sources.values()]
        if client is None or self.policy.open:
            return infos
        allowed = set(self.policy.sources(client))
        return [info for info in infos if info.name in allowed]

    async def health(self, *, max_age: float = 0.0) -> dict[str, Health]:
        """Each source's health, checked concurrently with a short timeout.

        Args:
            max_age: Reuse a result younger than this many seconds, so that a storm
                of readiness probes never becomes a storm upstream.
        """
        now = time.monotonic()
        if self._health_cache is not None and now - self._health_cache[0] < max_age:
            return self._health_cache[1]
        names = list(self._sources)
        results = await asyncio.gather(*(self._health_of(name) for name in names))
        health = dict(zip(names, results, strict=True))
        self._health_cache = (now, health)
        return health

    async def _health_of(self, name: str) -> Health:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                health = await self._sources[name].connector.health()
        except TimeoutError:
            return Health(status=HealthStatus.DOWN, detail="no answer in time")
        except (HubError, httpx.HTTPError) as exc:
            return Health(status=HealthStatus.DOWN, detail=type(exc).__name__)
        if health.latency_ms is None:
            elapsed = (time.perf_counter() - started) * 1000
            health = health.model_copy(update={"latency_ms": round(elapsed, 2)})
        return health

    # The three operations

    async def lookup(
        self,
        source: str,
        query: Mapping[str, Any] | Query,
        *,
        purpose: Purpose | Mapping[str, Any],
        fields: Sequence[str] | None = None,
        request_id: str | None = None,
        receipt: bool = False,
    ) -> LookupResult:
        """Look a record up in ``source``.

        Args:
            source: The source's name, e.g. ``"population"``.
            query: The query, as the source's ``Query`` model or its fields.
            purpose: Who asks, for which procedure and dossier.
            fields: The record fields wanted; None means all the client may see.
            request_id: Carried to the upstream, the logs and the audit entry;
                generated when absent.
            receipt: Sign a receipt of the answer (`LookupResult.receipt`).

        Raises:
            HubError: one of the typed errors; ``audit_id`` is set on it.
        """

        async def run(src: _Source, parsed: Query, call: Call, outcome: _Outcome) -> LookupResult:
            record, cached = await self._cached_lookup(src, parsed, call, outcome)
            if src.connector.personal_data:
                observe_sensitive(record)
            keep = self._wanted_fields(src, call.purpose.client, fields)
            if isinstance(record, Record):
                minimised, kept = _minimise(record, keep)
                answer: Record | tuple[Record, ...] = minimised
            else:
                answer = tuple(_minimise(item, keep)[0] for item in record)
                kept = tuple(
                    name
                    for name in src.connector.Record.model_fields
                    if keep is None or name in keep
                )
            outcome.fields = kept
            audit_id = await self._record(outcome, Outcome.OK, None)
            found = LookupResult(src.info.name, answer, kept, audit_id, call.request_id, cached)
            if receipt:
                return replace(found, receipt=self._receipt(outcome, audit_id, found.data()))
            return found

        return await self._call(source, Operation.LOOKUP, query, purpose, request_id, run, fields)

    async def verify(
        self,
        source: str,
        claim: Mapping[str, Any] | Query,
        *,
        purpose: Purpose | Mapping[str, Any],
        request_id: str | None = None,
        receipt: bool = False,
    ) -> VerificationResult:
        """Check claimed facts against ``source`` without revealing its data.

        A client may verify only the fields it may see, and the verifications of one
        subject by one client that the register refutes are bounded (``[verification]``).

        Args:
            source: The source's name.
            claim: The identifier and the facts to check, as the source's ``Claim``.
            purpose: Who asks, for which procedure and dossier.
            request_id: As for `lookup`.
            receipt: Sign a receipt of the answer (`VerificationResult.receipt`).

        Raises:
            HubError: one of the typed errors; ``audit_id`` is set on it. `Forbidden`
                names the facts the client may not see; `TooManyAttempts` says when
                this subject may be verified again.
        """

        async def run(
            src: _Source, parsed: Query, call: Call, outcome: _Outcome
        ) -> VerificationResult:
            client = call.purpose.client
            self.policy.check_facts(client, src.info.name, _facts(src.connector, parsed))

            def attempt(c: Call) -> Coroutine[Any, Any, Verification]:
                return src.connector.verify(parsed, c)

            limit = self._verification_limit
            if limit is None or outcome.subject is None:
                verification = await self._upstream(src, call, outcome, attempt)
            else:
                async with limit.attempt(client, outcome.subject, source=src.info.name) as held:
                    verification = await self._upstream(src, call, outcome, attempt)
                    held.refuted = verification.verdict is Verdict.REFUTED
            outcome.fields = tuple(sorted(verification.matches))
            audit_id = await self._record(outcome, Outcome.OK, None)
            signed = (
                self._receipt(outcome, audit_id, verification.model_dump(mode="json"))
                if receipt
                else None
            )
            return VerificationResult(
                src.info.name, verification, audit_id, call.request_id, signed
            )

        return await self._call(source, Operation.VERIFY, claim, purpose, request_id, run, None)

    async def authenticate(
        self,
        source: str,
        credential: Mapping[str, Any] | Query,
        *,
        purpose: Purpose | Mapping[str, Any],
        fields: Sequence[str] | None = None,
        request_id: str | None = None,
        receipt: bool = False,
    ) -> AuthenticationResult:
        """Turn a credential (e.g. a VNeID authorization code) into a verified identity.

        Not retried: a one-time credential cannot be presented twice. ``receipt`` asks
        for a signed receipt of the answer (`AuthenticationResult.receipt`).
        """

        async def run(
            src: _Source, parsed: Query, call: Call, outcome: _Outcome
        ) -> AuthenticationResult:
            identity = await self._upstream(
                src, call, outcome, lambda c: src.connector.authenticate(parsed, c)
            )
            minimised, kept = _minimise(
                identity, self._wanted_fields(src, call.purpose.client, fields)
            )
            assert isinstance(minimised, VerifiedIdentity)
            outcome.fields = kept
            outcome.subject = self.audit.pseudonymise(identity.national_id)
            audit_id = await self._record(outcome, Outcome.OK, None)
            client = call.purpose.client
            ticket = (
                self.tickets.issue(client, outcome.subject, int(identity.level))
                if self.policy.has_role(client, "citizen-portal")
                and identity.level >= self.tickets.level
                else None
            )
            known = AuthenticationResult(
                src.info.name, minimised, kept, audit_id, call.request_id, ticket
            )
            if receipt:
                return replace(known, receipt=self._receipt(outcome, audit_id, known.data()))
            return known

        return await self._call(
            source, Operation.AUTHENTICATE, credential, purpose, request_id, run, fields
        )

    async def profile(
        self,
        national_id: str,
        *,
        purpose: Purpose | Mapping[str, Any],
        request_id: str | None = None,
    ) -> Profile:
        """One person across every source that can find her by national id, concurrently.

        Each part is an ordinary look-up (authorized, resilient, audited on its own);
        a source that fails leaves its part empty and its typed error in ``errors``.
        Sources the client may not use are left out.

        Args:
            national_id: The person's 12-digit number.
            purpose: Who asks, for which procedure and dossier.
            request_id: Shared by every part; generated when absent.
        """
        request_id = request_id or new_request_id()
        client = _parse_purpose(purpose).client
        names = [
            info.name
            for info in self.sources(client)
            if self._sources[info.name].connector.person_query(national_id) is not None
            and Operation.LOOKUP in info.operations
        ]

        async def part(name: str) -> LookupResult | HubError:
            query = self._sources[name].connector.person_query(national_id)
            assert query is not None
            try:
                return await self.lookup(name, query, purpose=purpose, request_id=request_id)
            except HubError as exc:
                return exc

        answers = await asyncio.gather(*(part(name) for name in names))
        parts = {n: a for n, a in zip(names, answers, strict=True) if isinstance(a, LookupResult)}
        errors = {n: a for n, a in zip(names, answers, strict=True) if isinstance(a, HubError)}
        return Profile(national_id, parts, errors, request_id)

    @property
    def tickets(self) -> Tickets:
        """Issues and checks the citizens' access-history tickets."""
        if self._tickets is None:
            raise RuntimeError("the hub is not started; use `async with hub:`")
        return self._tickets

    async def access_history(
        self,
        ticket: str,
        *,
        client: str,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        page: int = 1,
        page_size: int = 50,
        proofs: bool = False,
        request_id: str | None = None,
    ) -> AccessHistory:
        """A citizen's access history: every access to her data through the hub.

        Newest first, a page at a time; each reading is itself audited (source
        ``audit``, operation ``history``) before the page is read, so it is the first
        item of its own page one. The officers' codes are left out.

        Args:
            ticket: The ticket her VNeID login gave ``client`` (`authenticate`).
            client: The portal asking: the one the ticket was issued to.
            since: From this instant (inclusive, with a time zone).
            until: To this one (exclusive).
            page: From 1.
            page_size: Items per page, 1 to 200.
            proofs: Add each item's inclusion proof against a signed checkpoint.
            request_id: The request id to audit the reading under; generated when absent.

        Raises:
            Unauthenticated: the ticket is missing, malformed, forged, expired, of
                another client or of a login below the required level.
            InvalidQuery: a bound without a time zone, ``since`` not before ``until``,
                or a page out of range.
            AuditUnavailable: the trail cannot take the reading or be read.
        """
        started = time.monotonic()
        if not ticket:
            raise Unauthenticated("ticket: an access-history ticket is required")
        held = self.tickets.check(ticket, client=client)
        for name, bound in (("since", since), ("until", until)):
            if bound is not None and bound.utcoffset() is None:
                raise InvalidQuery.for_field(name, "must carry a time zone")
        if since is not None and until is not None and since >= until:
            raise InvalidQuery.for_field("since", "must be before until")
        if page < 1:
            raise InvalidQuery.for_field("page", "must be 1 or more")
        if not 1 <= page_size <= _MAX_PAGE_SIZE:
            raise InvalidQuery.for_field("page_size", f"must be between 1 and {_MAX_PAGE_SIZE}")
        reading = AuditEntry(
            time=dt.datetime.now(dt.UTC),
            node=self.audit.node,
            request_id=request_id
            if request_id and _REQUEST_ID.fullmatch(request_id)
            else new_request_id(),
            client=client,
            officer="",
            procedure="",
            dossier="",
            source=HISTORY_SOURCE,
            operation=HISTORY_OPERATION,
            subject=held.subject,
            fields=[],
            outcome=Outcome.OK,
            error=None,
            attempts=0,
            upstream_ms=None,
            total_ms=round((time.monotonic() - started) * 1000, 3),
            cache=None,
        )
        reading_id = await self.audit.append(reading)
        try:
            total, found = await page_of_entries(
                self.audit.store,
                held.subject,
                since=format_time(since) if since else None,
                until=format_time(until) if until else None,
                offset=(page - 1) * page_size,
                limit=page_size,
            )
        except StoreError as exc:
            raise AuditUnavailable(f"the access history cannot be read: {exc}") from None
        items = []
        for item in found:
            proof = await self.audit.proof(item.audit_id) if proofs else None
            items.append(self._access_item(item.audit_id, item.entry, proof))
        return AccessHistory(
            items=items, total=total, page=page, page_size=page_size, audit_id=reading_id
        )

    def _access_item(
        self, audit_id: str, entry: AuditEntry, proof: InclusionProof | None
    ) -> AccessItem:
        titles = self.settings.clients.get(entry.client)
        known = self._sources.get(entry.source)
        return AccessItem(
            audit_id=audit_id,
            time=entry.time,
            client=entry.client,
            agency=(titles.title if titles and titles.title else entry.client),
            by_you=entry.operation in (Operation.AUTHENTICATE.value, HISTORY_OPERATION),
            procedure=entry.procedure or None,
            procedure_name=self.settings.procedures.get(entry.procedure),
            dossier=entry.dossier or None,
            source=entry.source,
            source_title=source_title(entry.source) or (known.info.title if known else None),
            operation=entry.operation,
            fields=[AccessField(name=name, label=field_label(name)) for name in entry.fields],
            outcome=entry.outcome.value,
            proof=proof,
        )

    async def authorization_request(
        self,
        source: str,
        *,
        redirect_uri: str,
        level: AssuranceLevel | int,
        client: str,
    ) -> AuthorizationRequest:
        """Where to send a citizen to authenticate with ``source`` (e.g. VNeID).

        Nothing personal is asked or returned, so nothing is audited; the call that
        matters, `authenticate`, is.

        Args:
            source: A source that authenticates.
            redirect_uri: Where the provider sends the citizen back (the portal's).
            level: The level of assurance required (1 or 2).
            client: The calling system, checked against its rules.
        """
        src = self._source(source)
        self.policy.check(client, source, Operation.AUTHENTICATE)
        if Operation.AUTHENTICATE not in src.info.operations:
            raise InvalidQuery.for_field("source", f"{source} does not authenticate")
        try:
            wanted = AssuranceLevel(level)
        except ValueError:
            raise InvalidQuery.for_field("level", "must be 1 or 2") from None
        if not _REDIRECT_URI.fullmatch(redirect_uri):
            raise InvalidQuery.for_field(
                "redirect_uri", "must be an absolute http(s) URL of printable ASCII, no spaces"
            )
        # It may fetch the provider's metadata and keys: a read, resilient like any other.
        return await src.resilience.run(
            lambda number: src.connector.authorization_request(redirect_uri, wanted),
            deadline=time.monotonic() + src.connector.settings.deadline,
            idempotent=True,
            attempts=Attempts(),
        )

    # The pipeline

    async def _call(
        self,
        source_name: str,
        operation: Operation,
        payload: Mapping[str, Any] | Query,
        purpose: Purpose | Mapping[str, Any],
        request_id: str | None,
        run: Callable[[_Source, Query, Call, _Outcome], Awaitable[T]],
        fields: Sequence[str] | None,
    ) -> T:
        if not self._started:
            raise RuntimeError("the hub is not started; use `async with hub:`")
        started = time.monotonic()
        outcome = _Outcome(
            started=started,
            request_id=request_id or new_request_id(),
            source=source_name,
            operation=operation,
        )
        known = self._sources.get(source_name)
        personal = known is None or known.connector.personal_data
        with redacting(_plain(payload) if personal else None):
            try:
                if not _REQUEST_ID.fullmatch(outcome.request_id):
                    outcome.request_id = new_request_id()
                    raise InvalidQuery.for_field(
                        "request_id", "must be 1 to 128 letters, digits or . _ : -"
                    )
                outcome.purpose = _parse_purpose(purpose)
                src = self._source(source_name)
                self.policy.check(outcome.purpose.client, source_name, operation)
                parsed = _parse_payload(src, operation, payload)
                subject = parsed.subject()
                outcome.subject = self.audit.pseudonymise(subject) if subject else None
                self._check_fields(src, fields)
                call = Call(
                    source=source_name,
                    operation=operation,
                    request_id=outcome.request_id,
                    purpose=outcome.purpose,
                    deadline=started + src.connector.settings.deadline,
                )
                token = current_request_id.set(call.request_id)
                try:
                    return await run(src, parsed, call, outcome)
                finally:
                    current_request_id.reset(token)
            except HubError as exc:
                exc.request_id = outcome.request_id
                if exc.audit_id is None and not isinstance(exc, AuditUnavailable):
                    exc.audit_id = await self._record(outcome, _outcome_of(exc), exc)
                raise

    def _receipt(self, outcome: _Outcome, audit_id: str | None, data: Any) -> str | None:
        """The signed receipt of a call whose answer carries ``data``.

        None without an audit entry (fail-open): a receipt vouches for an entry.
        """
        purpose = outcome.purpose
        if audit_id is None or purpose is None:
            return None
        claims = ReceiptClaims(
            audit_id=audit_id,
            time=format_time(dt.datetime.now(dt.UTC)),
            client=purpose.client,
            officer=purpose.officer,
            procedure=purpose.procedure,
            dossier=purpose.dossier,
            source=outcome.source,
            operation=outcome.operation.value,
            fields=sorted(outcome.fields),
            digest=data_digest(data),
        )
        return self.audit.receipts.sign(claims)

    def _source(self, name: str) -> _Source:
        try:
            return self._sources[name]
        except KeyError:
            configured = ", ".join(self._sources) or "none"
            shown = repr(name) if _SOURCE_NAME.fullmatch(name) else "of that form"
            raise UnknownSource(
                f"source: no configured source {shown}; configured: {configured}",
                errors=[FieldError(("source",), f"not one of: {configured}")],
            ) from None

    async def _cached_lookup(
        self, src: _Source, parsed: Query, call: Call, outcome: _Outcome
    ) -> tuple[Record | Sequence[Record], bool]:
        """A look-up through the cache when it is enabled; a broken cache is a miss.

        Returns the result, and whether it is a hit on an entry this client filled.
        """

        def attempt(c: Call) -> Coroutine[Any, Any, Record | Sequence[Record]]:
            return _answer_for(src, parsed, c)

        cache = self._cache
        if cache is None:
            return await self._upstream(src, call, outcome, attempt), False
        key = cache.key_for(src.info.name, parsed)
        try:
            hit = await cache.get(key, src.record_types)
        except Exception as exc:  # Redis down: answer from the upstream instead
            log.warning("cache unavailable", source=src.info.name, error=type(exc).__name__)
            hit = None
        if hit is not None:
            outcome.cache = "hit"
            return hit.value, hit.client == call.purpose.client
        outcome.cache = "miss"
        record = await self._upstream(src, call, outcome, attempt)
        try:
            value = record if isinstance(record, Record) else list(record)
            await cache.put(key, value, client=call.purpose.client)
        except Exception as exc:
            log.warning("cache unavailable", source=src.info.name, error=type(exc).__name__)
        return record, False

    async def _upstream(
        self,
        src: _Source,
        call: Call,
        outcome: _Outcome,
        attempt: Callable[[Call], Coroutine[Any, Any, T]],
    ) -> T:
        attempts = Attempts()
        try:
            return await src.resilience.run(
                lambda number: attempt(replace(call, attempt=number)),
                deadline=call.deadline,
                idempotent=call.operation.idempotent,
                attempts=attempts,
            )
        finally:
            outcome.attempts = attempts.count
            outcome.upstream_ms = round(attempts.upstream_ms, 3) if attempts.count else None

    def _check_fields(self, src: _Source, fields: Sequence[str] | None) -> None:
        if fields is None:
            return
        record_fields = src.connector.Record.model_fields
        unknown = sorted(set(fields) - record_fields.keys())
        if unknown:
            raise InvalidQuery.for_field(
                "fields",
                f"unknown field(s) {', '.join(unknown)}; "
                f"{src.info.name} records have {', '.join(record_fields)}",
            )

    def _wanted_fields(
        self, src: _Source, client: str, fields: Sequence[str] | None
    ) -> frozenset[str] | None:
        """Asked for and allowed: requested fields the client may not see are dropped."""
        allowed = self.policy.fields(client, src.info.name)
        if fields is None:
            return allowed
        wanted = frozenset(fields)
        return wanted if allowed is None else wanted & allowed

    async def _record(
        self, outcome: _Outcome, result: Outcome, error: HubError | None
    ) -> str | None:
        """Append the call's audit entry; return its id once it is durable."""
        purpose = outcome.purpose
        entry = AuditEntry(
            time=dt.datetime.now(dt.UTC),
            node=self.audit.node,
            request_id=outcome.request_id,
            client=purpose.client if purpose else "",
            officer=purpose.officer if purpose else "",
            procedure=purpose.procedure if purpose else "",
            dossier=purpose.dossier if purpose else "",
            # A name that is not a source's cannot be written as one.
            source=outcome.source if _SOURCE_NAME.fullmatch(outcome.source) else "unknown",
            operation=outcome.operation.value,
            subject=outcome.subject,
            fields=sorted(outcome.fields) if result is Outcome.OK else [],
            outcome=result,
            error=error.kind if error is not None else None,
            attempts=outcome.attempts,
            upstream_ms=outcome.upstream_ms,
            total_ms=round((time.monotonic() - outcome.started) * 1000, 3),
            cache=outcome.cache,
        )
        try:
            audit_id = await self.audit.append(entry)
        except AuditUnavailable as exc:
            if not self.settings.audit.fail_open:
                exc.request_id = outcome.request_id
                raise
            log.error(
                "AUDIT FAIL-OPEN: answering without an audit entry (development only)",
                request_id=outcome.request_id,
                source=outcome.source,
            )
            audit_id = None
        for observe in self._observers:
            observe(entry)
        return audit_id


def _plain(payload: Mapping[str, Any] | Query) -> Any:
    if isinstance(payload, BaseModel):
        return payload.model_dump(mode="json")
    return payload


def _parse_purpose(purpose: Purpose | Mapping[str, Any]) -> Purpose:
    if isinstance(purpose, Purpose):
        return purpose
    if not isinstance(purpose, Mapping):
        raise InvalidQuery.for_field("purpose", "must give client, officer, procedure and dossier")
    try:
        return Purpose.model_validate(purpose)
    except ValidationError as exc:
        raise InvalidQuery.from_validation(exc, "purpose") from None


def _parse_payload(src: _Source, operation: Operation, payload: Mapping[str, Any] | Query) -> Query:
    connector = src.connector
    if operation not in connector.operations:
        supported = ", ".join(sorted(op.value for op in connector.operations))
        raise InvalidQuery.for_field(
            "operation",
            f"{src.info.name} does not support {operation.value} (it supports {supported})",
            source=src.info.name,
        )
    # Only the model of this operation: a connector that does not look up has no Query.
    attribute = {
        Operation.LOOKUP: "Query",
        Operation.VERIFY: "Claim",
        Operation.AUTHENTICATE: "Credential",
    }
    model: type[Query] | None = getattr(connector, attribute[operation], None)
    assert model is not None, f"{src.info.name} lists {operation.value} without its model"
    if isinstance(payload, model):
        return payload
    if isinstance(payload, BaseModel):
        payload = payload.model_dump()
    if not isinstance(payload, Mapping):
        raise InvalidQuery.for_field("query", "must be an object", source=src.info.name)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidQuery.from_validation(exc, "query", source=src.info.name) from None


def _outcome_of(error: HubError) -> Outcome:
    if isinstance(error, InvalidQuery):
        return Outcome.INVALID
    if isinstance(error, NotFound):
        return Outcome.NOT_FOUND
    if error.status in (401, 403) or isinstance(error, TooManyAttempts):
        return Outcome.DENIED
    return Outcome.FAILED


async def _answer_for(src: _Source, query: Query, call: Call) -> Record | Sequence[Record]:
    """One attempt of a look-up, refused when it answers about someone else.

    Inside the attempt, so that such an answer counts against the upstream's breaker
    like any other unusable answer, and never reaches the cache.
    """
    found = await src.connector.lookup(query, call)
    records = [found] if isinstance(found, Record) else found
    for field, paths in src.identifiers.items():
        asked = getattr(query, field, None)
        if asked is None:
            continue
        for record in records:
            if not any(asked in _values_at(record, path) for path in paths):
                raise UpstreamError(
                    f"{src.info.name} answered with a record of another {field} "
                    "than the one asked for",
                    source=src.info.name,
                )
    return found


def _values_at(value: Any, path: str) -> list[Any]:
    """The values at a dotted path through a record; a list is followed item by item."""
    found = [value]
    for name in path.split("."):
        found = [getattr(item, name, None) for item in found]
        found = [each for item in found for each in (item if isinstance(item, list) else [item])]
    return found


def _record_identifiers(cls: type[Connector[Any, Any]]) -> dict[str, tuple[str, ...]]:
    """Where a personal-data source's records carry the identifiers of its queries."""
    if not cls.personal_data or Operation.LOOKUP not in cls.operations:
        return {}
    if cls.record_identifiers is not None:
        return dict(cls.record_identifiers)
    shared = cls.Query.model_fields.keys() & cls.Record.model_fields.keys()
    return {name: (name,) for name in IDENTIFIER_FIELDS if name in shared}


def _facts(connector: Connector[Any, Any], claim: Query) -> dict[str, str]:
    """The facts a claim asks to check (its fields besides its subject), each with the
    record field it is checked against."""
    subject = claim.subject()
    return {
        name: connector.verified_fields.get(name, name)
        for name, value in claim
        if value is not None and value != subject
    }


def _register_secrets(settings: BaseModel) -> None:
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            register_secret(value.get_secret_value())
        elif isinstance(value, BaseModel):
            _register_secrets(value)


class SyncHub:
    """The same hub, blocking: for Django and Flask views, safe from several threads.

    The asynchronous hub runs on an event loop in a thread of its own; each method
    hands its call to that loop and waits for the answer.

    Args:
        settings: As for `Hub`.
        audit: As for `Hub`.
        connectors: As for `Hub`.
    """

    def __init__(
        self,
        settings: HubSettings | None = None,
        *,
        audit: AuditTrail | None = None,
        connectors: Mapping[str, type[Connector[Any, Any]]] | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hub-loop", daemon=True)
        self._thread.start()
        self._hub = Hub(settings, audit=audit, connectors=connectors)
        try:
            self._run(self._hub.start())
        except BaseException:
            self._stop_loop()
            raise

    @classmethod
    def from_config(cls, path: str | Path | None = None, **overrides: Any) -> SyncHub:
        """As `Hub.from_config`, blocking."""
        return cls(load_settings(path, **overrides))

    @property
    def hub(self) -> Hub:
        """The asynchronous hub underneath."""
        return self._hub

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("SyncHub cannot be called from its own event loop")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def sources(self, client: str | None = None) -> list[SourceInfo]:
        return self._hub.sources(client)

    def health(self, *, max_age: float = 0.0) -> dict[str, Health]:
        return self._run(self._hub.health(max_age=max_age))

    def lookup(
        self,
        source: str,
        query: Mapping[str, Any] | Query,
        *,
        purpose: Purpose | Mapping[str, Any],
        fields: Sequence[str] | None = None,
        request_id: str | None = None,
        receipt: bool = False,
    ) -> LookupResult:
        """As `Hub.lookup`, blocking."""
        return self._run(
            self._hub.lookup(
                source,
                query,
                purpose=purpose,
                fields=fields,
                request_id=request_id,
                receipt=receipt,
            )
        )

    def verify(
        self,
        source: str,
        claim: Mapping[str, Any] | Query,
        *,
        purpose: Purpose | Mapping[str, Any],
        request_id: str | None = None,
        receipt: bool = False,
    ) -> VerificationResult:
        """As `Hub.verify`, blocking."""
        return self._run(
            self._hub.verify(source, claim, purpose=purpose, request_id=request_id, receipt=receipt)
        )

    def authenticate(
        self,
        source: str,
        credential: Mapping[str, Any] | Query,
        *,
        purpose: Purpose | Mapping[str, Any],
        fields: Sequence[str] | None = None,
        request_id: str | None = None,
        receipt: bool = False,
    ) -> AuthenticationResult:
        """As `Hub.authenticate`, blocking."""
        return self._run(
            self._hub.authenticate(
                source,
                credential,
                purpose=purpose,
                fields=fields,
                request_id=request_id,
                receipt=receipt,
            )
        )

    def profile(
        self,
        national_id: str,
        *,
        purpose: Purpose | Mapping[str, Any],
        request_id: str | None = None,
    ) -> Profile:
        """As `Hub.profile`, blocking."""
        return self._run(self._hub.profile(national_id, purpose=purpose, request_id=request_id))

    def authorization_request(
        self, source: str, *, redirect_uri: str, level: AssuranceLevel | int, client: str
    ) -> AuthorizationRequest:
        """As `Hub.authorization_request`, blocking."""
        return self._run(
            self._hub.authorization_request(
                source, redirect_uri=redirect_uri, level=level, client=client
            )
        )

    def close(self) -> None:
        """Close the hub (flushing the audit trail) and stop its loop."""
        try:
            self._run(self._hub.aclose())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
