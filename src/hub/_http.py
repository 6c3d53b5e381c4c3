"""Outbound HTTP: one pooled httpx client per source.

Connectors see httpx (and zeep on top of it). Under it the hub puts the aiohttp
transport of `httpx-aiohttp` by default: httpx's own async pool loses most of its
throughput under concurrency on a small machine (bench/http_transports.py measures
both). ``transport = "native"`` in a source's settings selects httpx's own.

Every request leaves with the call's ``X-Request-ID``, and every answer is cut off
at the source's ``max_response_bytes``, whatever the connector does with it.

The client sends a request straight through its transport: the hub uses none of
what httpx's client layer adds around it (cookie persistence, auth flows, event
hooks, following redirects), and that layer cost as much CPU per look-up as the
transport itself. A request that does ask for one of them (an ``auth`` argument, a
cookie, a per-request timeout ...) takes httpx's own path.
"""

from __future__ import annotations

import contextvars
import ssl
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_aiohttp import AiohttpTransport

from hub._config import SourceSettings
from hub.errors import UpstreamError

__all__ = ["build_client", "current_request_id"]

#: The request id of the call in progress, set by the hub around each attempt.
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "hub_request_id", default=None
)

USER_AGENT = "lienthong/0.1"
#: What the hub accepts, and inflates itself under the size limit.
ACCEPT_ENCODING = "gzip, deflate"
_ENCODINGS = frozenset({"identity", "gzip", "x-gzip", "deflate"})


class _LimitedStream(httpx.AsyncByteStream):
    """An answer body that fails once it grows past the limit, before it fills memory.

    A compressed body is inflated here, bounded, and the limit counts what it inflates
    to: a few hundred kilobytes of gzip can hold a hundred megabytes.
    """

    def __init__(
        self, inner: httpx.AsyncByteStream, limit: int, source: str, *, compressed: bool
    ) -> None:
        self._inner = inner
        self._limit = limit
        self._source = source
        # wbits 32 + 15: a gzip or a zlib header, whichever the upstream sent.
        self._inflater = zlib.decompressobj(32 + zlib.MAX_WBITS) if compressed else None

    def _too_large(self) -> UpstreamError:
        return UpstreamError(
            f"the upstream's answer exceeds {self._limit} bytes", source=self._source
        )

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._inner:
            pending = chunk
            while pending:
                if self._inflater is None:
                    piece, pending = pending, b""
                else:
                    try:
                        piece = self._inflater.decompress(pending, self._limit - size + 1)
                    except zlib.error:
                        raise UpstreamError(
                            "the upstream's compressed answer is corrupt", source=self._source
                        ) from None
                    pending = self._inflater.unconsumed_tail
                size += len(piece)
                if size > self._limit:
                    raise self._too_large()
                if piece:
                    yield piece

    async def aclose(self) -> None:
        await self._inner.aclose()


