"""The population mock: the national population database's SOAP service on synthetic citizens."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hub.mocks._common import MockProfile, mock_app
from hub.mocks._world import World
from hub.mocks.population import _operations, _soap
from hub.mocks.population._faults import HostileXmlEntry, SoapFaultEntry

PROFILE = MockProfile(
    name="population",
    content_type=_soap.CONTENT_TYPE,
    malformed_body=(
        b'<?xml version="1.0" encoding="utf-8"?>\n'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<soap:Body><tns:TraCuuCongDanKetQua xmlns:tns="urn:lienthong:dancu:1">'
        b"<tns:MaYeuCau>\xff\xfe<<tns:CongDan></soap:Body>"
    ),
    oversized_prefix=(
        b'<?xml version="1.0" encoding="utf-8"?>\n'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<soap:Body><tns:TraCuuCongDanKetQua xmlns:tns="urn:lienthong:dancu:1">'
        b"<tns:MaYeuCau>"
    ),
    sample_kind="citizen",
    fault_kinds=(SoapFaultEntry, HostileXmlEntry),
)
_WSDL_CACHE_SIZE = 16


class _Service:
    """The ``/dancu`` endpoint: the WSDL and XSD by GET, the two operations by POST."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._wsdl: dict[str, bytes] = {}

    async def handle(self, request: Request) -> Response:
        if request.method == "GET":
            return self._document(request)
        try:
            body = await self._body(request)
            if not request.headers.get("content-type", "").startswith("text/xml"):
                raise _soap.SoapFault("YeuCauKhongHopLe", "SOAP 1.1 cần Content-Type text/xml")
            operation, element = _soap.parse_request(body, request.headers.get("soapaction"))
            request_id = _soap.text(element, "MaYeuCau") or ""
            if operation == "TraCuuCongDan":
                citizen = _operations.look_up(self.world, element)
                answer = _soap.lookup_answer(request_id, citizen)
            else:
                answer = _soap.verify_answer(request_id, _operations.verify(self.world, element))
        except _soap.SoapFault as fault:
            return Response(_soap.fault_answer(fault), 500, media_type=_soap.CONTENT_TYPE)
        except ClientDisconnect:
            # The client gave up (a latency fault outlasted its timeout): nobody to answer.
            return Response(status_code=499)
        return Response(answer, media_type=_soap.CONTENT_TYPE)

    @staticmethod
    async def _body(request: Request) -> bytes:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > _soap.MAX_REQUEST_BYTES:
                raise _soap.SoapFault("YeuCauKhongHopLe", "Yêu cầu quá lớn")
        return bytes(body)

    def _document(self, request: Request) -> Response:
        if "wsdl" in request.query_params:
            base = f"{request.url.scheme}://{request.url.netloc}"
            wsdl = self._wsdl.get(base)
            if wsdl is None:
                wsdl = _soap.wsdl_for(base)
                if len(self._wsdl) < _WSDL_CACHE_SIZE:
                    self._wsdl[base] = wsdl
            return Response(wsdl, media_type=_soap.CONTENT_TYPE)
        if request.query_params.get("xsd") == "population.xsd":
            return Response(_soap.xsd(), media_type=_soap.CONTENT_TYPE)
        return PlainTextResponse("GET /dancu?wsdl for the contract; POST SOAP requests", 404)


def hub_settings(base_url: str) -> dict[str, Any]:
    """The ``[sources.population]`` table that points a hub at this mock served at ``base_url``."""
    return {"url": f"{base_url}/dancu"}


def create_app(
    *, seed: int = 1, citizens: int = 10_000, faults: list[dict[str, Any]] | None = None
) -> Starlette:
    """The population mock as an ASGI app.

    ``POST /dancu`` answers TraCuuCongDan and XacThucCongDan (SOAP 1.1, document/literal,
    as ``src/hub/schemas/population/population.wsdl`` describes); ``GET /dancu?wsdl`` serves the
    WSDL with its address pointing at this server, ``GET /dancu?xsd=population.xsd`` the
    schema. Besides the shared faults it declares ``soap_fault`` (``{"kind":
    "soap_fault", "fault": "LoiHeThong"}``) and ``hostile_xml`` (``"variant"``: ``dtd``,
    ``entity_expansion`` or ``external_entity``).

    Args:
        seed: The world's seed.
        citizens: How many citizens the world holds.
        faults: A fault plan in force from the start.
    """
    world = World(seed, citizens)
    routes = [Route("/dancu", _Service(world).handle, methods=["GET", "POST"])]
    return mock_app(world=world, profile=PROFILE, routes=routes, faults=faults)
