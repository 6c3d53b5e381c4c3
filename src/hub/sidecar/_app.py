"""The sidecar: the hub as an HTTP + JSON service for every portal of a province.

Upstream credentials, retries, rules and the audit trail live here; a portal only
speaks plain HTTP. Clients authenticate with API keys (stored hashed) or client
certificates; per-client rules (default deny) say which sources, operations and
fields; the client in a purpose always comes from the authentication.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, cast

import orjson
import structlog
from fastapi import FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub._config import READINESS_TIMEOUT, HubSettings
from hub._history import AccessHistory
from hub._hub import Hub, LookupResult
from hub._logging import get_logger
from hub._patterns import AUDIT_ID_PATTERN, REQUEST_ID, SOURCE_NAME_PATTERN
from hub._purpose import Purpose
from hub.audit import InclusionProof
from hub.audit._receipt import ProofBundle, jwks
from hub.connector import Health, HealthStatus, Operation
from hub.errors import AuditUnavailable, Forbidden, HubError, InvalidQuery, NotFound
from hub.sidecar._auth import Authenticator, Refused
from hub.sidecar._declarations import Alive, Readiness, declare
from hub.sidecar._metrics import Metrics
from hub.sidecar._problems import MEDIA_TYPE, Problem, from_error, problem, problem_body
from hub.sidecar._ratelimit import MemoryRateLimiter, RateLimiter

__all__ = ["create_app"]

log = get_logger("hub.sidecar")
_Body = TypeVar("_Body", bound=BaseModel)
_Route = TypeVar("_Route", bound=Callable[..., Coroutine[Any, Any, Response]])

_JSON = "application/json"

_PURPOSE_TEXT: dict[str, Any] = {
    "min_length": 1,
    "max_length": 128,
    "pattern": r"^[^\x00-\x1f\x7f]+$",
}


class PurposeIn(BaseModel):
    """Why the look-up is made. The client is the authenticated one; if given, it must match."""

    model_config = ConfigDict(extra="forbid")

    officer: str = Field(examples=["cb.0042"], **_PURPOSE_TEXT)
    procedure: str = Field(examples=["1.001757"], **_PURPOSE_TEXT)
    dossier: str = Field(examples=["H37.22-240315-0001"], **_PURPOSE_TEXT)
    client: str | None = Field(default=None, description="Optional; must be the caller itself")


class OperationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: dict[str, Any] = Field(examples=[{"national_id": "037090001234"}])
    purpose: PurposeIn
    fields: list[str] | None = Field(default=None, description="Record fields wanted")
    receipt: bool = Field(
        default=False,
        description="Sign a receipt of the answer (a compact JWS the portal keeps in its dossier)",
    )


class ProfileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    national_id: str = Field(examples=["037090001234"])
    purpose: PurposeIn


class LookupAnswer(BaseModel):
    source: str
    record: dict[str, Any] | list[dict[str, Any]]
    audit_id: str | None
    cached: bool
    receipt: str | None = Field(
        default=None, description="The signed receipt (compact JWS), when one was asked for"
    )


class VerifyAnswer(BaseModel):
    source: str
    verification: dict[str, Any]
    audit_id: str | None
    cached: bool
    receipt: str | None = Field(
        default=None, description="The signed receipt (compact JWS), when one was asked for"
    )


class AuthenticateAnswer(BaseModel):
    source: str
    identity: dict[str, Any]
    audit_id: str | None
    cached: bool
    ticket: str | None = Field(
        default=None,
        description="For a citizen-portal client and a login at the required level: the "
        "citizen's access-history ticket, for GET /v1/me/accesses (X-Access-Ticket).",
    )
    receipt: str | None = Field(
        default=None, description="The signed receipt (compact JWS), when one was asked for"
    )


class JsonWebKeySet(BaseModel):
    keys: list[dict[str, Any]] = Field(description="Ed25519 keys (OKP), each with its kid")


class SourceHealth(BaseModel):
    status: Literal["up", "down"]
    detail: str | None = None
    latency_ms: float | None = None


class SourceOut(BaseModel):
    name: str
    title: str
    operations: list[str]
    health: SourceHealth


class SourcesAnswer(BaseModel):
    sources: list[SourceOut]


class AuthorizationAnswer(BaseModel):
    url: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    level: int


class ProfileAnswer(BaseModel):
    national_id: str
    parts: dict[str, LookupAnswer]
    errors: dict[str, Problem]


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, description in {
        401: "No or unknown credentials",
        403: "Not allowed for this client",
        404: "No such record (or source)",
        409: "The purpose names another client",
        413: "Body too large",
        415: "Body is not JSON",
        422: "Invalid input; `errors` names each field",
        429: "Rate limited; see Retry-After",
        502: "Bad answer from upstream",
        503: "Upstream or audit trail unavailable",
        504: "Deadline exceeded",
    }.items()
}


def _json(payload: Any, *, status: int = 200, audit_id: str | None = None) -> Response:
    headers = {"X-Audit-Id": audit_id} if audit_id else None
    return Response(orjson.dumps(payload), status_code=status, media_type=_JSON, headers=headers)


class _Edge:
    """ASGI middleware: request ids, authentication, body size, metrics; errors nobody
    else caught.

    Plain ASGI rather than a framework middleware: it runs on every request, and the
    hot path must stay lean. Clients of ``/v1/`` are authenticated here, before a byte
    of their body is read: a stranger gets 401 whatever it sends, and holds nothing.
    """

    def __init__(
        self, app: ASGIApp, *, max_body: int, metrics: Metrics, authenticator: Authenticator
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
                self.metrics.requests.labels(str(message["status"])).inc()
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            if scope["path"].startswith("/v1/"):
                try:
                    scope["state"]["client"] = self._client(scope)
                except Refused as refused:
                    await self._refuse(refused, request_id, scope, receive, send_with_id)
                    return
            body = await self._body(scope, receive, send_with_id, request_id)
            if body is None:
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send_with_id)
        except Exception:
            log.exception("unhandled error in the sidecar")
            if not started:
                response = problem(
                    500, "internal", "Internal error", "the request failed", request_id=request_id
                )
                await response(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")

    def _client(self, scope: Scope) -> str:
        tls = scope.get("extensions", {}).get("tls", {})
        chain = tls.get("client_cert_chain") or [None]
        return self.authenticator.client(_header(scope, b"authorization"), chain[0])

    async def _refuse(
        self, refused: Refused, request_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        # Counted and logged for whoever watches for guessing; never the credential.
        self.metrics.auth_failures.labels(refused.reason).inc()
        peer = scope.get("client")
        log.warning(
            "authentication refused",
            reason=refused.reason,
            path=scope["path"],
            peer=peer[0] if peer else None,
        )
        response = from_error(refused, request_id)
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)

    async def _body(
        self, scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> bytes | None:
        """The whole body, within the limit; None once the request is answered (413) or gone.

        Read here, so that an over-long chunked body is refused before any handler
        sees a byte of it.
        """
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body:
            await self._too_large(request_id, scope, receive, send)
            return None
        body = bytearray()
        more = scope["method"] not in ("GET", "HEAD")
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away (or sent its body too slowly)
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await self._too_large(request_id, scope, receive, send)
                return None
            more = message.get("more_body", False)
        return bytes(body)

    async def _too_large(self, request_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413,
            "body_too_large",
            "Body too large",
            f"request bodies are limited to {self.max_body} bytes",
            request_id=request_id,
        )
        await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def create_app(
    settings: HubSettings, *, hub: Hub | None = None, demo_client: str | None = None
) -> ASGIApp:
    """The sidecar's ASGI app.

    Args:
        settings: The hub's configuration; its ``clients`` are the sidecar's clients.
        hub: A hub to serve (started and closed by the app's lifespan); by default one
            built from ``settings``.
        demo_client: Serve the access-history page under ``/demo/`` as this client
            (one with the ``citizen-portal`` role), for `hub serve --mocks`.
    """
    sidecar = _Sidecar(settings, hub or Hub(settings))
    app = sidecar.app
    if demo_client is not None:
        from hub.sidecar._demo import demo_app

        app.mount("/demo", demo_app(sidecar.hub, client=demo_client))
    return _Edge(
        app,
        max_body=settings.sidecar.max_body_bytes,
        metrics=sidecar.metrics,
        authenticator=Authenticator(settings.clients),
    )


def _answering_problems(route: _Route) -> _Route:
    """A route of a client's that answers its refusals and typed errors as problem details.

    ``functools.wraps`` gives the answering function the route's signature, from
    which FastAPI takes the route's parameters and documentation.
    """

    @functools.wraps(route)
    async def answered(self: _Sidecar, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return await route(self, request, *args, **kwargs)
        except _Refusal as refusal:
            return refusal.response(_request_id(request))
        except HubError as error:
            return from_error(error, _request_id(request))

    return cast(_Route, answered)


class _Sidecar:
    """The sidecar's FastAPI app over one hub: a method per route.

    A client's route reads its body first (if any), then takes the client from the
    edge's authentication and applies its rate limit, then calls the hub.

    Args:
        settings: The hub's configuration; its ``clients`` are the sidecar's clients.
        hub: The hub to serve, started and closed by the app's lifespan.
    """

    def __init__(self, settings: HubSettings, hub: Hub) -> None:
        self.settings = settings
        self.hub = hub
        self.metrics = Metrics(settings.sources)
        hub.observe(self.metrics.observe)
        self._limiter: RateLimiter = MemoryRateLimiter()
        self._readiness = _Readiness(hub, max_age=settings.sidecar.readiness_cache_seconds)
        self.app = FastAPI(
            title="Liên thông sidecar",
            version="1",
            description=__doc__,
            lifespan=self.lifespan,
            docs_url=None,
            redoc_url=None,
        )
        self._add_routes()

    def _add_routes(self) -> None:
        app = self.app
        for operation, route, answer in (
            (Operation.LOOKUP, self.lookup, LookupAnswer),
            (Operation.VERIFY, self.verify, VerifyAnswer),
            (Operation.AUTHENTICATE, self.authenticate, AuthenticateAnswer),
        ):
            app.add_api_route(
                f"/v1/sources/{{source}}/{operation.value}",
                route,
                methods=["POST"],
                name=operation.value,
                response_model=answer,
                responses=_PROBLEMS,
                openapi_extra=_body_schema(OperationRequest),
            )
        app.add_api_route(
            "/v1/sources/{source}/authorization",
            self.authorization,
            methods=["GET"],
            response_model=AuthorizationAnswer,
            responses=_PROBLEMS,
        )
        app.add_api_route(
            "/v1/sources",
            self.sources,
            methods=["GET"],
            response_model=SourcesAnswer,
            responses=_PROBLEMS,
        )
        app.add_api_route(
            "/v1/profile",
            self.profile,
            methods=["POST"],
            response_model=ProfileAnswer,
            responses=_PROBLEMS,
            openapi_extra=_body_schema(ProfileRequest),
        )
        app.add_api_route(
            "/v1/audit/{audit_id}/proof",
            self.audit_proof,
            methods=["GET"],
            response_model=InclusionProof,
            responses=_PROBLEMS,
        )
        app.add_api_route(
            "/v1/me/accesses",
            self.accesses,
            methods=["GET"],
            response_model=AccessHistory,
            responses=_PROBLEMS,
        )
        app.add_api_route(
            "/v1/audit/{audit_id}/bundle",
            self.audit_bundle,
            methods=["GET"],
            response_model=ProofBundle,
            responses=_PROBLEMS,
        )
        app.add_api_route(
            "/.well-known/jwks.json",
            self.jwks_endpoint,
            methods=["GET"],
            response_model=JsonWebKeySet,
        )
        app.add_api_route("/healthz", self.healthz, methods=["GET"], response_model=Alive)
        app.add_api_route(
            "/readyz",
            self.readyz,
            methods=["GET"],
            response_model=Readiness,
            responses={
                503: {
                    "description": "Not ready: the audit trail cannot take entries",
                    "model": Readiness,
                }
            },
        )
        app.add_api_route(
            "/metrics",
            self.metrics_endpoint,
            methods=["GET"],
            response_class=PlainTextResponse,
        )
        # Through the decorator: add_exception_handler is typed for handlers of any Exception.
        app.exception_handler(RequestValidationError)(_invalid)
        app.exception_handler(Exception)(_unexpected)
        app.exception_handler(StarletteHTTPException)(_http_error)
        app.openapi = self.openapi  # type: ignore[method-assign]

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        await self.hub.start()
        if self.hub.redis is not None:
            from hub._redis import RedisRateLimiter

            self._limiter = RedisRateLimiter(self.hub.redis)
        log.info("sidecar started", sources=[info.name for info in self.hub.sources()])
        try:
            yield
        finally:
            # In-flight requests have finished (uvicorn waits for them); flush the trail.
            await self._readiness.aclose()
            await self.hub.aclose()
            log.info("sidecar stopped; audit trail flushed")

    async def _caller(self, request: Request) -> str:
        """The client (authenticated by the edge), rate limited."""
        client: str = request.scope["state"]["client"]
        rules = self.settings.clients[client]
        if rules.rate is not None:
            wait = await self._limiter.take(
                client, rules.rate, rules.burst or max(1, math.ceil(rules.rate))
            )
            if wait > 0:
                raise _RateLimited(wait)
        return client

    # A client's routes

    @_answering_problems
    async def lookup(
        self, request: Request, source: str = Path(pattern=SOURCE_NAME_PATTERN)
    ) -> Response:
        """Look a record up; the answer holds only the fields this client may see."""
        body = await _body_of(request, OperationRequest)
        client = await self._caller(request)
        found = await self.hub.lookup(
            source,
            body.query,
            purpose=_purpose_of(body.purpose, client),
            fields=body.fields,
            request_id=_request_id(request),
            receipt=body.receipt,
        )
        payload = _lookup_answer(found)
        if body.receipt:
            payload["receipt"] = found.receipt
        return _json(payload, audit_id=found.audit_id)

    @_answering_problems
    async def verify(
        self, request: Request, source: str = Path(pattern=SOURCE_NAME_PATTERN)
    ) -> Response:
        """Check facts against a register: per field match / mismatch / unknown."""
        body = await _body_of(request, OperationRequest)
        client = await self._caller(request)
        checked = await self.hub.verify(
            source,
            body.query,
            purpose=_purpose_of(body.purpose, client),
            request_id=_request_id(request),
            receipt=body.receipt,
        )
        payload = {
            "source": checked.source,
            "verification": checked.verification.model_dump(mode="json"),
            "audit_id": checked.audit_id,
            "cached": False,
        }
        if body.receipt:
            payload["receipt"] = checked.receipt
        return _json(payload, audit_id=checked.audit_id)

    @_answering_problems
    async def authenticate(
        self, request: Request, source: str = Path(pattern=SOURCE_NAME_PATTERN)
    ) -> Response:
        """Exchange a credential (a VNeID authorization code) for a verified identity."""
        body = await _body_of(request, OperationRequest)
        client = await self._caller(request)
        known = await self.hub.authenticate(
            source,
            body.query,
            purpose=_purpose_of(body.purpose, client),
            fields=body.fields,
            request_id=_request_id(request),
            receipt=body.receipt,
        )
        payload = {
            "source": known.source,
            "identity": known.data(),
            "audit_id": known.audit_id,
            "cached": False,
            "ticket": known.ticket,
        }
        if body.receipt:
            payload["receipt"] = known.receipt
        return _json(payload, audit_id=known.audit_id)

    @_answering_problems
    async def authorization(
        self,
        request: Request,
        source: str = Path(pattern=SOURCE_NAME_PATTERN),
        redirect_uri: str = Query(max_length=2048, pattern=r"^https?://[\x21-\x7e]+$"),
        level: int = Query(ge=1, le=2),
    ) -> Response:
        """Where to send the citizen to authenticate; the state, nonce and PKCE verifier to keep."""
        client = await self._caller(request)
        rule = self.settings.clients[client].sources.get(source)
        if rule is not None and redirect_uri not in rule.redirect_uris:
            # Otherwise the citizen's authorization code could be sent anywhere.
            log.warning("unregistered redirect_uri refused", source=source)
            return problem(
                403,
                Forbidden.kind,
                Forbidden.title,
                "redirect_uri: not a redirect URI registered for this client",
                request_id=_request_id(request),
                errors=[
                    {
                        "field": "redirect_uri",
                        "message": "not a redirect URI registered for this client",
                    }
                ],
            )
        made = await self.hub.authorization_request(
            source, redirect_uri=redirect_uri, level=level, client=client
        )
        return _json(made.model_dump(mode="json"))

    @_answering_problems
    async def sources(self, request: Request) -> Response:
        """The sources this client may use, their operations and their health."""
        client = await self._caller(request)
        health = (await self._readiness.check()).health
        listed = []
        for info in self.hub.sources(client):
            allowed = sorted(
                op.value for op in info.operations if self.hub.policy.allows(client, info.name, op)
            )
            listed.append(
                {
                    "name": info.name,
                    "title": info.title,
                    "operations": allowed,
                    "health": health[info.name].model_dump(mode="json"),
                }
            )
        return _json({"sources": listed})

    @_answering_problems
    async def profile(self, request: Request) -> Response:
        """One citizen across every source that knows her, each part audited on its own."""
        body = await _body_of(request, ProfileRequest)
        client = await self._caller(request)
        found = await self.hub.profile(
            body.national_id,
            purpose=_purpose_of(body.purpose, client),
            request_id=_request_id(request),
        )
        return _json(
            {
                "national_id": found.national_id,
                "parts": {name: _lookup_answer(part) for name, part in found.parts.items()},
                "errors": {name: problem_body(error) for name, error in found.errors.items()},
            }
        )

    @_answering_problems
    async def audit_proof(
        self,
        request: Request,
        audit_id: str = Path(pattern=AUDIT_ID_PATTERN),
    ) -> Response:
        """The inclusion proof of an audit entry against the newest checkpoint (inspectors)."""
        client = await self._caller(request)
        if not self.hub.policy.has_role(client, "inspector"):
            raise Forbidden("audit proofs are for clients with the inspector role")
        proof = await self.hub.audit.proof(audit_id)
        return _json(proof.model_dump(mode="json"))

    @_answering_problems
    async def accesses(
        self,
        request: Request,
        ticket: str | None = Header(
            default=None,
            alias="X-Access-Ticket",
            max_length=4096,
            description="The ticket the citizen's VNeID login gave this client.",
        ),
        since: Annotated[dt.datetime | None, Query(description="From (inclusive).")] = None,
        until: Annotated[dt.datetime | None, Query(description="To (exclusive).")] = None,
        page: int = Query(default=1, ge=1, le=1_000_000),
        page_size: int = Query(default=50, ge=1, le=200),
        proofs: bool = Query(default=False, description="Add each item's inclusion proof."),
    ) -> Response:
        """A citizen's access history, newest first: who looked her up, when, why."""
        client = await self._caller(request)
        history = await self.hub.access_history(
            ticket or "",
            client=client,
            since=since,
            until=until,
            page=page,
            page_size=page_size,
            proofs=proofs,
            request_id=_request_id(request),
        )
        return _json(history.model_dump(mode="json"), audit_id=history.audit_id)

    @_answering_problems
    async def audit_bundle(
        self,
        request: Request,
        audit_id: str = Path(pattern=AUDIT_ID_PATTERN),
    ) -> Response:
        """The proof bundle of an audit entry: the entry, its inclusion proof and the
        newest witnessed checkpoint with its cosignatures, for `hub receipt verify`.

        A client gets the bundles of its own calls (those its receipts name); an
        inspector gets any. Another client's entry answers 404, as a missing one does,
        so that nobody learns which calls others made.
        """
        client = await self._caller(request)
        bundle = await self.hub.audit.bundle(audit_id)
        if not self.hub.policy.has_role(client, "inspector") and (
            bundle.recorded().get("client") != client
        ):
            raise NotFound(f"no signed entry {audit_id} in the audit trail")
        return _json(bundle.model_dump(mode="json"))

    # Anyone's routes

    async def jwks_endpoint(self) -> Response:
        """The keys that verify receipts (JWKS): each writer's signing key, by its kid."""
        return _json(jwks(self.hub.audit.public_keys()))

    async def healthz(self) -> Response:
        """Alive: the process answers."""
        return _json({"status": "alive"})

    async def readyz(self) -> Response:
        """Ready: the audit trail takes entries (without it nothing is served); each
        upstream's health is reported too. Results are reused for a few seconds."""
        checked = await self._readiness.check()
        return _json(checked.payload, status=200 if checked.ready else 503)

    async def metrics_endpoint(self) -> Response:
        """Prometheus metrics: calls per source and outcome, latency, attempts, breakers."""
        for name, state in (await self.hub.breaker_states()).items():
            self.metrics.set_breaker(name, state)
        for item in self.hub.audit.witness_lag():
            self.metrics.set_witness(item.witness, item.cosigned_size, item.lag)
        return Response(
            self.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    def openapi(self) -> dict[str, Any]:
        app = self.app
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for model in (OperationRequest, ProfileRequest, Problem):
                schema = model.model_json_schema(ref_template=_REF)
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            declare(document)
            app.openapi_schema = document
        return app.openapi_schema


def _request_id(request: Request) -> str:
    return str(request.scope["state"]["request_id"])


async def _body_of(request: Request, model: type[_Body]) -> _Body:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != _JSON:
        raise _Unsupported
    raw = await request.body()
    try:
        return model.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise _BadBody(
            [{"field": "body", "message": "not valid JSON (or nested too deeply)"}]
        ) from None
    except ValidationError as exc:
        # Paths as in the body: purpose.officer, query, fields.0 ...
        invalid = InvalidQuery.from_validation(exc, "")
        raise _BadBody([error.as_dict() for error in invalid.errors]) from None


def _purpose_of(given: PurposeIn, client: str) -> Purpose | dict[str, str]:
    if given.client is not None and given.client != client:
        raise _Conflict
    # Validated by the hub, which names the field at fault.
    return {
        "client": client,
        "officer": given.officer,
        "procedure": given.procedure,
        "dossier": given.dossier,
    }


async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
    ]
    return problem(
        422,
        "invalid_query",
        "Invalid query",
        "; ".join(f"{e['field']}: {e['message']}" for e in errors),
        request_id=_request_id(request),
        errors=errors,
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    # FastAPI's own error middleware answers before _Edge could: the same problem
    # details, and nothing of the error, reach the client.
    log.exception("unhandled error in the sidecar")
    return problem(
        500, "internal", "Internal error", "the request failed", request_id=_request_id(request)
    )


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    detail = "no such endpoint" if exc.status_code == 404 else "this method is not allowed here"
    return problem(
        exc.status_code,
        kind,
        str(exc.detail),
        detail,
        request_id=_request_id(request),
        headers=dict(exc.headers or {}),
    )


_REF = "#/components/schemas/{model}"


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Document a JSON body that the handler parses itself (with orjson, on the hot path);
    the model's schema is added to the components by the app's ``openapi``."""
    reference = {"$ref": _REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {_JSON: {"schema": reference}}}}


def _lookup_answer(found: LookupResult) -> dict[str, Any]:
    return {
        "source": found.source,
        "record": found.data(),
        "audit_id": found.audit_id,
        "cached": found.cached,
    }


@dataclass(frozen=True)
class _Checked:
    ready: bool
    payload: dict[str, Any]
    health: dict[str, Health]


class _Readiness:
    """The audit store and every upstream, checked by one caller at a time for all.

    Probes are anonymous: however many arrive, one check runs at a time, and its
    result is shared with every caller for ``max_age`` seconds after it ends, so that a
    storm of probes never becomes a storm on the national systems.
    """

    def __init__(self, hub: Hub, *, max_age: float) -> None:
        self._hub = hub
        self._max_age = max_age
        self._checked: tuple[float, _Checked] | None = None
        self._running: asyncio.Task[_Checked] | None = None

    async def check(self) -> _Checked:
        if self._checked is not None and time.monotonic() - self._checked[0] < self._max_age:
            return self._checked[1]
        if self._running is None:
            self._running = asyncio.create_task(self._run())
        # Shielded: a caller that goes away does not cancel the others' check.
        return await asyncio.shield(self._running)

    async def aclose(self) -> None:
        """Stop a check that nobody waits for any more (at shutdown)."""
        if self._running is not None:
            self._running.cancel()
            with suppress(asyncio.CancelledError):
                await self._running

    async def _run(self) -> _Checked:
        try:
            checked = await self._check()
            self._checked = (time.monotonic(), checked)
            return checked
        finally:
            self._running = None

    async def _check(self) -> _Checked:
        try:
            async with asyncio.timeout(READINESS_TIMEOUT):
                await self._hub.audit.check()
            audit: dict[str, Any] = {"status": "up"}
        except (AuditUnavailable, TimeoutError) as exc:
            audit = {"status": "down", "detail": type(exc).__name__}
        witnesses = self._hub.audit.witness_lag()
        if witnesses:
            # Witnesses are reported, never a reason to refuse traffic: a look-up does not
            # wait on them, and their alarms are logged.
            audit["witnessed_size"] = self._hub.audit.witnessed_size()
            audit["witnesses"] = {
                item.witness: {
                    "cosigned_size": item.cosigned_size,
                    "signed_size": item.signed_size,
                    "lag_seconds": round(item.lag, 3),
                }
                for item in witnesses
            }
        health = await self._hub.health()
        ready = audit["status"] == "up"
        payload = {
            "status": "ready" if ready else "not ready",
            "audit": audit,
            "sources": {name: item.model_dump(mode="json") for name, item in health.items()},
            "degraded": sorted(
                name for name, item in health.items() if item.status is HealthStatus.DOWN
            ),
        }
        return _Checked(ready, payload, health)


class _Refusal(Exception):
    """A request the sidecar answers with a problem of its own, before or instead of the hub."""

    def response(self, request_id: str) -> Response:
        raise NotImplementedError


class _RateLimited(_Refusal):
    def __init__(self, wait: float) -> None:
        self.wait = wait

    def response(self, request_id: str) -> Response:
        return problem(
            429,
            "rate_limited",
            "Too many requests",
            "this client's rate limit is reached",
            request_id=request_id,
            headers={"Retry-After": str(max(1, math.ceil(self.wait)))},
        )


class _Unsupported(_Refusal):
    def response(self, request_id: str) -> Response:
        return problem(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            "send the body as application/json",
            request_id=request_id,
        )


class _BadBody(_Refusal):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors

    def response(self, request_id: str) -> Response:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in self.errors)
        return problem(
            422, "invalid_query", "Invalid query", detail, request_id=request_id, errors=self.errors
        )


class _Conflict(_Refusal):
    def response(self, request_id: str) -> Response:
        return problem(
            409,
            "client_conflict",
            "Conflict",
            "purpose.client names another client than the one authenticated",
            request_id=request_id,
        )
