"""The access-history page of `hub serve --mocks`: a small portal for a newcomer.

It plays a citizen portal with the ``citizen-portal`` role: it sends the citizen to the
VNeID mock, ends the login with the hub, hands the page her ticket (in the URL's
fragment, which never reaches a server or its logs) and reads her history for the
page, as a portal's back end would. Plain HTML, CSS and JavaScript, no build step.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from pathlib import Path
from urllib.parse import quote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from hub._hub import Hub
from hub._logging import get_logger
from hub.errors import HubError, InvalidQuery
from hub.sidecar._problems import from_error

__all__ = ["demo_app"]

log = get_logger("hub.sidecar")

_STATIC = Path(__file__).parent / "demo"
_FILES = {"": "index.html", "demo.css": "demo.css", "demo.js": "demo.js"}
_SOURCE = "vneid"
#: Logins started and not yet ended, at most, and how long one may take.
_PENDING_MAX = 256
_PENDING_SECONDS = 600.0


def demo_app(hub: Hub, *, client: str) -> Starlette:
    """The page and its back end, to mount at ``/demo``.

    Args:
        hub: The sidecar's hub.
        client: The demo client (it must hold the ``citizen-portal`` role).
    """

    def redirect_uri(request: Request) -> str:
        # /demo/callback as this browser reaches the sidecar; the VNeID mock accepts it
        # on loopback only, which is where a demo runs.
        return f"{str(request.base_url).rstrip('/')}/demo/callback"

    # state -> (code_verifier, nonce, started): what a portal keeps across the redirect.
    pending: OrderedDict[str, tuple[str, str, float]] = OrderedDict()

    async def page(request: Request) -> Response:
        name = _FILES.get(request.path_params.get("name", ""))
        if name is None:
            return Response("not found", status_code=404)
        return FileResponse(_STATIC / name, headers={"Cache-Control": "no-store"})

    async def login(request: Request) -> Response:
        made = await hub.authorization_request(
            _SOURCE, redirect_uri=redirect_uri(request), level=hub.tickets.level, client=client
        )
        pending[made.state] = (made.code_verifier, made.nonce, time.monotonic())
        while len(pending) > _PENDING_MAX:
            pending.popitem(last=False)
        url = httpx.URL(made.url)
        hint = request.query_params.get("hint")
        if hint:
            # The mock's headless path: the synthetic citizen is chosen, no form shown.
            url = url.copy_add_param("login_hint", hint)
        return RedirectResponse(str(url), status_code=302)

    async def callback(request: Request) -> Response:
        kept = pending.pop(request.query_params.get("state", ""), None)
        code = request.query_params.get("code")
        if kept is None or not code or time.monotonic() - kept[2] > _PENDING_SECONDS:
            return RedirectResponse("/demo/#error=login", status_code=302)
        verifier, nonce, _ = kept
        credential = {
            "code": code,
            "code_verifier": verifier,
            "nonce": nonce,
            "redirect_uri": redirect_uri(request),
            "level": hub.tickets.level,
        }
        purpose = {"client": client, "officer": "citizen", "procedure": "VNEID", "dossier": "DEMO"}
        try:
            known = await hub.authenticate(_SOURCE, credential, purpose=purpose)
        except HubError as error:
            log.warning("demo login failed", kind=error.kind)
            return RedirectResponse("/demo/#error=login", status_code=302)
        if known.ticket is None:
            return RedirectResponse("/demo/#error=level", status_code=302)
        return RedirectResponse(f"/demo/#ticket={quote(known.ticket)}", status_code=302)

    async def accesses(request: Request) -> Response:
        rid = secrets.token_hex(16)
        try:
            try:
                page_number = int(request.query_params.get("page", "1"))
            except ValueError:
                raise InvalidQuery.for_field("page", "must be a whole number") from None
            history = await hub.access_history(
                request.headers.get("x-access-ticket", ""),
                client=client,
                page=page_number,
                page_size=200,
                proofs=request.query_params.get("proofs") == "true",
                request_id=rid,
            )
        except HubError as error:
            return from_error(error, rid)
        return Response(
            history.model_dump_json(),
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    return Starlette(
        routes=[
            Route("/", page),
            Route("/login", login),
            Route("/callback", callback),
            Route("/accesses", accesses),
            Route("/{name:str}", page),
        ]
    )
