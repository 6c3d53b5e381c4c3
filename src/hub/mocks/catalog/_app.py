"""The catalog mock: the shared electronic catalogs' REST service.

No authentication and no personal data. The contract is ``src/hub/schemas/catalog/openapi.json``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.mocks._common import MockProfile, mock_app, problem
from hub.mocks._world import World
from hub.mocks.catalog._data import Tables, tables

JSON = "application/json"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
#: Far past the end of any catalog; larger numbers are refused, not served empty.
MAX_PAGE = 1_000_000
#: A province (2 digits) or district (3 digits) code, as the OpenAPI's `parent` says.
PARENT_CODE = re.compile(r"[0-9]{2,3}")

PROFILE = MockProfile(
    name="catalog",
    content_type=JSON,
    malformed_body=b'{"danhMuc": "provinces", "danhSach": [{"ma": "01", "ten": "H\xe0 N',
    oversized_prefix=b'{"danhMuc": "wards", "trang": 1, "danhSach": [',
    # The admin surface samples the world's keys; national ids lead to birth provinces.
    sample_kind="citizen",
)


def _not_found(detail: str) -> Response:
    return problem(404, "Not Found", detail)


def _invalid(field: str, message: str) -> Response:
    errors = [{"field": field, "message": message}]
    return problem(422, "Unprocessable Content", "Tham số không hợp lệ", errors)


def _whole_number(raw: str | None, default: int) -> int | None:
    """A positive whole number from a query parameter, the default when absent, else None."""
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        return None
    return int(raw)


class _Service:
    def __init__(self, data: Tables) -> None:
        self.data = data
        listing = [
            {
                "ma": catalog.name,
                "ten": catalog.title,
                "tongSo": len(catalog.entries),
                "locTheo": catalog.filter_level,
            }
            for catalog in data.catalogs.values()
        ]
        self._listing = orjson.dumps({"danhSach": listing})

    async def catalogs(self, request: Request) -> Response:
        return Response(self._listing, media_type=JSON)

    async def items(self, request: Request) -> Response:
        name = request.path_params["catalog"]
        catalog = self.data.catalogs.get(name)
        if catalog is None:
            return _not_found("Không có danh mục này")
        params = request.query_params
        page = _whole_number(params.get("page"), 1)
        if page is None or page > MAX_PAGE:
            return _invalid("page", f"Trang là số nguyên từ 1 đến {MAX_PAGE}")
        size = _whole_number(params.get("page_size"), DEFAULT_PAGE_SIZE)
        if size is None or size > MAX_PAGE_SIZE:
            return _invalid("page_size", f"Kích thước trang là số nguyên từ 1 đến {MAX_PAGE_SIZE}")
        parent = params.get("parent")
        if parent is None:
            encoded = catalog.encoded
        elif catalog.filter_level is None:
            return _invalid("parent", "Danh mục này không lọc theo đơn vị cấp trên")
        elif not PARENT_CODE.fullmatch(parent):
            return _invalid("parent", "Mã đơn vị cấp trên gồm 2 hoặc 3 chữ số")
        else:
            encoded = catalog.by_parent.get(parent, [])
        start = (page - 1) * size
        head = orjson.dumps(
            {"danhMuc": name, "trang": page, "kichThuocTrang": size, "tongSo": len(encoded)}
        )
        # The page is assembled from the entries serialised once, at start.
        body = b"".join(
            (head[:-1], b',"danhSach":[', b",".join(encoded[start : start + size]), b"]}")
        )
        return Response(body, media_type=JSON)

    async def item(self, request: Request) -> Response:
        catalog = self.data.catalogs.get(request.path_params["catalog"])
        if catalog is None:
            return _not_found("Không có danh mục này")
        position = catalog.by_code.get(request.path_params["code"])
        if position is None:
            return _not_found("Không có mục này trong danh mục")
        return Response(catalog.encoded[position], media_type=JSON)

    async def successors(self, request: Request) -> Response:
        level = request.path_params["level"]
        code = request.path_params["code"]
        old_catalog = {"province": "provinces_before_2025", "ward": "wards_before_2025"}.get(level)
        if old_catalog is None:
            return _not_found("Cấp đơn vị là province hoặc ward")
        catalog = self.data.catalogs[old_catalog]
        position = catalog.by_code.get(code)
        if position is None:
            return _not_found("Không có đơn vị này trước ngày 01/7/2025")
        successors = self.data.successors.get((level, code), [])
        body = {
            "donVi": catalog.entries[position],
            "donViKeThua": [{"ma": s.code, "ten": s.name, "motPhan": s.partly} for s in successors],
        }
        return Response(orjson.dumps(body), media_type=JSON)


def hub_settings(base_url: str) -> dict[str, Any]:
    """The ``[sources.catalog]`` table that points a hub at this mock at ``base_url``."""
    return {"url": base_url}


def create_app(
    *, seed: int = 1, citizens: int = 10_000, faults: list[dict[str, Any]] | None = None
) -> Starlette:
    """The catalog mock as an ASGI app.

    ``GET /v1/catalogs``; ``GET /v1/catalogs/{catalog}/items?page=&page_size=&parent=``
    (paged by code, at most 1,000 a page); ``GET /v1/catalogs/{catalog}/items/{code}``;
    ``GET /v1/administrative-units/before-2025/{level}/{code}/successors`` (``province``
    or ``ward``). The catalogs do not depend on the seed; the world serves the shared
    admin surface's samples.

    Args:
        seed: The world's seed.
        citizens: How many citizens the world holds.
        faults: A fault plan in force from the start.
    """
    world = World(seed, citizens)
    service = _Service(tables())
    routes = [
        Route("/v1/catalogs", service.catalogs, methods=["GET"]),
        Route("/v1/catalogs/{catalog}/items", service.items, methods=["GET"]),
        Route("/v1/catalogs/{catalog}/items/{code}", service.item, methods=["GET"]),
        Route(
            "/v1/administrative-units/before-2025/{level}/{code}/successors",
            service.successors,
            methods=["GET"],
        ),
    ]
    return mock_app(world=world, profile=PROFILE, routes=routes, faults=faults)
