"""The outbound HTTP layer: request ids out, size limits back."""

import gzip
import json

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hub._config import SourceSettings
from hub._http import build_client, current_request_id
from hub._serving import ServedApp
from hub.errors import UpstreamError


async def echo(request):
    return JSONResponse({"request_id": request.headers.get("x-request-id")})


async def big(request):
    async def body():
        for _ in range(64):
            yield b"x" * 65536

    return StreamingResponse(body(), media_type="application/json")


async def declared(request):
    return JSONResponse({"blob": "x" * 5000})


async def zipped(request):
    body = gzip.compress(json.dumps({"blob": "y" * 5000}).encode())
    return Response(body, media_type="application/json", headers={"Content-Encoding": "gzip"})


async def brotli(request):
    return Response(b"...", media_type="application/json", headers={"Content-Encoding": "br"})


@pytest.fixture(scope="module")
def server():
    app = Starlette(
        routes=[
            Route("/echo", echo),
            Route("/big", big),
            Route("/declared", declared),
            Route("/zipped", zipped),
            Route("/brotli", brotli),
        ]
    )
    with ServedApp(app) as served:
        yield served


@pytest.mark.parametrize("transport", ["aiohttp", "native"])
async def test_request_id_travels_to_the_upstream(server, transport):
    """The call's request id leaves as X-Request-ID on either transport."""
    settings = SourceSettings(url=server.url, transport=transport)
    token = current_request_id.set("req-123")
    try:
        async with build_client(settings, source="s") as client:
            response = await client.get("/echo")
    finally:
        current_request_id.reset(token)
    assert response.json() == {"request_id": "req-123"}


@pytest.mark.parametrize("transport", ["aiohttp", "native"])
async def test_an_oversized_streamed_answer_is_cut_off(server, transport):
    """A 4 MiB body against a 1 MiB limit fails as UpstreamError while streaming."""
    settings = SourceSettings(
        url=server.url, transport=transport, limits={"max_response_bytes": 1024 * 1024}
    )
    async with build_client(settings, source="s") as client:
        with pytest.raises(UpstreamError, match="exceeds"):
            await client.get("/big")


async def test_a_declared_length_over_the_limit_is_refused_before_reading(server):
    """Content-Length above the limit is refused without reading the body."""
    settings = SourceSettings(url=server.url, limits={"max_response_bytes": 1024})
    async with build_client(settings, source="s") as client:
        with pytest.raises(UpstreamError):
            await client.get("/declared")


async def test_nothing_is_sent_without_a_call_in_progress(server):
    """Outside a call there is no request id header to send."""
    async with build_client(SourceSettings(url=server.url), source="s") as client:
        response = await client.get("/echo")
    assert response.json() == {"request_id": None}


@pytest.mark.parametrize("transport", ["aiohttp", "native"])
async def test_a_gzipped_answer_is_inflated_and_counted_inflated(server, transport):
    """A gzip answer reads as JSON; inflated past the limit it fails, though small on the wire."""
    settings = SourceSettings(url=server.url, transport=transport)
    async with build_client(settings, source="s") as client:
        assert (await client.get("/zipped")).json() == {"blob": "y" * 5000}
    small = SourceSettings(url=server.url, transport=transport, limits={"max_response_bytes": 1024})
    async with build_client(small, source="s") as client:
        with pytest.raises(UpstreamError, match="exceeds"):
            await client.get("/zipped")


async def test_an_encoding_not_offered_is_refused(server):
    """Brotli was not offered: the answer is an UpstreamError, not a guess."""
    async with build_client(SourceSettings(url=server.url), source="s") as client:
        with pytest.raises(UpstreamError, match="encoding"):
            await client.get("/brotli")
