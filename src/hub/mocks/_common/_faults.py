"""Fault injection: the plan (validated entries), the draw per request, and the built-in kinds.

A fault plan is a list of entries. On each protocol request the plan is walked in
order: every firing ``latency`` entry adds its delay, and the first firing entry of any
other kind answers the request in place of the mock (later answering entries are not
tried, so they neither fire nor spend their count). An entry with ``count`` fires on
that many requests and is then removed; one with ``rate`` fires with that probability,
drawn from a generator seeded by the entry's ``seed`` or the mock's, so a failing run
replays; one with both fires with that probability until it has fired ``count`` times;
one with neither holds until the plan is cleared.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ConnectionDropped(Exception):
    """Raised inside a request to make the server close the connection mid-answer."""


class _HideDroppedConnections(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


@functools.cache
def quiet_dropped_connections() -> None:
    """Keep uvicorn from logging a deliberately dropped connection as an application error."""
    logging.getLogger("uvicorn.error").addFilter(_HideDroppedConnections())


@dataclass(frozen=True)
class MockProfile:
    """What the shared machinery needs to know about one mock's protocol.

    Args:
        name: The mock's name ("population").
        content_type: The content type of its answers.
        malformed_body: Garbage in that content type, for the ``malformed`` fault.
        oversized_prefix: The start of a plausible answer, for the ``oversized`` fault.
        sample_kind: The default kind of ``GET /_admin/sample``.
        fault_kinds: Fault kinds of its own, subclasses of `FaultEntry`.
    """

    name: str
    content_type: str
    malformed_body: bytes
    oversized_prefix: bytes
    sample_kind: str
    fault_kinds: tuple[type[FaultEntry], ...] = ()


@dataclass(frozen=True)
class Captured:
    """The answer the mock would have given."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass
class FaultCall:
    """One request a fault answers: the ASGI triple, the mock behind it and its profile."""

    scope: Scope
    receive: Receive
    send: Send
    app: ASGIApp
    profile: MockProfile

    async def respond(self, response: Response) -> None:
        """Answer with ``response``."""
        await response(self.scope, self.receive, self.send)

    async def capture(self) -> Captured:
        """Run the mock and keep its answer instead of sending it."""
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        await self.app(self.scope, self.receive, keep)
        start = messages[0]
        body = b"".join(m.get("body", b"") for m in messages[1:])
        return Captured(start["status"], list(start.get("headers", [])), body)

    async def start(self, captured: Captured) -> None:
        """Send the status line and headers of a captured answer."""
        await self.send(
            {"type": "http.response.start", "status": captured.status, "headers": captured.headers}
        )

    async def until_disconnect(self) -> None:
        """Return when the client has gone."""
        while (await self.receive())["type"] != "http.disconnect":
            pass

    async def send_body(self, chunks: Iterable[bytes], bytes_per_second: int | None = None) -> None:
        """Send a body chunk by chunk, paced if asked, and stop as soon as the client goes.

        Once the client has gone the server drops whatever is sent, so an unwatched loop
        would go on producing a huge or slow body for nobody.
        """
        gone = asyncio.ensure_future(self.until_disconnect())
        try:
            for chunk in chunks:
                await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
                pause = 0.0 if bytes_per_second is None else len(chunk) / bytes_per_second
                done, _ = await asyncio.wait({gone}, timeout=pause)
                if done:
                    return
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()


