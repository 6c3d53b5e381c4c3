"""The admin surface and the fault middleware every mock shares.

``GET /_admin/stats``, ``DELETE /_admin/stats``, ``GET /_admin/sample``,
``GET|PUT|DELETE /_admin/faults``; everything else is the mock's protocol, counted and
subject to the fault plan.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

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

#: The most keys ``GET /_admin/sample`` gives at once.
MAX_SAMPLE = 1000


class MockWorld(Protocol):
    """The data a mock serves, as far as the shared admin surface needs it.

    The bundled mocks pass their synthetic world; a mock of another register passes
    any object with these members.
    """

    @property
    def seed(self) -> int:
        """The seed the data comes from; fault-plan entries without a seed draw from it."""
        ...

    @property
    def sample_kinds(self) -> Sequence[str]:
        """The kinds of key ``GET /_admin/sample`` gives, for its ``kind`` parameter."""
        ...

    def sample(self, kind: str, n: int) -> Sequence[str] | Awaitable[Sequence[str]]:
        """Keys of at most ``n`` existing records of ``kind``, the same for the same seed.

        A coroutine function is awaited; a plain one runs in a worker thread, so that
        computing the keys never holds up the mock's other requests.
        """
        ...


class MockState:
    """A mock's run-time state: its world, request count and fault plan."""

    def __init__(self, world: MockWorld, profile: MockProfile, faults: object) -> None:
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
        kinds = state.world.sample_kinds
        if kind not in kinds:
            message = f"one of {', '.join(kinds)}"
            return _problem(422, "invalid sample", [{"field": "kind", "message": message}])
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_SAMPLE:
            message = f"a whole number from 1 to {MAX_SAMPLE}"
            return _problem(422, "invalid sample", [{"field": "n", "message": message}])
        draw = state.world.sample
        if inspect.iscoroutinefunction(draw):
            keys = await draw(kind, int(raw))
        else:
            keys = await run_in_threadpool(draw, kind, int(raw))
        return JSONResponse({"keys": list(keys)})

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
    world: MockWorld,
    profile: MockProfile,
    routes: Sequence[BaseRoute],
    faults: Sequence[dict[str, Any]] | None = None,
    admin_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """A mock's ASGI app: its protocol routes behind the shared admin surface and faults.

    The admin surface is ``GET|DELETE /_admin/stats`` (protocol requests counted),
    ``GET /_admin/sample?kind=&n=`` (keys of existing records) and
    ``GET|PUT|DELETE /_admin/faults`` (the fault plan); every other request is the
    protocol's, counted and subject to the plan.

    Args:
        world: The data the mock serves: its seed and its samples.
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
