"""The pipeline every look-up, verification and authentication takes.

    caller -> authorize -> validate -> resilience (deadline, breaker, limit, retry)
           -> connector -> minimise -> audit (durable) -> answer with its audit id

Failures take the same path: a denied, invalid, failed or not-found call is audited
too, and the error carries its audit id.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from hub._cache import Cache
from hub._history import Tickets
from hub._http import current_request_id
from hub._logging import get_logger, observe_sensitive, redacting
from hub._model import Query, Record
from hub._patterns import REQUEST_ID, SOURCE_NAME
from hub._policy import AccessPolicy, VerificationLimit
from hub._purpose import Purpose
from hub._resilience import Attempts, Resilience
from hub._results import AuthenticationResult, LookupResult, SourceInfo, VerificationResult
from hub.audit import AuditEntry, AuditTrail, Outcome
from hub.audit._entry import format_time
from hub.audit._receipt import ReceiptClaims, data_digest
from hub.connector import Call, Connector, Operation
from hub.errors import (
    AuditUnavailable,
    FieldError,
    HubError,
    InvalidQuery,
    NotFound,
    TooManyAttempts,
    UnknownSource,
    UpstreamError,
)
from hub.records import Verdict, Verification, VerifiedIdentity

__all__ = [
    "AuditDraft",
    "ConnectedSource",
    "Pipeline",
    "new_request_id",
    "parse_purpose",
    "source_named",
]

T = TypeVar("T")
# The pipeline's lines are the hub's: operators filter on this logger.
log = get_logger("hub")


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class ConnectedSource:
    """A configured source as the hub opened it: its connector, client and resilience."""

    info: SourceInfo
    connector: Connector[Any, Any]
    resilience: Resilience
    http: httpx.AsyncClient
    record_types: dict[str, type[Record]]
    #: Query field -> the record paths that must carry its value (``record_identifiers``).
    identifiers: dict[str, tuple[str, ...]]


@dataclass(slots=True)
class AuditDraft:
    """What the pipeline has learned about one call so far: its audit entry to be.

    Filled in step by step (purpose, subject, attempts, cache, disclosed fields) and
    written with the call's audit `Outcome` once the call is answered or has failed.
    """

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


#: Computes a call's answer once it is authorized and its input parsed.
_Answer = Callable[[ConnectedSource, Query, Call, AuditDraft], Awaitable[T]]


class Pipeline:
    """Authorize, validate, cache, resilience, minimise and audit, for one call at a time.

    `Hub` builds one once it is started and hands every look-up, verification and
    authentication to it.

    Args:
        sources: The connected sources by name: the hub's own mapping, shared.
        policy: The clients' rules: sources, operations and fields.
        audit: The trail each call is written to before it answers.
        tickets: Issues the citizens' access-history tickets on authentication.
        cache: The look-up cache; None when it is disabled.
        verification_limit: The bound on refuted verifications; None when disabled.
        observers: Called with every call's audit entry: the hub's own list, so that
            callbacks added later are called too.
        audit_fail_open: Answer without an audit entry when the trail cannot take one
            (development only).
    """

    def __init__(
        self,
        *,
        sources: Mapping[str, ConnectedSource],
        policy: AccessPolicy,
        audit: AuditTrail,
        tickets: Tickets,
        cache: Cache | None,
        verification_limit: VerificationLimit | None,
        observers: Sequence[Callable[[AuditEntry], None]],
        audit_fail_open: bool,
    ) -> None:
        self._sources = sources
        self._policy = policy
        self._audit = audit
        self._tickets = tickets
        self._cache = cache
        self._verification_limit = verification_limit
        self._observers = observers
        self._audit_fail_open = audit_fail_open

    # The three operations

    async def lookup(
        self,
        *,
        source: str,
        query: Mapping[str, Any] | Query,
        purpose: Purpose | Mapping[str, Any],
        fields: Sequence[str] | None,
        request_id: str | None,
        receipt: bool,
    ) -> LookupResult:
        """As `Hub.lookup`."""

        async def answer(
            src: ConnectedSource, parsed: Query, call: Call, draft: AuditDraft
        ) -> LookupResult:
            record, cached = await self._cached_lookup(
                src=src, query=parsed, call=call, draft=draft
            )
            if src.connector.personal_data:
                observe_sensitive(record)
            keep = self._wanted_fields(src=src, client=call.purpose.client, fields=fields)
            if isinstance(record, Record):
                minimised, kept = _minimise(record, keep)
                disclosed: Record | tuple[Record, ...] = minimised
            else:
                disclosed = tuple(_minimise(item, keep)[0] for item in record)
                kept = tuple(
                    name
                    for name in src.connector.Record.model_fields
                    if keep is None or name in keep
                )
            draft.fields = kept
            audit_id = await self._record(draft=draft, outcome=Outcome.OK)
            found = LookupResult(src.info.name, disclosed, kept, audit_id, call.request_id, cached)
            if receipt:
                signed = self._receipt(draft=draft, audit_id=audit_id, data=found.data())
                return replace(found, receipt=signed)
            return found

        return await self._call(
            source_name=source,
            operation=Operation.LOOKUP,
            payload=query,
            purpose=purpose,
            request_id=request_id,
            fields=fields,
            answer=answer,
        )

    async def verify(
        self,
        *,
        source: str,
        claim: Mapping[str, Any] | Query,
        purpose: Purpose | Mapping[str, Any],
        request_id: str | None,
        receipt: bool,
    ) -> VerificationResult:
        """As `Hub.verify`."""

        async def answer(
            src: ConnectedSource, parsed: Query, call: Call, draft: AuditDraft
        ) -> VerificationResult:
            client = call.purpose.client
            self._policy.check_facts(client, src.info.name, _facts(src.connector, parsed))

            def attempt(c: Call) -> Coroutine[Any, Any, Verification]:
                return src.connector.verify(parsed, c)

            limit = self._verification_limit
            if limit is None or draft.subject is None:
                verification = await self._upstream(
                    src=src, call=call, draft=draft, attempt=attempt
                )
            else:
                async with limit.attempt(client, draft.subject, source=src.info.name) as held:
                    verification = await self._upstream(
                        src=src, call=call, draft=draft, attempt=attempt
                    )
                    held.refuted = verification.verdict is Verdict.REFUTED
            draft.fields = tuple(sorted(verification.matches))
            audit_id = await self._record(draft=draft, outcome=Outcome.OK)
            signed = (
                self._receipt(
                    draft=draft, audit_id=audit_id, data=verification.model_dump(mode="json")
                )
                if receipt
                else None
            )
            return VerificationResult(
                src.info.name, verification, audit_id, call.request_id, signed
            )

        return await self._call(
            source_name=source,
            operation=Operation.VERIFY,
            payload=claim,
            purpose=purpose,
            request_id=request_id,
            fields=None,
            answer=answer,
        )

    async def authenticate(
        self,
        *,
        source: str,
        credential: Mapping[str, Any] | Query,
        purpose: Purpose | Mapping[str, Any],
        fields: Sequence[str] | None,
        request_id: str | None,
        receipt: bool,
    ) -> AuthenticationResult:
        """As `Hub.authenticate`."""

        async def answer(
            src: ConnectedSource, parsed: Query, call: Call, draft: AuditDraft
        ) -> AuthenticationResult:
            identity = await self._upstream(
                src=src,
                call=call,
                draft=draft,
                attempt=lambda c: src.connector.authenticate(parsed, c),
            )
            minimised, kept = _minimise(
                identity, self._wanted_fields(src=src, client=call.purpose.client, fields=fields)
            )
            assert isinstance(minimised, VerifiedIdentity)
            draft.fields = kept
            draft.subject = self._audit.pseudonymise(identity.national_id)
            audit_id = await self._record(draft=draft, outcome=Outcome.OK)
            client = call.purpose.client
            ticket = (
                self._tickets.issue(client, draft.subject, int(identity.level))
                if self._policy.has_role(client, "citizen-portal")
                and identity.level >= self._tickets.level
                else None
            )
            known = AuthenticationResult(
                src.info.name, minimised, kept, audit_id, call.request_id, ticket
            )
            if receipt:
                signed = self._receipt(draft=draft, audit_id=audit_id, data=known.data())
                return replace(known, receipt=signed)
            return known

        return await self._call(
            source_name=source,
            operation=Operation.AUTHENTICATE,
            payload=credential,
            purpose=purpose,
            request_id=request_id,
            fields=fields,
            answer=answer,
        )

    # The steps

    async def _call(
        self,
        *,
        source_name: str,
        operation: Operation,
        payload: Mapping[str, Any] | Query,
        purpose: Purpose | Mapping[str, Any],
        request_id: str | None,
        fields: Sequence[str] | None,
        answer: _Answer[T],
    ) -> T:
        started = time.monotonic()
        draft = AuditDraft(
            started=started,
            request_id=request_id or new_request_id(),
            source=source_name,
            operation=operation,
        )
        known = self._sources.get(source_name)
        personal = known is None or known.connector.personal_data
        with redacting(_plain(payload) if personal else None):
            try:
                if not REQUEST_ID.fullmatch(draft.request_id):
                    draft.request_id = new_request_id()
                    raise InvalidQuery.for_field(
                        "request_id", "must be 1 to 128 letters, digits or . _ : -"
                    )
                draft.purpose = parse_purpose(purpose)
                src = source_named(self._sources, source_name)
                self._policy.check(draft.purpose.client, source_name, operation)
                parsed = _parse_payload(src, operation, payload)
                subject = parsed.subject()
                draft.subject = self._audit.pseudonymise(subject) if subject else None
                self._check_fields(src=src, fields=fields)
                call = Call(
                    source=source_name,
                    operation=operation,
                    request_id=draft.request_id,
                    purpose=draft.purpose,
                    deadline=started + src.connector.settings.deadline,
                )
                token = current_request_id.set(call.request_id)
                try:
                    return await answer(src, parsed, call, draft)
                finally:
                    current_request_id.reset(token)
            except HubError as exc:
                exc.request_id = draft.request_id
                if exc.audit_id is None and not isinstance(exc, AuditUnavailable):
                    exc.audit_id = await self._record(
                        draft=draft, outcome=_outcome_of(exc), error=exc
                    )
                raise

    def _receipt(self, *, draft: AuditDraft, audit_id: str | None, data: Any) -> str | None:
        """The signed receipt of a call whose answer carries ``data``.

        None without an audit entry (fail-open): a receipt vouches for an entry.
        """
        purpose = draft.purpose
        if audit_id is None or purpose is None:
            return None
        claims = ReceiptClaims(
            audit_id=audit_id,
            time=format_time(dt.datetime.now(dt.UTC)),
            client=purpose.client,
            officer=purpose.officer,
            procedure=purpose.procedure,
            dossier=purpose.dossier,
            source=draft.source,
            operation=draft.operation.value,
            fields=sorted(draft.fields),
            digest=data_digest(data),
        )
        return self._audit.receipts.sign(claims)

    async def _cached_lookup(
        self, *, src: ConnectedSource, query: Query, call: Call, draft: AuditDraft
    ) -> tuple[Record | Sequence[Record], bool]:
        """A look-up through the cache when it is enabled; a broken cache is a miss.

        Returns the result, and whether it is a hit on an entry this client filled.
        """

        def attempt(c: Call) -> Coroutine[Any, Any, Record | Sequence[Record]]:
            return _answer_for(src, query, c)

        cache = self._cache
        if cache is None:
            return await self._upstream(src=src, call=call, draft=draft, attempt=attempt), False
        key = cache.key_for(src.info.name, query)
        try:
            hit = await cache.get(key, src.record_types)
        except Exception as exc:  # Redis down: answer from the upstream instead
            log.warning("cache unavailable", source=src.info.name, error=type(exc).__name__)
            hit = None
        if hit is not None:
            draft.cache = "hit"
            return hit.value, hit.client == call.purpose.client
        draft.cache = "miss"
        record = await self._upstream(src=src, call=call, draft=draft, attempt=attempt)
        try:
            value = record if isinstance(record, Record) else list(record)
            await cache.put(key, value, client=call.purpose.client)
        except Exception as exc:
            log.warning("cache unavailable", source=src.info.name, error=type(exc).__name__)
        return record, False

    async def _upstream(
        self,
        *,
        src: ConnectedSource,
        call: Call,
        draft: AuditDraft,
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
            draft.attempts = attempts.count
            draft.upstream_ms = round(attempts.upstream_ms, 3) if attempts.count else None

    def _check_fields(self, *, src: ConnectedSource, fields: Sequence[str] | None) -> None:
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
        self, *, src: ConnectedSource, client: str, fields: Sequence[str] | None
    ) -> frozenset[str] | None:
        """Asked for and allowed: requested fields the client may not see are dropped."""
        allowed = self._policy.fields(client, src.info.name)
        if fields is None:
            return allowed
        wanted = frozenset(fields)
        return wanted if allowed is None else wanted & allowed

    async def _record(
        self, *, draft: AuditDraft, outcome: Outcome, error: HubError | None = None
    ) -> str | None:
        """Append the call's audit entry; return its id once it is durable."""
        purpose = draft.purpose
        entry = AuditEntry(
            time=dt.datetime.now(dt.UTC),
            node=self._audit.node,
            request_id=draft.request_id,
            client=purpose.client if purpose else "",
            officer=purpose.officer if purpose else "",
            procedure=purpose.procedure if purpose else "",
            dossier=purpose.dossier if purpose else "",
            # A name that is not a source's cannot be written as one.
            source=draft.source if SOURCE_NAME.fullmatch(draft.source) else "unknown",
            operation=draft.operation.value,
            subject=draft.subject,
            fields=sorted(draft.fields) if outcome is Outcome.OK else [],
            outcome=outcome,
            error=error.kind if error is not None else None,
            attempts=draft.attempts,
            upstream_ms=draft.upstream_ms,
            total_ms=round((time.monotonic() - draft.started) * 1000, 3),
            cache=draft.cache,
        )
        try:
            audit_id = await self._audit.append(entry)
        except AuditUnavailable as exc:
            if not self._audit_fail_open:
                exc.request_id = draft.request_id
                raise
            log.error(
                "AUDIT FAIL-OPEN: answering without an audit entry (development only)",
                request_id=draft.request_id,
                source=draft.source,
            )
            audit_id = None
        for observe in self._observers:
            observe(entry)
        return audit_id