class FaultEntry(BaseModel):
    """One entry of a fault plan. Subclasses add ``kind`` (a Literal) and their fields.

    A mock declares kinds of its own by subclassing this and listing them in its
    `MockProfile`; `apply` answers the request.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int | None = Field(default=None, ge=1)
    rate: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None

    answers: ClassVar[bool] = True

    async def apply(self, call: FaultCall) -> None:
        """Answer the request (or fail to, on purpose)."""
        raise NotImplementedError


class LatencyFault(FaultEntry):
    """Adds ``ms`` milliseconds before the answer; composes with every other fault."""

    kind: Literal["latency"]
    ms: int = Field(ge=1, le=600_000)

    answers: ClassVar[bool] = False


class StatusFault(FaultEntry):
    """An HTTP error status, with a Retry-After header when ``retry_after`` is given."""

    kind: Literal["status"]
    status: int = Field(ge=400, le=599)
    retry_after: int | None = Field(default=None, ge=0)

    async def apply(self, call: FaultCall) -> None:
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Error"
        await call.respond(PlainTextResponse(f"{self.status} {reason}", self.status, headers))


class ResetFault(FaultEntry):
    """The connection is dropped once the status line and headers are out."""

    kind: Literal["reset"]

    async def apply(self, call: FaultCall) -> None:
        await call.start(await call.capture())
        raise ConnectionDropped


class TimeoutFault(FaultEntry):
    """No answer at all: the request is held until the client gives up."""

    kind: Literal["timeout"]

    async def apply(self, call: FaultCall) -> None:
        await call.until_disconnect()


class MalformedFault(FaultEntry):
    """A 200 answer of the right content type whose body is garbage."""

    kind: Literal["malformed"]

    async def apply(self, call: FaultCall) -> None:
        profile = call.profile
        await call.respond(Response(profile.malformed_body, media_type=profile.content_type))


class TruncatedFault(FaultEntry):
    """The real answer, cut: Content-Length promises more than is sent, then the close."""

    kind: Literal["truncated"]

    async def apply(self, call: FaultCall) -> None:
        captured = await call.capture()
        await call.start(captured)
        half = captured.body[: len(captured.body) // 2]
        await call.send({"type": "http.response.body", "body": half, "more_body": True})
        raise ConnectionDropped


class WrongContentTypeFault(FaultEntry):
    """A 200 HTML page (a proxy's maintenance page) where the protocol's answer belongs."""

    kind: Literal["wrong_content_type"]

    async def apply(self, call: FaultCall) -> None:
        page = (
            "<!DOCTYPE html><html><head><title>Bảo trì hệ thống</title></head>"
            "<body><h1>Hệ thống đang bảo trì</h1><p>Vui lòng thử lại sau.</p></body></html>"
        )
        await call.respond(HTMLResponse(page))


class OversizedFault(FaultEntry):
    """A huge 200 answer, streamed in chunks, never built in memory.

    Without ``declare_length`` it is sent chunked, so only a client that counts what it
    reads can stop it; with it, Content-Length announces the size up front. With
    ``content_encoding: "gzip"`` the answer is compressed on the wire (always chunked): a
    decompression bomb, a few hundred kilobytes that inflate to ``bytes``, which only a
    client that counts what it decodes can stop.
    """

    kind: Literal["oversized"]
    bytes: int = Field(default=20_000_000, ge=1, le=10**11)
    declare_length: bool = False
    content_encoding: Literal["gzip"] | None = None

    @model_validator(mode="after")
    def _length_of_what_is_sent(self) -> OversizedFault:
        if self.declare_length and self.content_encoding is not None:
            raise ValueError("declare_length cannot announce the size of a compressed answer")
        return self

    async def apply(self, call: FaultCall) -> None:
        headers = [(b"content-type", call.profile.content_type.encode())]
        body = _filler(call.profile.oversized_prefix, self.bytes)
        if self.content_encoding == "gzip":
            headers.append((b"content-encoding", b"gzip"))
            body = _chunked(_gzipped(call.profile.oversized_prefix, self.bytes))
        elif self.declare_length:
            headers.append((b"content-length", str(self.bytes).encode()))
        await call.start(Captured(200, headers, b""))
        await call.send_body(body)


def _filler(prefix: bytes, size: int) -> Iterator[bytes]:
    """``size`` bytes: the prefix, then spaces, 64 KiB at a time."""
    head = prefix[:size]
    yield head
    chunk = b" " * 65536
    left = size - len(head)
    while left > 0:
        yield chunk[:left]
        left -= len(chunk)


@functools.lru_cache(maxsize=4)
def _gzipped(prefix: bytes, size: int) -> bytes:
    """The filler of ``size`` bytes, gzipped: about a thousandth of its size.

    Compressing 100 MB takes most of a second, so a bomb is made once and kept.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: gzip framing
    parts = [compressor.compress(chunk) for chunk in _filler(prefix, size)]
    parts.append(compressor.flush())
    return b"".join(parts)


def _chunked(body: bytes, size: int = 65536) -> Iterator[bytes]:
    """``body`` in pieces of ``size`` bytes."""
    for offset in range(0, len(body), size):
        yield body[offset : offset + size]


class DripFault(FaultEntry):
    """The real answer, sent at ``bytes_per_second``; abandoned when the client goes."""

    kind: Literal["drip"]
    bytes_per_second: int = Field(ge=1, le=10_000_000)

    async def apply(self, call: FaultCall) -> None:
        captured = await call.capture()
        await call.start(captured)
        step = max(1, self.bytes_per_second // 10)
        body = captured.body
        chunks = (body[offset : offset + step] for offset in range(0, len(body), step))
        await call.send_body(chunks, self.bytes_per_second)


class NestedFault(FaultEntry):
    """A 200 answer nested ``depth`` levels deep, in the protocol's content type.

    JSON protocols get arrays within arrays (``[[[...]]]``), XML ones elements within
    elements (``<a><a>...</a></a>``): a parser that recurses without a limit runs out of
    stack on it. The body is streamed, never built in memory.
    """

    kind: Literal["nested"]
    depth: int = Field(default=100_000, ge=1, le=10_000_000)

    async def apply(self, call: FaultCall) -> None:
        content_type = call.profile.content_type
        headers = [(b"content-type", content_type.encode())]
        await call.start(Captured(200, headers, b""))
        opening, closing = (b"<a>", b"</a>") if "xml" in content_type else (b"[", b"]")
        await call.send_body(_nested(opening, closing, self.depth))


def _nested(opening: bytes, closing: bytes, depth: int) -> Iterator[bytes]:
    """``depth`` openings then as many closings, at most 8,192 of them a chunk."""
    for token in (opening, closing):
        left = depth
        while left > 0:
            run = min(left, 8192)
            yield token * run
            left -= run


BUILT_IN_KINDS: tuple[type[FaultEntry], ...] = (
    LatencyFault,
    StatusFault,
    ResetFault,
    TimeoutFault,
    MalformedFault,
    TruncatedFault,
    WrongContentTypeFault,
    OversizedFault,
    DripFault,
    NestedFault,
)


class PlanError(ValueError):
    """An invalid fault plan; ``errors`` name each bad field (``faults[0].status``)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


@functools.cache
def _adapter(kinds: tuple[type[FaultEntry], ...]) -> TypeAdapter[list[FaultEntry]]:
    entry = Annotated[Union[kinds], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007
    return TypeAdapter(list[entry])


def _kind_of(model: type[FaultEntry]) -> str:
    annotation: Any = model.model_fields["kind"].annotation
    return str(annotation.__args__[0])


def parse_plan(data: object, extra_kinds: Sequence[type[FaultEntry]] = ()) -> list[FaultEntry]:
    """Validate a fault plan: one entry (an object) or a list of them.

    Args:
        data: The plan as decoded from JSON.
        extra_kinds: The mock's own fault kinds, beside the built-in ones.

    Raises:
        PlanError: naming every invalid field.
    """
    kinds = (*BUILT_IN_KINDS, *extra_kinds)
    entries = [data] if isinstance(data, dict) else data
    try:
        return _adapter(kinds).validate_python(entries)
    except ValidationError as exc:
        tags = {_kind_of(kind) for kind in kinds}
        errors = []
        for error in exc.errors(include_url=False, include_input=False):
            location = list(error["loc"])
            name = "faults"
            if location:
                name = f"faults[{location[0]}]"
                rest = [str(part) for part in location[1:]]
                if rest and rest[0] in tags:
                    rest = rest[1:]
                if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                    rest = ["kind"]
                name = ".".join([name, *rest])
            errors.append({"field": name, "message": error["msg"]})
        raise PlanError(errors) from None


@dataclass
class _Active:
    entry: FaultEntry
    remaining: int | None
    rng: random.Random


class FaultPlan:
    """The faults in force, consumed request by request.

    Args:
        entries: Validated entries, in order.
        seed: The mock's seed, for entries without a seed of their own.
    """

    def __init__(self, entries: Sequence[FaultEntry], seed: int) -> None:
        self._active = [
            _Active(
                entry,
                entry.count,
                random.Random(f"{seed if entry.seed is None else entry.seed}:{position}"),
            )
            for position, entry in enumerate(entries)
        ]

    def draw(self) -> tuple[float, FaultEntry | None]:
        """For one request: the added latency in seconds, and the entry that answers it."""
        delay = 0.0
        answer: FaultEntry | None = None
        for active in list(self._active):
            entry = active.entry
            if answer is not None and entry.answers:
                continue
            if entry.rate is not None and active.rng.random() >= entry.rate:
                continue
            if active.remaining is not None:
                active.remaining -= 1
                if active.remaining == 0:
                    self._active.remove(active)
            if isinstance(entry, LatencyFault):
                delay += entry.ms / 1000
            else:
                answer = entry
        return delay, answer

    def describe(self) -> list[dict[str, object]]:
        """The entries in force, as JSON, with the requests left to ``count`` entries."""
        described = []
        for active in self._active:
            entry: dict[str, object] = active.entry.model_dump(exclude_none=True)
            if active.remaining is not None:
                entry["remaining"] = active.remaining
            described.append(entry)
        return described
