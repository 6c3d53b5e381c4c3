"""The outbound HTTP layer: request ids out, size limits back."""

import gzip
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hub._config import SourceSettings
from hub._http import ACCEPT_ENCODING, USER_AGENT, _HubClient, build_client, current_request_id
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


def _vanilla(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
        timeout=httpx.Timeout(3.0, connect=1.0),
    )


@pytest.mark.parametrize("base_url", ["http://up.example", "https://up.example/api/v1"])
@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/units/1234567", None),
        ("/units/ab cd/é", {"q": "Nguyễn Văn A", "n": 2}),
        ("/search?x=1&y=%20", {"z": "3"}),
        ("https://other.example/token", None),
        ("relative/path", None),
        ("/page#frag", None),
    ],
)
def test_requests_are_built_as_httpx_builds_them(base_url, url, params):
    """URL, query, headers and timeout extension are those httpx's own client builds."""
    ours = build_client(
        SourceSettings(url=base_url, attempt_timeout=3, connect_timeout=1), source="s"
    )
    theirs = _vanilla(base_url)
    built = ours.build_request("GET", url, params=params, headers={"X-Api-Key": "k"})
    expected = theirs.build_request("GET", url, params=params, headers={"X-Api-Key": "k"})
    assert built.url == expected.url
    assert list(built.headers.items()) == list(expected.headers.items())
    assert built.extensions["timeout"] == expected.extensions["timeout"]


def _mock_client(handler) -> httpx.AsyncClient:
    return _HubClient(
        base_url="http://up.example", transport=httpx.MockTransport(handler), follow_redirects=False
    )


async def test_a_redirect_is_returned_not_followed():
    """A 3xx answer comes back as it is; the hub does not follow redirects."""
    seen = []

    def handler(request):
        seen.append(request.url.path)
        return httpx.Response(302, headers={"Location": "/elsewhere"})

    async with _mock_client(handler) as client:
        response = await client.get("/here")
    assert (response.status_code, seen) == (302, ["/here"])


async def test_cookies_an_upstream_sets_are_not_sent_back():
    """A Set-Cookie from one answer travels with no later request."""
    cookies = []

    def handler(request):
        cookies.append(request.headers.get("Cookie"))
        return httpx.Response(200, headers={"Set-Cookie": "session=abc; Path=/"})

    async with _mock_client(handler) as client:
        await client.get("/one")
        await client.get("/two")
    assert cookies == [None, None]


async def test_an_auth_argument_still_runs_its_flow():
    """A request given auth (the token endpoint's client credentials) is authenticated."""

    def handler(request):
        return httpx.Response(200, json={"authorization": request.headers.get("Authorization")})

    async with _mock_client(handler) as client:
        response = await client.post("/token", auth=httpx.BasicAuth("id", "secret"))
    assert response.json()["authorization"].startswith("Basic ")


async def test_a_transport_error_names_its_request():
    """A connection failure raised by the transport carries the request, as httpx's does."""

    def handler(request):
        raise httpx.ConnectError("refused")

    async with _mock_client(handler) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.get("/down")
    assert caught.value.request.url == "http://up.example/down"
