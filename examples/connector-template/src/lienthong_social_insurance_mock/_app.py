"""The social-insurance mock: the register's REST + JSON service, and the admin surface.

Protocol (every request needs ``X-Api-Key`` and ``X-Ma-Don-Vi``):

- ``POST /api/v1/tra-cuu`` with ``{"maSoBhxh": "<10 digits>"}`` or
  ``{"soDinhDanh": "<12 digits>"}``: 200 with the record, 404 if the register has no
  such person, 422 naming the field at fault, 400 for a body that is not a JSON object;
- ``GET /api/v1/trang-thai``: 200 while the service is up and the key accepted;
- errors are problem details (``application/problem+json``), 401 for a wrong key.

Admin (never counted, never faulted), from `hub.testing.mock_app`: ``GET|DELETE
/_admin/stats``, ``GET /_admin/sample?n=&kind=``, ``GET|PUT|DELETE /_admin/faults``
with every fault kind of the hub's own mocks.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any

from hub.testing import MockProfile, mock_app, problem
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lienthong_social_insurance_mock._people import Population
from lienthong_social_insurance_mock._register import Register

__all__ = ["API_KEY", "create_app", "hub_settings"]

#: The one key the mock accepts; `hub_settings` hands it to the hub.
API_KEY = "mock-social-insurance-key-0001"
AGENCY_CODE = "000.00.00.H37"
JSON = "application/json"

#: The register's protocol, as the shared fault machinery needs it.
PROFILE = MockProfile(
    name="social_insurance",
    content_type=JSON,
    malformed_body=b'{"maSoBhxh": "79\xff\xfe", "hoTen": [}',
    oversized_prefix=b'{"maSoBhxh": "7912345678", "hoTen": "',
    sample_kind="insurance_number",
)

_INSURANCE_NUMBER = re.compile(r"[0-9]{10}")
_NATIONAL_ID = re.compile(r"[0-9]{12}")


class _Service:
    def __init__(self, register: Register) -> None:
        self.register = register

    @staticmethod
    def _refused(request: Request) -> Response | None:
        given = request.headers.get("x-api-key", "")
        if not hmac.compare_digest(given.encode(), API_KEY.encode()):
            return problem(401, "Unauthorized", "Khóa API không hợp lệ")
        if not request.headers.get("x-ma-don-vi"):
            return problem(400, "Bad Request", "Thiếu mã đơn vị (X-Ma-Don-Vi)")
        return None

    async def look_up(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return problem(400, "Bad Request", "Thân yêu cầu phải là một đối tượng JSON")
        number, national_id = body.get("maSoBhxh"), body.get("soDinhDanh")
        errors = []
        if (number is None) == (national_id is None) or set(body) - {"maSoBhxh", "soDinhDanh"}:
            errors.append({"field": "body", "message": "Cần đúng một: maSoBhxh hoặc soDinhDanh"})
        elif number is not None and not _matches(_INSURANCE_NUMBER, number):
            errors.append({"field": "maSoBhxh", "message": "Mã số BHXH gồm đúng 10 chữ số"})
        elif national_id is not None and not _matches(_NATIONAL_ID, national_id):
            errors.append({"field": "soDinhDanh", "message": "Số định danh gồm đúng 12 chữ số"})
        if errors:
            return problem(422, "Unprocessable Content", "Yêu cầu không hợp lệ", errors)
        found = await self.register.find(number=number, national_id=national_id)
        if found is None:
            return problem(404, "Not Found", "Không tìm thấy người tham gia")
        return JSONResponse(found)

    async def status(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        return JSONResponse({"trangThai": "hoat_dong"})


def _matches(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def hub_settings(base_url: str) -> dict[str, Any]:
    """The ``[sources.social_insurance]`` table pointing a hub at this mock at ``base_url``."""
    return {"url": base_url, "api_key": API_KEY, "agency_code": AGENCY_CODE}


def create_app(
    *, seed: int = 1, citizens: int = 10_000, faults: list[dict[str, Any]] | None = None
) -> Starlette:
    """The social-insurance mock as an ASGI app.

    Args:
        seed: The world's seed (the same as the population mock's gives the same people).
        citizens: How many citizens the world holds; the register insures the first
            1,000 of them in the world's seeded order, or all of a smaller world.
        faults: A fault plan in force from the start.

    Raises:
        PlanError: ``faults`` is not a valid plan.
    """
    register = Register(seed, citizens, Population(seed, citizens))
    service = _Service(register)
    routes = [
        Route("/api/v1/tra-cuu", service.look_up, methods=["POST"]),
        Route("/api/v1/trang-thai", service.status, methods=["GET"]),
    ]
    return mock_app(world=register, profile=PROFILE, routes=routes, faults=faults)
