"""The budget-unit mock: the budget-relationship unit code system's REST service.

``GET /v1/units/{code}`` answers one unit of the world's register,
``GET /v1/status`` whether the service is up and the key accepted; both need the
``X-Api-Key`` header. The contract is ``src/hub/schemas/budget_unit/openapi.json``.
"""

from __future__ import annotations

import hmac
import re
from typing import Any, Literal

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.mocks._common import FaultCall, FaultEntry, MockProfile, mock_app, problem
from hub.mocks._world import BudgetUnit, World

#: The one key the mock accepts; `hub_settings` hands it to the hub.
API_KEY = "mock-budget-unit-key-0001"
JSON = "application/json"

_CODE = re.compile(r"[0-9]{7}")
_LEVELS = {"central": "trung_uong", "province": "tinh", "district": "huyen", "commune": "xa"}
_STATUSES = {"active": "dang_hoat_dong", "closed": "da_dong"}


def _unauthorized(detail: str) -> Response:
    return problem(401, "Unauthorized", detail)


class ExpiredKeyEntry(FaultEntry):
    """The key is refused as expired (401), as after the Treasury rotates the agency's key."""

    kind: Literal["expired_key"]

    async def apply(self, call: FaultCall) -> None:
        await call.respond(_unauthorized("Khóa API đã hết hạn"))


PROFILE = MockProfile(
    name="budget_unit",
    content_type=JSON,
    malformed_body=b'{"maDonVi": "10\xff\xfe", "tenDonVi": [}',
    oversized_prefix=b'{"maDonVi": "1000001", "tenDonVi": "',
    sample_kind="budget_unit",
    fault_kinds=(ExpiredKeyEntry,),
)


def _key_refused(request: Request) -> Response | None:
    """A 401 answer unless the request carries the mock's key."""
    given = request.headers.get("x-api-key")
    if given is None:
        return _unauthorized("Thiếu khóa API (X-Api-Key)")
    if not hmac.compare_digest(given.encode(), API_KEY.encode()):
        return _unauthorized("Khóa API không hợp lệ")
    return None


def _unit(unit: BudgetUnit) -> dict[str, Any]:
    address = unit.address
    return {
        "maDonVi": unit.code,
        "tenDonVi": unit.name,
        "loaiDonVi": {"ma": unit.unit_type.code, "ten": unit.unit_type.name},
        "coQuanChuQuan": unit.authority,
        "capNganSach": _LEVELS[unit.level],
        "trangThai": _STATUSES[unit.status],
        "ngayThanhLap": unit.established.isoformat(),
        "ngayDong": unit.closed.isoformat() if unit.closed else None,
        "diaChi": {
            "chiTiet": address.text,
            "maTinh": address.province,
            "maHuyen": address.district,
            "maXa": address.ward,
        },
    }


class _Service:
    def __init__(self, world: World) -> None:
        self.world = world

    async def unit(self, request: Request) -> Response:
        refused = _key_refused(request)
        if refused is not None:
            return refused
        code = request.path_params["code"]
        if not _CODE.fullmatch(code):
            error = {"field": "code", "message": "Mã đơn vị phải gồm đúng 7 chữ số"}
            return problem(422, "Unprocessable Content", "Mã đơn vị không hợp lệ", [error])
        unit = self.world.budget_unit(code)
        if unit is None:
            return problem(404, "Not Found", "Không tìm thấy đơn vị có mã này")
        return Response(orjson.dumps(_unit(unit)), media_type=JSON)

    async def status(self, request: Request) -> Response:
        refused = _key_refused(request)
        if refused is not None:
            return refused
        body = {"trangThai": "hoat_dong", "soDonVi": self.world.budget_units}
        return Response(orjson.dumps(body), media_type=JSON)


def hub_settings(base_url: str) -> dict[str, Any]:
    """The ``[sources.budget_unit]`` table that points a hub at this mock at ``base_url``."""
    return {"url": base_url, "api_key": API_KEY}


def create_app(
    *, seed: int = 1, citizens: int = 10_000, faults: list[dict[str, Any]] | None = None
) -> Starlette:
    """The budget-unit mock as an ASGI app.

    Besides the shared faults it declares ``expired_key`` (``{"kind": "expired_key"}``):
    the request is refused with 401 as if the agency's key had expired.

    Args:
        seed: The world's seed.
        citizens: How many citizens the world holds (one budget unit per 20, at least 50).
        faults: A fault plan in force from the start.
    """
    world = World(seed, citizens)
    service = _Service(world)
    routes = [
        Route("/v1/units/{code}", service.unit, methods=["GET"]),
        Route("/v1/status", service.status, methods=["GET"]),
    ]
    return mock_app(world=world, profile=PROFILE, routes=routes, faults=faults)
