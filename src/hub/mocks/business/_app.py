"""The business mock: the business registration database's REST API on synthetic enterprises."""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from stdnum.vn import mst

from hub.mocks._common import MockProfile, mock_app
from hub.mocks._world import World
from hub.mocks.business import _answers
from hub.mocks.business._faults import InvalidTokenFault
from hub.mocks.business._oauth import DEFAULT_TTL, OAUTH_PATH, Authority, TokenStore

PROFILE = MockProfile(
    name="business",
    content_type=_answers.JSON,
    malformed_body=b'{"ma_so_doanh_nghiep": "01002", "ten_tieng_viet": "C\xc3\xb4ng ty',
    oversized_prefix=b'{"ket_qua": [{"ma_so_doanh_nghiep": "',
    sample_kind="enterprise",
    fault_kinds=(InvalidTokenFault,),
)

#: The demo client of ``hub_settings``: public on purpose, it exists only in this mock.
DEMO_CLIENT_ID = "lienthong-demo"
DEMO_CLIENT_SECRET = "demo-secret-not-for-production"  # noqa: S105

_CODE = re.compile(r"[0-9]{10}(?:-[0-9]{3})?")
_NATIONAL_ID = re.compile(r"[0-9]{12}")


def _bad_search() -> Response:
    return _answers.error(
        400, "yeu_cau_khong_hop_le", "Cần đúng một tham số legal_representative: 12 chữ số"
    )


class _Register:
    """The register's API: enterprises by code and by legal representative, bearer tokens only."""

    def __init__(self, world: World, tokens: TokenStore) -> None:
        self.world = world
        self.tokens = tokens

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.tokens.valid(token.strip())

    async def enterprise(self, request: Request) -> Response:
        if not self._authorized(request):
            return _answers.invalid_token()
        code: str = request.path_params["code"]
        if not _CODE.fullmatch(code) or not mst.is_valid(code):
            return _answers.error(400, "yeu_cau_khong_hop_le", "Mã số doanh nghiệp không hợp lệ")
        parent, _, suffix = code.partition("-")
        record = self.world.enterprise(parent)
        if record is None or (suffix and not 1 <= int(suffix) <= len(record.branches)):
            return _answers.error(404, "khong_tim_thay", "Không tìm thấy doanh nghiệp")
        return _answers.json_response(_answers.enterprise(record, code if suffix else None))

    async def search(self, request: Request) -> Response:
        if not self._authorized(request):
            return _answers.invalid_token()
        params = request.query_params.multi_items()
        if len(params) != 1 or params[0][0] != "legal_representative":
            return _bad_search()
        national_id = params[0][1]
        if not _NATIONAL_ID.fullmatch(national_id):
            return _bad_search()
        found = [_answers.enterprise(record) for record in self.world.enterprises_of(national_id)]
        return _answers.json_response({"ket_qua": found, "so_luong": len(found)})

    @staticmethod
    async def health(request: Request) -> Response:
        return _answers.json_response({"trang_thai": "hoat_dong"})


def hub_settings(base_url: str) -> dict[str, Any]:
    """The ``[sources.business]`` table that points a hub at this mock served at ``base_url``."""
    return {"url": base_url, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}


def create_app(
    *,
    seed: int = 1,
    citizens: int = 10_000,
    faults: list[dict[str, Any]] | None = None,
    token_ttl: int = DEFAULT_TTL,
) -> Starlette:
    """The business mock as an ASGI app.

    The register (``src/hub/schemas/business/openapi.json``), behind the shared admin surface
    and fault plan:

    - ``GET /v1/enterprises/{code}``: an enterprise by its 10-digit code; a branch's
      13-digit code (``NNNNNNNNNN-001``) finds its parent with the branch named in
      ``chi_nhanh_tra_cuu``. 400 for a malformed code, 404 for one not registered.
    - ``GET /v1/enterprises?legal_representative=NATIONAL_ID``: the enterprises she
      represents (``{"ket_qua": [...], "so_luong": n}``), usually none.
    - ``GET /v1/health``: no token needed.

    Both look-ups need ``Authorization: Bearer TOKEN``; a missing, expired or revoked
    token gets 401 with ``WWW-Authenticate: Bearer error="invalid_token"``. Besides the
    shared faults, ``{"kind": "invalid_token"}`` refuses every token.

    The authorization server, counted and faulted apart from the register:

    - ``POST /oauth/token``: ``grant_type=client_credentials`` with the client
      authenticated by HTTP Basic -> ``{access_token, token_type: "Bearer",
      expires_in}``; 401 ``invalid_client`` for unknown credentials.
    - ``GET /_admin/tokens``: ``{ttl, requests, issued, active}``; ``PUT`` with
      ``{"ttl": 1}`` sets the lifetime of tokens issued from then on; ``DELETE``
      revokes every token issued.
    - ``GET|PUT|DELETE /_admin/tokens/faults``: the token endpoint's own fault plan,
      in the shared vocabulary.

    ``app.state.tokens`` is the `TokenStore`, for tests that look for issued tokens
    where they must not be.

    Args:
        seed: The world's seed.
        citizens: How many citizens the world holds.
        faults: A fault plan on the register in force from the start.
        token_ttl: The lifetime of access tokens, in seconds.
    """
    world = World(seed, citizens)
    tokens = TokenStore(token_ttl)
    register = _Register(world, tokens)
    routes = [
        Route("/v1/enterprises/{code}", register.enterprise, methods=["GET"]),
        Route("/v1/enterprises", register.search, methods=["GET"]),
        Route("/v1/health", register.health, methods=["GET"]),
    ]
    api = mock_app(world=world, profile=PROFILE, routes=routes, faults=faults)
    authority = Authority(world, tokens, {DEMO_CLIENT_ID: DEMO_CLIENT_SECRET})
    app = Starlette(
        routes=[
            Route(OAUTH_PATH, authority, methods=["POST"]),
            *authority.admin_routes(),
            Mount("", app=api),
        ]
    )
    app.state.tokens = tokens
    return app
