"""Hostile answers: each refused safely, within the deadline, with memory bounded.

XML that declares a DTD, expands entities or names a local file; a 100 MB body, plain
or as a decompression bomb; JSON (and XML) nested 100,000 deep; ID tokens unsigned or
signed by a stranger. Memory is the process's peak resident size (``VmHWM``), reset
before each case; the mocks share the process, which only makes the bound stricter.
A body that drips a byte a second is cut by the deadline: see the fault matrix.
"""

from __future__ import annotations

import gzip
from collections.abc import Awaitable
from typing import Any

import httpx
import orjson
import pytest
from lxml import etree

from hub.audit import Outcome
from hub.errors import HubError, Unauthenticated, UpstreamError
from hub.testing import LeakCheck
from tests._helpers import PURPOSE
from tests.reliability.conftest import (
    LOOKUP_SOURCES,
    MEMORY_BOUND,
    PATIENT,
    Hubs,
    Probe,
    Upstream,
    bounded,
    peak_memory_growth,
    vneid_login,
)
from tests.reliability.test_fault_matrix import lookup_query

pytestmark = pytest.mark.asyncio(loop_scope="module")

HUNDRED_MB = 100_000_000
MB = 1024 * 1024
#: The mock takes most of a second to make a 100 MB bomb (once; then it keeps it): an
#: attempt timeout that outlasts it, so that the hub meets the bomb, not a slow mock.
BOMB: dict[str, Any] = {"deadline": 10.0, "attempt_timeout": 5.0}


async def refused(
    probe: Probe,
    upstream: Upstream,
    plan: dict[str, Any],
    leaks: LeakCheck,
    *,
    query: dict[str, Any] | None = None,
    credential: dict[str, Any] | None = None,
    timing: dict[str, Any] = PATIENT,
) -> tuple[HubError, int]:
    """The hub's error for the call under ``plan``, and the peak memory growth meanwhile."""
    source = upstream.name
    before = len(probe.entries)

    def call() -> Awaitable[Any]:
        if credential is not None:
            return probe.hub.authenticate(source, credential, purpose=PURPOSE)
        return probe.hub.lookup(source, query or {}, purpose=PURPOSE)

    with upstream.faulted(plan), peak_memory_growth() as growth:
        with pytest.raises(HubError) as caught:
            await bounded(call(), timing)
        grown = growth()
    error = caught.value
    leaks.add(error.detail)
    assert len(probe.entries) == before + 1
    outcome = Outcome.DENIED if isinstance(error, Unauthenticated) else Outcome.FAILED
    assert probe.entries[-1].outcome is outcome
    assert error.audit_id
    return error, grown


async def call_under(
    source: str,
    plan: dict[str, Any],
    hubs: Hubs,
    upstreams: dict[str, Upstream],
    browser: httpx.Client,
    leaks: LeakCheck,
    timing: dict[str, Any] = PATIENT,
) -> tuple[HubError, int]:
    """A look-up, or for VNeID the code exchange, refused under ``plan``."""
    upstream = upstreams[source]
    probe = await hubs.get(source, timing)
    if source == "vneid":
        credential = await vneid_login(probe.hub, browser, upstream, leaks)
        return await refused(probe, upstream, plan, leaks, credential=credential, timing=timing)
    query = lookup_query(source, upstream)
    return await refused(probe, upstream, plan, leaks, query=query, timing=timing)


@pytest.mark.parametrize("variant", ["dtd", "entity_expansion", "external_entity"])
async def test_hostile_xml_is_refused_unexpanded_and_unfetched(
    variant: str, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """A DTD, a billion laughs or an external entity: UpstreamError, nothing expanded or read."""
    upstream = upstreams["population"]
    probe = await hubs.get("population")
    query = lookup_query("population", upstream)
    requests = upstream.requests()
    error, grown = await refused(
        probe, upstream, {"kind": "hostile_xml", "variant": variant}, leaks, query=query
    )
    assert type(error) is UpstreamError
    assert not any(text in error.detail for text in ("lol", "root:", "passwd", "DOCTYPE"))
    assert grown < MEMORY_BOUND, f"peak memory grew {grown / MB:.0f} MB"
    assert probe.entries[-1].attempts == 1
    assert upstream.requests() - requests == 1


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "declared"])
@pytest.mark.parametrize("source", [*LOOKUP_SOURCES, "vneid"])
async def test_a_100_mb_answer_is_cut_at_the_limit(
    source: str,
    declared: bool,
    hubs: Hubs,
    upstreams: dict[str, Upstream],
    browser: httpx.Client,
    leaks: LeakCheck,
) -> None:
    """100 MB, announced or not: cut at max_response_bytes, the peak memory barely moves."""
    plan = {"kind": "oversized", "bytes": HUNDRED_MB, "declare_length": declared}
    error, grown = await call_under(source, plan, hubs, upstreams, browser, leaks)
    assert type(error) is UpstreamError
    assert "exceeds" in error.detail
    assert grown < MEMORY_BOUND, f"peak memory grew {grown / MB:.0f} MB"


