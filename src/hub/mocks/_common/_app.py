"""The admin surface and the fault middleware every mock shares.

``GET /_admin/stats``, ``DELETE /_admin/stats``, ``GET /_admin/sample``,
``GET|PUT|DELETE /_admin/faults``; everything else is the mock's protocol, counted and
subject to the fault plan.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.mocks._common._faults import (
    FaultCall,
    FaultPlan,
    MockProfile,
    PlanError,
    parse_plan,
    quiet_dropped_connections,
)
from hub.mocks._world import SAMPLE_KINDS, World

MAX_SAMPLE = 1000


class MockState:
    """A mock's run-time state: its world, request count and fault plan."""

    def __init__(self, world: World, profile: MockProfile, faults: object) -> None:
        self.world = world
        self.profile = profile
        self.requests = 0
        self.plan = self.make_plan(faults)

    def make_plan(self, faults: object) -> FaultPlan:
        """A plan from JSON data; raises `PlanError` when it is invalid."""
        return FaultPlan(parse_plan(faults, self.profile.fault_kinds), self.world.seed)


def _is_admin(path: str) -> bool:
    return path == "/_admin" or path.startswith("/_admin/")


class FaultMiddleware:
    """Counts protocol requests and lets the fault plan answer them; /_admin/ passes by."""

    def __init__(self, app: ASGIApp, state: MockState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_admin(scope["path"]):
            await self.app(scope, receive, send)
            return
        self.state.requests += 1
        delay, fault = self.state.plan.draw()
        if delay:
            await asyncio.sleep(delay)
        if fault is None:
            await self.app(scope, receive, send)
        else:
            await fault.apply(FaultCall(scope, receive, send, self.app, self.state.profile))


PROBLEM = "application/problem+json"


def problem(
    status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
) -> Response:
    """An RFC 9457 problem answer, as a REST register's protocol errors are written."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return Response(orjson.dumps(body), status, media_type=PROBLEM)


def _problem(status: int, detail: str, errors: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse({"detail": detail, "errors": errors}, status)


def _admin_routes(state: MockState) -> list[BaseRoute]:
    async def stats(request: Request) -> Response:
        if request.method == "DELETE":
            state.requests = 0
        return JSONResponse({"requests": state.requests})

    async def sample(request: Request) -> Response:
        kind = request.query_params.get("kind", state.profile.sample_kind)
        raw = request.query_params.get("n", "5")
        if kind not in SAMPLE_KINDS:
            message = f"one of {', '.join(SAMPLE_KINDS)}"
            return _problem(422, "invalid sample", [{"field": "kind", "message": message}])
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_SAMPLE:
            message = f"a whole number from 1 to {MAX_SAMPLE}"
            return _problem(422, "invalid sample", [{"field": "n", "message": message}])
        keys = await run_in_threadpool(state.world.sample, kind, int(raw))
        return JSONResponse({"keys": keys})

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            try:
                data: Any = json.loads(await request.body())
            except ValueError:
                error = {"field": "faults", "message": "the body is not JSON"}
                return _problem(422, "invalid fault plan", [error])
            try:
                state.plan = state.make_plan(data)
            except PlanError as exc:
                return _problem(422, "invalid fault plan", exc.errors)
        elif request.method == "DELETE":
            state.plan = state.make_plan([])
        return JSONResponse({"faults": state.plan.describe()})

    return [
        Route("/stats", stats, methods=["GET", "DELETE"]),
        Route("/sample", sample, methods=["GET"]),
        Route("/faults", faults, methods=["GET", "PUT", "DELETE"]),
    ]


def mock_app(
    *,
    world: World,
    profile: MockProfile,
    routes: Sequence[BaseRoute],
    faults: Sequence[dict[str, Any]] | None = None,
    admin_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """A mock's ASGI app: its protocol routes behind the shared admin surface and faults.

    Args:
        world: The world the mock serves.
        profile: The mock's protocol, as the fault machinery needs it.
        routes: The protocol's routes.
        faults: A fault plan in force from the start.
        admin_routes: The mock's own admin routes, with paths under ``/_admin``
            (``Route("/rotate-keys", ...)`` answers ``/_admin/rotate-keys``); like the
            shared ones, they are never counted or faulted.

    Raises:
        PlanError: when ``faults`` is not a valid plan.
    """
    quiet_dropped_connections()
    state = MockState(world, profile, list(faults or []))
    app = Starlette(
        routes=[Mount("/_admin", routes=[*admin_routes, *_admin_routes(state)]), *routes],
        middleware=[Middleware(FaultMiddleware, state=state)],
    )
    app.state.mock = state
    return app
