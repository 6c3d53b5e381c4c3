"""The VNeID mock: an OpenID Connect provider over the synthetic citizens."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from hub.mocks._common import MockProfile, mock_app
from hub.mocks._world import World
from hub.mocks.vneid._faults import EXCHANGE_PATH, SPOIL_KEY, HostileTokenFault
from hub.mocks.vneid._keys import DEMO_CLIENT_ID, demo_client_pem
from hub.mocks.vneid._login import error_page, login_page
from hub.mocks.vneid._provider import LEVELS, AuthorizationError, OidcError, Provider, Refusal

PROFILE = MockProfile(
    name="vneid",
    content_type="application/json",
    malformed_body=b'{"access_token": "a", "token_type": "Bearer", "id_token": "eyJhbGciOiJFUzI1',
    oversized_prefix=b'{"keys": [',
    sample_kind="vneid_level2",
    fault_kinds=(HostileTokenFault,),
)
_MAX_FORM_BYTES = 16 * 1024
_FORM = "application/x-www-form-urlencoded"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# An HTTP authentication scheme's name (RFC 9110, 11.1).
_SCHEME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class _BadForm(Exception):
    pass


def _issuer(request: Request) -> str:
    """The issuer is the base URL the client reached the mock at."""
    return f"{request.url.scheme}://{request.url.netloc}"


def _single_valued(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Parameters as a dict; a repeated parameter is an error (RFC 6749, 3.1 and 3.2)."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise _BadForm(f"{name} is repeated")
        params[name] = value
    return params


async def _form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0].strip() != _FORM:
        raise _BadForm(f"the body must be {_FORM}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            raise _BadForm("the body is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise _BadForm("the body is not UTF-8") from None
    return _single_valued(pairs)


def _oauth_error(error: OidcError, challenge: str | None = None) -> JSONResponse:
    """The error as JSON; a 401 challenges with ``challenge``, the value of its
    WWW-Authenticate."""
    headers = dict(_NO_STORE)
    if challenge is not None:
        headers["WWW-Authenticate"] = challenge
    return JSONResponse(error.body(), error.status, headers=headers)


def _tried_scheme(request: Request) -> str | None:
    """The HTTP authentication scheme a client tried at the token endpoint, if any."""
    scheme = request.headers.get("authorization", "").split(" ", 1)[0]
    return scheme if _SCHEME.fullmatch(scheme) else None


class _Endpoints:
    """The provider's HTTP endpoints."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(self.provider.metadata(_issuer(request)))

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self.provider.keys.jwks())

    async def authorize(self, request: Request) -> Response:
        try:
            if request.method == "GET":
                params = _single_valued(request.query_params.multi_items())
            else:
                params = await _form(request)
        except _BadForm as exc:
            return HTMLResponse(error_page(str(exc)), 400)
        except ClientDisconnect:
            return Response(status_code=499)
        provider = self.provider
        try:
            auth = provider.authorization(params)
            hint = params.get("login_hint")
            if not hint:
                if request.method == "GET":
                    return HTMLResponse(login_page(params, provider.accounts(), auth.level))
                raise auth.error("invalid_request", "choose a citizen to log in")
            level = auth.level
            if request.method == "POST":
                level = LEVELS.get(params.get("level", ""), auth.level)
            location = provider.login(auth, hint, level)
        except Refusal as exc:
            return HTMLResponse(error_page(str(exc)), 400)
        except AuthorizationError as exc:
            return RedirectResponse(exc.location(), 302)
        return RedirectResponse(location, 302)

    async def token(self, request: Request) -> Response:
        scheme = _tried_scheme(request)
        if scheme is not None:
            # RFC 6749, 5.2: a client that authenticated with an HTTP scheme is refused
            # with a 401 that challenges with the same scheme.
            refusal = OidcError(
                "invalid_client", "client authentication must be private_key_jwt", 401
            )
            return _oauth_error(refusal, f'{scheme} realm="vneid"')
        try:
            form = await _form(request)
            answer = self.provider.exchange(
                _issuer(request), form, hostile=request.scope.get(SPOIL_KEY)
            )
        except _BadForm as exc:
            return _oauth_error(OidcError("invalid_request", str(exc)))
        except OidcError as exc:
            return _oauth_error(exc)
        except ClientDisconnect:
            return Response(status_code=499)
        return JSONResponse(answer, headers=_NO_STORE)

    async def userinfo(self, request: Request) -> Response:
        try:
            claims = self.provider.userinfo(request.headers.get("authorization"))
        except OidcError as exc:
            return _oauth_error(exc, f'Bearer error="{exc.error}"')
        return JSONResponse(claims, headers=_NO_STORE)