def source_named(sources: Mapping[str, ConnectedSource], name: str) -> ConnectedSource:
    """The configured source of that name, or `UnknownSource` naming those there are."""
    try:
        return sources[name]
    except KeyError:
        configured = ", ".join(sources) or "none"
        shown = repr(name) if SOURCE_NAME.fullmatch(name) else "of that form"
        raise UnknownSource(
            f"source: no configured source {shown}; configured: {configured}",
            errors=[FieldError(("source",), f"not one of: {configured}")],
        ) from None


def parse_purpose(purpose: Purpose | Mapping[str, Any]) -> Purpose:
    if isinstance(purpose, Purpose):
        return purpose
    if not isinstance(purpose, Mapping):
        raise InvalidQuery.for_field("purpose", "must give client, officer, procedure and dossier")
    try:
        return Purpose.model_validate(purpose)
    except ValidationError as exc:
        raise InvalidQuery.from_validation(exc, "purpose") from None


def _plain(payload: Mapping[str, Any] | Query) -> Any:
    if isinstance(payload, BaseModel):
        return payload.model_dump(mode="json")
    return payload


def _parse_payload(
    src: ConnectedSource, operation: Operation, payload: Mapping[str, Any] | Query
) -> Query:
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
    """The audit outcome of a call that failed with ``error``."""
    if isinstance(error, InvalidQuery):
        return Outcome.INVALID
    if isinstance(error, NotFound):
        return Outcome.NOT_FOUND
    if error.status in (401, 403) or isinstance(error, TooManyAttempts):
        return Outcome.DENIED
    return Outcome.FAILED


def _minimise(record: Record, keep: frozenset[str] | None) -> tuple[Record, tuple[str, ...]]:
    """The record with only ``keep`` fields set, and the names of those fields."""
    names = type(record).model_fields
    if keep is None or keep >= names.keys():
        return record, tuple(names)
    values = {name: getattr(record, name) if name in keep else None for name in names}
    kept = tuple(name for name in names if name in keep)
    return type(record).model_construct(_fields_set=set(kept), **values), kept


async def _answer_for(src: ConnectedSource, query: Query, call: Call) -> Record | Sequence[Record]:
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


def _facts(connector: Connector[Any, Any], claim: Query) -> dict[str, str]:
    """The facts a claim asks to check (its fields besides its subject), each with the
    record field it is checked against."""
    subject = claim.subject()
    return {
        name: connector.verified_fields.get(name, name)
        for name, value in claim
        if value is not None and value != subject
    }
