"""The hub: its sources wired up, their health, and the public face of every call.

Each look-up, verification and authentication goes through `hub._pipeline`: authorize,
validate, resilience, minimise, audit; the hub opens what the pipeline needs and hands
it the calls.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
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
from hub._http import build_client
from hub._logging import quiet_http_clients, register_secret
from hub._model import IDENTIFIER_FIELDS, Query
from hub._patterns import REQUEST_ID
from hub._pipeline import (
    ConnectedSource,
    Pipeline,
    new_request_id,
    parse_purpose,
    source_named,
)
from hub._policy import AccessPolicy, AttemptStore, MemoryAttemptStore, VerificationLimit
from hub._purpose import Purpose
from hub._registry import connector_class, installed_connectors
from hub._resilience import Attempts, BreakerState, Resilience
from hub._results import (
    AuthenticationResult,
    LookupResult,
    Profile,
    SourceInfo,
    VerificationResult,
)
from hub.audit import AuditEntry, AuditTrail, InclusionProof, Outcome
from hub.audit._entry import format_time
from hub.audit._report import page_of_entries
from hub.audit._store import StoreError
from hub.connector import Connector, Health, HealthStatus, Operation
from hub.errors import AuditUnavailable, ConfigError, HubError, InvalidQuery, Unauthenticated
from hub.records import AssuranceLevel, AuthorizationRequest

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

#: The most items a page of an access history holds.
_MAX_PAGE_SIZE = 200
_REDIRECT_URI = re.compile(r"^https?://[\x21-\x7e]{1,2040}$")


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
        self._sources: dict[str, ConnectedSource] = {}
        self.policy = AccessPolicy(self.settings.clients)
        self._health_cache: tuple[float, dict[str, Health]] | None = None
        self._redis: Any = None
        self._tickets: Tickets | None = None
        # Set once started: what every look-up, verification and authentication takes.
        self._pipeline: Pipeline | None = None

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
        if self._pipeline is not None:
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
            cache = Cache(self.settings.cache, backend) if self.settings.cache.enabled else None
            verification_limit = (
                VerificationLimit(self.settings.verification, attempts)
                if self.settings.verification.enabled
                else None
            )
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
            self._pipeline = Pipeline(
                sources=self._sources,
                policy=self.policy,
                audit=self._audit,
                tickets=self._tickets,
                cache=cache,
                verification_limit=verification_limit,
                observers=self._observers,
                audit_fail_open=self.settings.audit.fail_open,
            )
        except BaseException:
            await self.aclose()
            raise

    def _open_source(self, name: str, table: Mapping[str, Any]) -> ConnectedSource | None:
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
        return ConnectedSource(
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
        self._pipeline = None

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

    def _running(self) -> Pipeline:
        if self._pipeline is None:
            raise RuntimeError("the hub is not started; use `async with hub:`")
        return self._pipeline

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

        return await self._running().lookup(
            source=source,
            query=query,
            purpose=purpose,
            fields=fields,
            request_id=request_id,
            receipt=receipt,
        )

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

        return await self._running().verify(
            source=source, claim=claim, purpose=purpose, request_id=request_id, receipt=receipt
        )

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

        return await self._running().authenticate(
            source=source,
            credential=credential,
            purpose=purpose,
            fields=fields,
            request_id=request_id,
            receipt=receipt,
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
        client = parse_purpose(purpose).client
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
            if request_id and REQUEST_ID.fullmatch(request_id)
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
        src = source_named(self._sources, source)
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


def _record_identifiers(cls: type[Connector[Any, Any]]) -> dict[str, tuple[str, ...]]:
    """Where a personal-data source's records carry the identifiers of its queries."""
    if not cls.personal_data or Operation.LOOKUP not in cls.operations:
        return {}
    if cls.record_identifiers is not None:
        return dict(cls.record_identifiers)
    shared = cls.Query.model_fields.keys() & cls.Record.model_fields.keys()
    return {name: (name,) for name in IDENTIFIER_FIELDS if name in shared}


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
