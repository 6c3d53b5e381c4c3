"""The driving-licence mock: the licence system's signed REST API on the synthetic world."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.mocks._common import MockProfile, mock_app
from hub.mocks._world import World
from hub.mocks.driving_licence import _answers
from hub.mocks.driving_licence._faults import SKEW_KEY, ClockSkewFault
from hub.mocks.driving_licence._signing import HEADERS, ApiKey, Authenticator, Refused

#: The demo key of ``hub_settings``: synthetic credentials for a synthetic system.
DEMO_API_KEY = "demo-portal"
DEMO_API_SECRET = "demo-secret-of-the-driving-licence-mock"  # noqa: S105 - a demo credential
MAX_BODY_BYTES = 16 * 1024
CONTENT_TYPE = "application/json"

PROFILE = MockProfile(
    name="driving_licence",
    content_type=CONTENT_TYPE,
    malformed_body=b'{"licence_number": "01230\xff\xfe, "holder": {"national_id": ',
    oversized_prefix=b'{"licences": [',
    sample_kind="licence",
    fault_kinds=(ClockSkewFault,),
)

Endpoint = Callable[[Request, bytes], Awaitable[Response]]


def _error(status: int, code: str, message: str, **extra: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'GPLX-HMAC-SHA256 realm="gplx"'} if status == 401 else None
    return JSONResponse({"error": code, "message": message, **extra}, status, headers)


def _target(request: Request) -> str:
    """The request target as the client sent it, which is what the signature covers."""
    path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    query: bytes = request.scope.get("query_string", b"")
    return (path + b"?" + query if query else path).decode("latin-1")


class _Api:
    """The protocol's routes, each behind the signature check."""

    def __init__(self, world: World, auth: Authenticator) -> None:
        self.world = world
        self.auth = auth

    def signed(self, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            try:
                body = await self._body(request)
            except _answers.BadRequest as exc:
                return _error(413, "too_large", exc.message, field=exc.field)
            except ClientDisconnect:
                # The client gave up (a latency fault outlasted its timeout): nobody to answer.
                return Response(status_code=499)
            headers = {name: request.headers.get(name) for name in HEADERS}
            try:
                self.auth.check(
                    request.method,
                    _target(request),
                    headers,
                    body,
                    skew=request.scope.get(SKEW_KEY, 0),
                )
            except Refused as refused:
                return _error(401, refused.code, refused.message)
            try:
                return await endpoint(request, body)
            except _answers.BadRequest as exc:
                return _error(400, "invalid_request", exc.message, field=exc.field)

        return handle

    @staticmethod
    async def _body(request: Request) -> bytes:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise _answers.BadRequest("body", f"the body exceeds {MAX_BODY_BYTES} bytes")
        return bytes(body)

    async def licence(self, request: Request, body: bytes) -> Response:
        number = _answers.check_number(request.path_params["number"], "number")
        licence = self.world.licence(number)
        if licence is None:
            return _error(404, "not_found", "No licence has this number")
        return JSONResponse(_answers.licence_json(licence))

    async def licences_of(self, request: Request, body: bytes) -> Response:
        if set(request.query_params) != {"holder"}:
            raise _answers.BadRequest("holder", "give exactly one query parameter, holder")
        holder = _answers.check_number(request.query_params["holder"], "holder")
        licences = self.world.licences_of(holder)
        return JSONResponse({"licences": [_answers.licence_json(item) for item in licences]})

    async def verify(self, request: Request, body: bytes) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != CONTENT_TYPE:
            raise _answers.BadRequest("body", f"the body must be {CONTENT_TYPE}")
        try:
            data = json.loads(body)
        except ValueError:
            raise _answers.BadRequest("body", "the body is not JSON") from None
        number, name, born = _answers.parse_claim(data)
        licence = self.world.licence(number)
        if licence is None:
            return _error(404, "not_found", "No licence has this number")
        return JSONResponse(_answers.verify(self.world, licence, name, born))

    async def health(self, request: Request, body: bytes) -> Response:
        return JSONResponse({"status": "ok"})


def _keys_admin(auth: Authenticator) -> Callable[[Request], Awaitable[Response]]:
    """``PUT /_admin/keys/{api_key}`` with ``{"expires_at": seconds or null}``."""

    async def keys(request: Request) -> Response:
        api_key = request.path_params["api_key"]
        key = auth.keys.get(api_key)
        if key is None:
            error = {"field": "api_key", "message": "no such key"}
            return JSONResponse({"detail": "unknown key", "errors": [error]}, 404)
        try:
            data: Any = json.loads(await request.body())
        except ValueError:
            data = None
        expires = data.get("expires_at", -1) if isinstance(data, dict) else -1
        # bool is an int to Python, not to JSON.
        if expires is not None and (
            isinstance(expires, bool) or not isinstance(expires, int) or expires < 0
        ):
            error = {"field": "expires_at", "message": "Unix seconds, or null for never"}
            return JSONResponse({"detail": "invalid key change", "errors": [error]}, 422)
        key.expires_at = expires
        return JSONResponse({"api_key": api_key, "expires_at": key.expires_at})

    return keys


def hub_settings(base_url: str) -> dict[str, Any]:
    """The ``[sources.driving_licence]`` table pointing a hub at this mock at ``base_url``."""
    return {"url": base_url, "api_key": DEMO_API_KEY, "api_secret": DEMO_API_SECRET}


def create_app(
    *, seed: int = 1, citizens: int = 10_000, faults: list[dict[str, Any]] | None = None
) -> Starlette:
    """The driving-licence mock as an ASGI app.

    ``GET /v1/licences/{number}``, ``GET /v1/licences?holder={national_id}``,
    ``POST /v1/licences/verify`` and ``GET /v1/health``, every request signed as
    ``src/hub/schemas/driving_licence/openapi.json`` describes, with the demo key of
    `hub_settings`. Besides the shared admin surface, ``PUT /_admin/keys/{api_key}``
    with ``{"expires_at": <Unix seconds or null>}`` expires a key (or renews it); besides
    the shared faults, ``clock_skew`` (``{"kind": "clock_skew", "seconds": 600}``) puts
    the system's clock off while it checks signatures.

    Args:
        seed: The world's seed (the same as the population mock's for the same citizens).
        citizens: How many citizens the world holds.
        faults: A fault plan in force from the start.
    """
    world = World(seed, citizens)
    auth = Authenticator({DEMO_API_KEY: ApiKey(DEMO_API_SECRET.encode())})
    api = _Api(world, auth)
    routes = [
        Route("/v1/licences/verify", api.signed(api.verify), methods=["POST"]),
        Route("/v1/licences/{number}", api.signed(api.licence), methods=["GET"]),
        Route("/v1/licences", api.signed(api.licences_of), methods=["GET"]),
        Route("/v1/health", api.signed(api.health), methods=["GET"]),
    ]
    return mock_app(
        world=world,
        profile=PROFILE,
        routes=routes,
        faults=faults,
        admin_routes=[Route("/keys/{api_key}", _keys_admin(auth), methods=["PUT"])],
    )
