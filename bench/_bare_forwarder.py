"""The least a look-up service does, the sidecar's yardstick.

    python -m bench._bare_forwarder CONFIG PORT

It answers the sidecar's ``POST /v1/sources/{population,budget_unit}/lookup`` for the
clients and sources of the sidecar's CONFIG: checks the bearer key, reads the JSON body,
calls the mock with aiohttp (SOAP, or REST with its key), parses the answer with lxml
(json for REST) and answers the record as JSON. Without the hub's validation, rules,
resilience, minimisation and audit: what the sidecar costs beyond this is the hub.
"""

import hashlib
import sys
import tomllib
from typing import Any
from xml.sax.saxutils import escape

import aiohttp
import uvloop
from aiohttp import web
from lxml import etree

NS = "urn:lienthong:dancu:1"
SOAP_LOOKUP = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/">'
    f'<soap-env:Body><ns0:TraCuuCongDan xmlns:ns0="{NS}">'
    "<ns0:MaDonVi>bench</ns0:MaDonVi><ns0:MaYeuCau>bench</ns0:MaYeuCau>"
    "<ns0:SoDinhDanh>{key}</ns0:SoDinhDanh>"
    "</ns0:TraCuuCongDan></soap-env:Body></soap-env:Envelope>"
)
SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{NS}#TraCuuCongDan"'}
PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
HTTP = web.AppKey("http", aiohttp.ClientSession)


def as_data(element: Any) -> Any:
    """A leaf's text, or the element's children by local name."""
    if len(element) == 0:
        return element.text
    return {etree.QName(child).localname: as_data(child) for child in element}


async def population(http: aiohttp.ClientSession, source: dict[str, Any], query: Any) -> Any:
    envelope = SOAP_LOOKUP.format(key=escape(query["national_id"]))
    async with http.post(source["url"], data=envelope, headers=SOAP_HEADERS) as response:
        answer = etree.fromstring(await response.read(), PARSER)
    citizen = answer.find(f".//{{{NS}}}CongDan")
    if citizen is None:
        unknown = answer.find(f".//{{{NS}}}KhongTimThay") is not None
        raise web.HTTPNotFound if unknown else web.HTTPBadGateway
    return as_data(citizen)


async def budget_unit(http: aiohttp.ClientSession, source: dict[str, Any], query: Any) -> Any:
    url = f"{source['url']}/v1/units/{query['code']}"
    async with http.get(url, headers={"X-Api-Key": source["api_key"]}) as response:
        if response.status != 200:
            raise web.HTTPNotFound if response.status == 404 else web.HTTPBadGateway
        return await response.json()


def create_app(config: dict[str, Any]) -> web.Application:
    keys = {client["key_sha256"] for client in config["clients"].values()}
    sources = config["sources"]
    lookups = {"population": population, "budget_unit": budget_unit}

    async def lookup(request: web.Request) -> web.Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if hashlib.sha256(bearer.encode()).hexdigest() not in keys:
            raise web.HTTPUnauthorized
        name = request.match_info["source"]
        if name not in sources or name not in lookups:
            raise web.HTTPNotFound
        body = await request.json()
        record = await lookups[name](request.app[HTTP], sources[name], body["query"])
        return web.json_response({"source": name, "record": record})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def pooled_client(app: web.Application) -> Any:
        # The hub's default pool for one source.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as http:
            app[HTTP] = http
            yield

    app = web.Application()
    app.router.add_post("/v1/sources/{source}/lookup", lookup)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(pooled_client)
    return app


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as file:
        app = create_app(tomllib.load(file))
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[2]),
        loop=uvloop.new_event_loop(),
        print=None,
        access_log=None,
    )