def _admin_problem(field: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"detail": "invalid request", "errors": [{"field": field, "message": message}]}, 422
    )


async def _json_object(request: Request) -> dict[str, Any] | None:
    body = await request.body()
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _admin_routes(provider: Provider) -> list[Route]:
    """The mock's own admin endpoints, beside the shared ones (paths under /_admin)."""

    async def rotate_keys(request: Request) -> Response:
        data = await _json_object(request)
        if data is None:
            return _admin_problem("body", 'a JSON object, e.g. {"drop_previous": true}')
        drop = data.get("drop_previous", False)
        if not isinstance(drop, bool):
            return _admin_problem("drop_previous", "true or false")
        provider.keys.rotate(drop_previous=drop)
        current = [key.kid for key in provider.keys.current.values()]
        published = [key["kid"] for key in provider.keys.jwks()["keys"]]
        return JSONResponse({"current": current, "published": published})

    async def clock(request: Request) -> Response:
        if request.method == "PUT":
            data = await _json_object(request)
            offset = None if data is None else data.get("offset")
            if isinstance(offset, bool) or not isinstance(offset, int | float):
                return _admin_problem("offset", "a number of seconds")
            provider.clock_offset = float(offset)
        elif request.method == "DELETE":
            provider.clock_offset = 0.0
        return JSONResponse({"offset": provider.clock_offset})

    return [
        Route("/rotate-keys", rotate_keys, methods=["POST"]),
        Route("/clock", clock, methods=["GET", "PUT", "DELETE"]),
    ]


def hub_settings(base_url: str) -> dict[str, Any]:
    """The ``[sources.vneid]`` table that points a hub at this mock served at ``base_url``.

    The demo client's private key is given inline: it is derived from a fixed label, and
    the mock holds its public half (a demonstration key, never a secret).
    """
    return {"url": base_url, "client_id": DEMO_CLIENT_ID, "private_key": demo_client_pem()}


def create_app(
    *,
    seed: int = 1,
    citizens: int = 10_000,
    faults: list[dict[str, Any]] | None = None,
) -> Starlette:
    """The VNeID mock as an ASGI app: an OpenID Connect provider (issuer: its base URL).

    ``GET /.well-known/openid-configuration``, ``GET /jwks`` (an ES256 and an RS256
    key), ``GET|POST /authorize`` (code flow with PKCE S256; ``login_hint=<national
    id>`` logs in at once, without it a login page offers a few citizens), ``POST
    /token`` (``private_key_jwt``; an assertion may live an hour at most), ``GET
    /userinfo``. The demo client (`hub_settings`) gets ES256 ID tokens; the same client
    registered as ``lienthong-demo-rs256`` gets RS256 ones. Both may redirect to
    ``https://dichvucong.example.vn/vneid/callback`` and to
    ``http://127.0.0.1/callback`` or ``http://localhost/callback`` on any port, and
    to ``/demo/callback`` there.

    Besides the shared admin surface: ``POST /_admin/rotate-keys`` (``{"drop_previous":
    true}`` also unpublishes the old keys) and ``GET|PUT|DELETE /_admin/clock``
    (``{"offset": 120}`` moves the provider's clock, to age codes and tokens). Besides
    the shared faults: ``hostile_token`` (``"variant"``: see `HostileTokenFault`).

    Args:
        seed: The world's seed.
        citizens: How many citizens the world holds.
        faults: A fault plan in force from the start.
    """
    provider = Provider(World(seed, citizens))
    endpoints = _Endpoints(provider)
    routes = [
        Route("/.well-known/openid-configuration", endpoints.discovery, methods=["GET"]),
        Route("/jwks", endpoints.jwks, methods=["GET"]),
        Route("/authorize", endpoints.authorize, methods=["GET", "POST"]),
        Route(EXCHANGE_PATH, endpoints.token, methods=["POST"]),
        Route("/userinfo", endpoints.userinfo, methods=["GET"]),
    ]
    app = mock_app(
        world=provider.world,
        profile=PROFILE,
        routes=routes,
        faults=faults,
        admin_routes=_admin_routes(provider),
    )
    app.state.provider = provider
    return app