@pytest.mark.parametrize("source", ["population", "business"])
async def test_a_decompression_bomb_is_cut_at_the_limit(
    source: str,
    hubs: Hubs,
    upstreams: dict[str, Upstream],
    browser: httpx.Client,
    leaks: LeakCheck,
) -> None:
    """100 MB gzipped into a tenth of a megabyte: the limit counts what is decoded."""
    # The bytes on the wire stay far below max_response_bytes; what they inflate to does not.
    plan = {"kind": "oversized", "bytes": HUNDRED_MB, "content_encoding": "gzip"}
    error, grown = await call_under(source, plan, hubs, upstreams, browser, leaks, BOMB)
    assert type(error) is UpstreamError
    assert grown < MEMORY_BOUND, f"peak memory grew {grown / MB:.0f} MB"
    assert "exceeds" in error.detail


@pytest.mark.parametrize("source", [*LOOKUP_SOURCES, "vneid"])
async def test_an_answer_nested_100000_deep_is_refused(
    source: str,
    hubs: Hubs,
    upstreams: dict[str, Upstream],
    browser: httpx.Client,
    leaks: LeakCheck,
) -> None:
    """JSON arrays (XML elements for the SOAP register) 100,000 deep: UpstreamError, no crash."""
    error, grown = await call_under(
        source, {"kind": "nested", "depth": 100_000}, hubs, upstreams, browser, leaks
    )
    assert type(error) is UpstreamError
    assert grown < MEMORY_BOUND, f"peak memory grew {grown / MB:.0f} MB"


@pytest.mark.parametrize(
    ("variant", "requests"),
    [("alg_none", 1), ("unknown_key", 2)],
    ids=["alg none", "unknown key"],
)
async def test_an_unsigned_or_foreign_id_token_discloses_nothing(
    variant: str,
    requests: int,
    hubs: Hubs,
    upstreams: dict[str, Upstream],
    browser: httpx.Client,
    leaks: LeakCheck,
) -> None:
    """Refused as Unauthenticated before any claim is read: no field, no subject audited."""
    # An unknown kid makes the hub fetch the provider's keys once more, not again and again.
    upstream = upstreams["vneid"]
    probe = await hubs.get("vneid")
    credential = await vneid_login(probe.hub, browser, upstream, leaks)
    before = upstream.requests()
    error, _ = await refused(
        probe,
        upstream,
        {"kind": "hostile_token", "variant": variant, "count": 1},
        leaks,
        credential=credential,
    )
    assert type(error) is Unauthenticated
    entry = probe.entries[-1]
    assert entry.outcome is Outcome.DENIED
    assert (entry.fields, entry.subject, entry.attempts) == ([], None, 1)
    assert upstream.requests() - before == requests


# The faults these cases rely on deliver what they claim.


@pytest.mark.parametrize(("source", "json"), [("business", True), ("population", False)])
async def test_the_nested_fault_nests_as_deep_as_asked(
    source: str, json: bool, upstreams: dict[str, Upstream]
) -> None:
    """depth openings then as many closings, in the protocol's content type."""
    upstream = upstreams[source]
    path = "/v1/health" if json else "/dancu"
    with upstream.faulted({"kind": "nested", "depth": 20_000}):
        async with httpx.AsyncClient() as http:
            response = await http.get(upstream.url + path)
    assert response.status_code == 200
    opening, closing = (b"[", b"]") if json else (b"<a>", b"</a>")
    assert response.content == opening * 20_000 + closing * 20_000
    if json:
        assert response.headers["content-type"] == "application/json"
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(response.content)
    else:
        assert response.headers["content-type"].startswith("text/xml")
        with pytest.raises(etree.XMLSyntaxError):
            etree.fromstring(response.content)


async def test_the_gzipped_oversized_answer_inflates_to_its_size(
    upstreams: dict[str, Upstream],
) -> None:
    """A few kilobytes on the wire, exactly ``bytes`` once inflated."""
    upstream = upstreams["budget_unit"]
    size = 5_000_000
    with upstream.faulted({"kind": "oversized", "bytes": size, "content_encoding": "gzip"}):
        async with (
            httpx.AsyncClient() as http,
            http.stream("GET", f"{upstream.url}/v1/units/1000001") as response,
        ):
            wire = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.headers["content-encoding"] == "gzip"
    assert "content-length" not in response.headers
    assert len(wire) < size // 100
    inflated = gzip.decompress(wire)
    assert len(inflated) == size
    assert inflated.startswith(b'{"maDonVi": "1000001"')


async def test_a_compressed_answer_cannot_declare_its_length(
    upstreams: dict[str, Upstream],
) -> None:
    """declare_length with content_encoding is refused, naming the entry."""
    upstream = upstreams["catalog"]
    plan = {"kind": "oversized", "declare_length": True, "content_encoding": "gzip"}
    async with httpx.AsyncClient() as http:
        response = await http.put(f"{upstream.url}/_admin/faults", json=plan)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["faults[0]"]