class _HubTransport(httpx.AsyncBaseTransport):
    """Adds the request id on the way out and the size limit on the way back."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, limit: int, source: str) -> None:
        self._inner = inner
        self._limit = limit
        self._source = source

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request_id = current_request_id.get()
        if request_id is not None:
            request.headers["X-Request-ID"] = request_id
        response = await self._inner.handle_async_request(request)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._limit:
            await response.aclose()
            raise UpstreamError(
                f"the upstream's answer exceeds {self._limit} bytes", source=self._source
            )
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in _ENCODINGS:
            await response.aclose()
            raise UpstreamError(
                "the upstream answered in an encoding it was not offered", source=self._source
            )
        assert isinstance(response.stream, httpx.AsyncByteStream)
        compressed = encoding != "identity"
        response.stream = _LimitedStream(
            response.stream, self._limit, self._source, compressed=compressed
        )
        if compressed:
            # Inflated here; httpx must not inflate it again.
            del response.headers["Content-Encoding"]
            response.headers.pop("Content-Length", None)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _HubClient(httpx.AsyncClient):
    """httpx's client, sending each request straight through the source's transport.

    Everything the hub relies on lives in the transport: TLS and mTLS, the pool,
    timeouts (carried in the request's ``timeout`` extension), the request id, the
    size limit and decompression. Redirects are not followed (a 3xx answer is
    returned as it is, as ``follow_redirects=False`` does) and cookies an upstream
    sets are not kept: no upstream is a browser session, and a cookie must not carry
    state from one citizen's look-up to the next.
    """

    def __init__(self, *, transport: httpx.AsyncBaseTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        # No proxies and no mounts: every request goes to this one transport.
        self._outbound = transport
        # What a path starting with "/" is appended to; httpx keeps the base URL's path
        # ending in "/", though it prints a bare host without it.
        base = self.base_url
        self._base: str | None = None
        if base.is_absolute_url and not base.query and not base.fragment:
            self._base = str(base).removesuffix("/") + "/"

    def build_request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        content: Any = None,
        data: Any = None,
        files: Any = None,
        json: Any = None,
        params: Any = None,
        headers: Any = None,
        cookies: Any = None,
        timeout: Any = httpx.USE_CLIENT_DEFAULT,
        extensions: Any = None,
    ) -> httpx.Request:
        """A request on the source's base URL, with the client's headers and timeout."""
        full = self._joined(url)
        if (
            full is None
            or files is not None
            or cookies is not None
            or extensions is not None
            or timeout is not httpx.USE_CLIENT_DEFAULT
            or self.params
            or self.cookies
        ):
            return super().build_request(
                method,
                url,
                content=content,
                data=data,
                files=files,
                json=json,
                params=params,
                headers=headers,
                cookies=cookies,
                timeout=timeout,
                extensions=extensions,
            )
        merged = httpx.Headers(self.headers)
        if headers is not None:
            merged.update(headers)
        return httpx.Request(
            method,
            full,
            content=content,
            data=data,
            json=json,
            params=params,
            headers=merged,
            extensions={"timeout": self.timeout.as_dict()},
        )

    def _joined(self, url: httpx.URL | str) -> str | None:
        """The absolute URL of ``url``, parsed once; None when httpx must merge it."""
        if not isinstance(url, str) or "#" in url:
            return None
        if url.startswith(("http://", "https://")):
            return url
        if self._base is not None and url.startswith("/") and not url.startswith("//"):
            return self._base + url[1:]
        return None

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        """Send one request through the transport and read its answer (unless ``stream``)."""
        if (auth is not httpx.USE_CLIENT_DEFAULT and auth is not None) or follow_redirects is True:
            return await super().send(
                request, stream=stream, auth=auth, follow_redirects=follow_redirects
            )
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        if "timeout" not in request.extensions:
            request.extensions = {**request.extensions, "timeout": self.timeout.as_dict()}
        try:
            response = await self._outbound.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        response.request = request
        if not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response


def _ssl_context(settings: SourceSettings) -> ssl.SSLContext | bool:
    tls = settings.tls
    if not tls.verify:
        return False
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.client_cert is not None:
        password = tls.client_key_password.get_secret_value() if tls.client_key_password else None
        context.load_cert_chain(
            str(tls.client_cert),
            str(tls.client_key) if tls.client_key else None,
            password=password,
        )
    return context


def build_client(settings: SourceSettings, *, source: str) -> httpx.AsyncClient:
    """The pooled client of one source: base URL, limits, TLS, timeouts, guards."""
    limits = httpx.Limits(
        max_connections=settings.limits.max_connections,
        max_keepalive_connections=settings.limits.max_keepalive,
    )
    verify = _ssl_context(settings)
    inner: httpx.AsyncBaseTransport
    if settings.transport == "aiohttp":
        inner = AiohttpTransport(verify=verify, limits=limits, trust_env=False)
    else:
        inner = httpx.AsyncHTTPTransport(verify=verify, limits=limits, trust_env=False)
    timeout = httpx.Timeout(
        settings.attempt_timeout, connect=settings.connect_timeout, pool=settings.attempt_timeout
    )
    return _HubClient(
        base_url=settings.url,
        transport=_HubTransport(inner, limit=settings.limits.max_response_bytes, source=source),
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
        trust_env=False,
        follow_redirects=False,
    )
