"""The register's authorization server: OAuth 2.0 client credentials (RFC 6749, section 4.4).

It stands apart from the register's API, as an authorization server does: its token
endpoint has a request count and a fault plan of its own (``/_admin/tokens`` and
``/_admin/tokens/faults``), so that a fault meant for the register's answers does not
land on a token request, and the register's request count stays one per look-up.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from hub.mocks._common import FaultCall, MockProfile, MockState, PlanError
from hub.mocks._world import World
from hub.mocks.business._answers import json_response

OAUTH_PATH = "/oauth/token"
DEFAULT_TTL = 300
MAX_TTL = 86_400
_MAX_FORM_BYTES = 4096
# Expired tokens are dropped once the store has grown past this many (or twice its
# size after the last sweep), so that a client that never reuses its tokens costs
# bounded memory.
_SWEEP_AT = 1024

PROFILE = MockProfile(
    name="business-oauth",
    content_type="application/json",
    malformed_body=b'{"access_token": "q7Zx", "token_type": "Bea',
    oversized_prefix=b'{"access_token": "',
    sample_kind="enterprise",
)
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenStore:
    """The bearer tokens issued and not yet revoked, each with its expiry.

    Args:
        ttl: The lifetime, in seconds, of the tokens issued from now on.
        clock: Seconds, monotonic.
    """

    def __init__(self, ttl: int = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.issued = 0
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._sweep_at = _SWEEP_AT

    def issue(self) -> tuple[str, int]:
        """A new opaque token and its lifetime in seconds."""
        if len(self._expiry) >= self._sweep_at:
            now = self._clock()
            self._expiry = {token: at for token, at in self._expiry.items() if at > now}
            self._sweep_at = max(_SWEEP_AT, 2 * len(self._expiry))
        token = secrets.token_urlsafe(32)
        self._expiry[token] = self._clock() + self.ttl
        self.issued += 1
        return token, self.ttl

    def valid(self, token: str) -> bool:
        """Whether the token was issued here, and is neither expired nor revoked."""
        expiry = self._expiry.get(token)
        return expiry is not None and self._clock() < expiry

    def active(self) -> int:
        """How many tokens are still valid."""
        now = self._clock()
        return sum(1 for at in self._expiry.values() if at > now)

    def held(self) -> list[str]:
        """Every token issued and not revoked, expired ones included.

        For tests that prove a client never writes its token where it should not.
        """
        return list(self._expiry)

    def revoke_all(self) -> int:
        """Revoke every token issued; returns how many were still valid."""
        revoked = self.active()
        self._expiry.clear()
        return revoked


class _TokenSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl: int = Field(ge=1, le=MAX_TTL)


def _oauth_error(status: int, code: str, description: str) -> Response:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="dkkd"'
    return json_response({"error": code, "error_description": description}, status, headers)


def _problem(detail: str, errors: list[dict[str, str]]) -> Response:
    return json_response({"detail": detail, "errors": errors}, 422)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """Client id and secret from HTTP Basic, each form-decoded (RFC 6749, 2.3.1)."""
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return None
    return unquote_plus(client_id), unquote_plus(secret)


class Authority:
    """The token endpoint, behind a fault plan of its own, and its admin surface.

    Args:
        world: The world (its seed seeds the fault plan).
        tokens: Where issued tokens are kept; the register checks them there.
        clients: The accepted clients: client id to client secret.
    """

    def __init__(self, world: World, tokens: TokenStore, clients: Mapping[str, str]) -> None:
        self.tokens = tokens
        self._clients = dict(clients)
        self.state = MockState(world, PROFILE, [])
        self._endpoint = Starlette(routes=[Route(OAUTH_PATH, self._token, methods=["POST"])])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The token endpoint as ASGI, counted and subject to its fault plan."""
        self.state.requests += 1
        delay, fault = self.state.plan.draw()
        if delay:
            await asyncio.sleep(delay)
        if fault is None:
            await self._endpoint(scope, receive, send)
        else:
            await fault.apply(FaultCall(scope, receive, send, self._endpoint, PROFILE))

    async def _token(self, request: Request) -> Response:
        credentials = _basic_credentials(request.headers.get("authorization"))
        if credentials is None or not self._known(*credentials):
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "Expected a form-encoded body")
        try:
            body = await self._body(request)
        except ClientDisconnect:
            # The client gave up (a latency fault outlasted its timeout): nobody to answer.
            return Response(status_code=499)
        if body is None:
            return _oauth_error(400, "invalid_request", "The request body is too large")
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return _oauth_error(400, "invalid_request", "The body is not UTF-8")
        grant = form.get("grant_type", [])
        if len(grant) != 1:
            return _oauth_error(400, "invalid_request", "Give grant_type exactly once")
        if grant[0] != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Only client_credentials")
        token, ttl = self.tokens.issue()
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": ttl}
        return json_response(answer, headers=_NO_STORE)

    def _known(self, client_id: str, secret: str) -> bool:
        # Compared in constant time, as a real server must, unknown client ids included.
        expected = self._clients.get(client_id, "")
        matches = secrets.compare_digest(expected.encode(), secret.encode())
        return matches and client_id in self._clients

    @staticmethod
    async def _body(request: Request) -> bytes | None:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_FORM_BYTES:
                return None
        return bytes(body)

    # The admin surface

    def admin_routes(self) -> list[Route]:
        """``/_admin/tokens`` (lifetime, counts, revocation) and ``/_admin/tokens/faults``."""
        return [
            Route("/_admin/tokens", self._admin_tokens, methods=["GET", "PUT", "DELETE"]),
            Route("/_admin/tokens/faults", self._admin_faults, methods=["GET", "PUT", "DELETE"]),
        ]

    def _describe(self) -> dict[str, int]:
        return {
            "ttl": self.tokens.ttl,
            "requests": self.state.requests,
            "issued": self.tokens.issued,
            "active": self.tokens.active(),
        }

    async def _admin_tokens(self, request: Request) -> Response:
        if request.method == "DELETE":
            revoked = self.tokens.revoke_all()
            return json_response({"revoked": revoked, **self._describe()})
        if request.method == "PUT":
            try:
                data: Any = json.loads(await request.body())
            except ValueError:
                return _problem(
                    "invalid token settings",
                    [{"field": "tokens", "message": "the body is not JSON"}],
                )
            try:
                settings = _TokenSettings.model_validate(data)
            except ValidationError as exc:
                errors = [
                    {
                        "field": ".".join(str(part) for part in e["loc"]) or "tokens",
                        "message": e["msg"],
                    }
                    for e in exc.errors(include_url=False, include_input=False)
                ]
                return _problem("invalid token settings", errors)
            self.tokens.ttl = settings.ttl
        return json_response(self._describe())

    async def _admin_faults(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                data: Any = json.loads(await request.body())
            except ValueError:
                return _problem(
                    "invalid fault plan", [{"field": "faults", "message": "the body is not JSON"}]
                )
            try:
                self.state.plan = self.state.make_plan(data)
            except PlanError as exc:
                return _problem("invalid fault plan", exc.errors)
        elif request.method == "DELETE":
            self.state.plan = self.state.make_plan([])
        return json_response({"faults": self.state.plan.describe()})
