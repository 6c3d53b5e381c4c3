"""The fault matrix: every source under every fault its mock can inject.

Each row says what the upstream does and what the hub must make of it: the answer,
recovered by retry after the attempts given (read from the call's audit entry), or the
typed error given, within the deadline. Never an unhandled exception, never a hang,
and always one audit entry, whose outcome, error and attempts agree with the row.

Look-ups are reads, retried when the failure is retryable. A VNeID authentication
spends a one-time code and is never retried; the authorization request that starts a
login reads the provider's metadata and keys, and is retried like any read (it asks
and answers nothing personal, so it is not audited).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from hub.audit import AuditEntry, Outcome
from hub.errors import (
    DeadlineExceeded,
    HubError,
    NotFound,
    Unauthenticated,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from hub.testing import LeakCheck
from tests._helpers import PURPOSE
from tests.reliability.conftest import (
    LOOKUP_SOURCES,
    PATIENT,
    REDIRECT,
    TIGHT,
    Hubs,
    Plan,
    Probe,
    Upstream,
    bounded,
    vneid_login,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass(frozen=True)
class Row:
    """One fault and what the hub must make of it.

    Args:
        fault: What the upstream does, in words (the case's id).
        plan: The mock's fault plan.
        expect: The typed error (its exact class); None when the call must succeed.
        attempts: Upstream attempts in the audit entry; None where nothing is audited.
        timing: PATIENT or TIGHT (see the conftest).
        requests: Requests the mock counts, when not one per attempt.
        retry_after: The Retry-After the error carries to the caller, when there is one.
        token: The plan is for the business mock's token endpoint (with a fresh hub,
            which holds no token yet).
    """

    fault: str
    plan: Plan
    expect: type[HubError] | None
    attempts: int | None
    timing: dict[str, Any] | None = None
    requests: int | None = None
    retry_after: float | None = None
    token: bool = False

    @property
    def timed(self) -> dict[str, Any]:
        return self.timing or PATIENT


def latency(ms: int, **more: Any) -> dict[str, Any]:
    return {"kind": "latency", "ms": ms, **more}


def status(code: int, **more: Any) -> dict[str, Any]:
    return {"kind": "status", "status": code, **more}


def kind(name: str, **more: Any) -> dict[str, Any]:
    return {"kind": name, **more}


HUNDRED_MB = 100_000_000

# Every look-up source meets the shared faults alike: the pipeline is the hub's.
LOOKUP_ROWS = [
    Row("latency past the deadline", latency(3000), DeadlineExceeded, 1, TIGHT),
    Row("one answer slower than an attempt", latency(2000, count=1), None, 2),
    Row("a burst of two 503", status(503, count=2), None, 3),
    Row("503 throughout", status(503), UpstreamUnavailable, 4),
    Row("one 502", status(502, count=1), None, 2),
    Row("one 504", status(504, count=1), None, 2),
    Row("500", status(500), UpstreamError, 1),
    Row("400", status(400), UpstreamRejected, 1),
    Row("422", status(422), UpstreamRejected, 1),
    # Retry-After: 0 keeps the suite fast; that a wait is honoured is the integration tests'.
    Row("429 with Retry-After: 0", status(429, retry_after=0, count=1), None, 2),
    Row(
        "429 with a Retry-After past the hub's patience",
        status(429, retry_after=60, count=1),
        UpstreamUnavailable,
        1,
        retry_after=60,
    ),
    Row("one connection reset", kind("reset", count=1), None, 2),
    Row("connection reset throughout", kind("reset"), UpstreamUnavailable, 4),
    Row("no answer", kind("timeout"), DeadlineExceeded, 1, TIGHT),
    Row("no answer once", kind("timeout", count=1), None, 2),
    Row("malformed body", kind("malformed"), UpstreamError, 1),
    Row("one truncated body", kind("truncated", count=1), None, 2),
    Row("truncated throughout", kind("truncated"), UpstreamUnavailable, 4),
    Row("an HTML page for an answer", kind("wrong_content_type"), UpstreamError, 1),
    Row("100 MB, chunked", kind("oversized", bytes=HUNDRED_MB), UpstreamError, 1),
    Row(
        "100 MB, declared",
        kind("oversized", bytes=HUNDRED_MB, declare_length=True),
        UpstreamError,
        1,
    ),
    Row("drip, one byte a second", kind("drip", bytes_per_second=1), DeadlineExceeded, 1, TIGHT),
    Row("nested 100,000 deep", kind("nested"), UpstreamError, 1),
    Row(
        "a 503, a reset, then the answer",
        [status(503, count=1), kind("reset", count=1)],
        None,
        3,
    ),
    Row("slow and failing once", [latency(50), status(503, count=1)], None, 2),
]

# Each mock's own kinds.
OWN_ROWS: dict[str, list[Row]] = {
    "population": [
        Row("SOAP fault LoiHeThong", kind("soap_fault", fault="LoiHeThong"), UpstreamError, 1),
        Row("SOAP fault KhongTimThay", kind("soap_fault", fault="KhongTimThay"), NotFound, 1),
        Row(
            "SOAP fault YeuCauKhongHopLe",
            kind("soap_fault", fault="YeuCauKhongHopLe"),
            UpstreamRejected,
            1,
        ),
        Row("XML with a DTD", kind("hostile_xml", variant="dtd"), UpstreamError, 1),
        Row(
            "XML entity expansion",
            kind("hostile_xml", variant="entity_expansion"),
            UpstreamError,
            1,
        ),
        Row(
            "XML external entity",
            kind("hostile_xml", variant="external_entity"),
            UpstreamError,
            1,
        ),
    ],
    "business": [
        # Refused, a new token fetched, refused again: two requests to the register.
        Row("every token refused", kind("invalid_token"), UpstreamError, 1, requests=2),
        Row(
            "a burst of two 503 at the token endpoint",
            status(503, count=2),
            None,
            3,
            requests=1,
            token=True,
        ),
        Row(
            "a malformed token answer",
            kind("malformed"),
            UpstreamError,
            1,
            requests=0,
            token=True,
        ),
        Row(
            "no answer from the token endpoint",
            kind("timeout"),
            DeadlineExceeded,
            1,
            TIGHT,
            requests=0,
            token=True,
        ),
    ],
    "driving_licence": [
        Row("the system's clock 10 minutes off", kind("clock_skew", seconds=600), UpstreamError, 1),
    ],
    # The hub's own key refused: an UpstreamError, as for every source, since the portal
    # is not at fault (a 401 would tell it its own key is wrong).
    "budget_unit": [Row("the hub's key expired", kind("expired_key"), UpstreamError, 1)],
    "catalog": [],
}

# The transport-level faults again, on httpx's own transport instead of aiohttp's.
NATIVE = {
    "one connection reset",
    "no answer",
    "one truncated body",
    "100 MB, chunked",
    "100 MB, declared",
    "drip, one byte a second",
}

LOOKUP_CASES = [
    pytest.param(source, row, "aiohttp", id=f"{source}: {row.fault}")
    for source in LOOKUP_SOURCES
    for row in [*LOOKUP_ROWS, *OWN_ROWS[source]]
] + [
    pytest.param(source, row, "native", id=f"{source}: {row.fault} (native transport)")
    for source in LOOKUP_SOURCES
    for row in LOOKUP_ROWS
    if row.fault in NATIVE
]

HOSTILE_TOKENS = [
    "alg_none",
    "unknown_key",
    "bad_signature",
    "expired",
    "wrong_audience",
    "wrong_nonce",
    "wrong_issuer",
    "malformed",
]

# Never retried: a one-time code is never presented twice by the hub.
AUTHENTICATE_ROWS = [
    Row("latency past the deadline", latency(3000), DeadlineExceeded, 1, TIGHT),
    Row("one answer slower than an attempt", latency(2000, count=1), UpstreamUnavailable, 1),
    Row("a burst of two 503", status(503, count=2), UpstreamUnavailable, 1),
    Row("500", status(500), UpstreamError, 1),
    Row(
        "429 with Retry-After: 7",
        status(429, retry_after=7, count=1),
        UpstreamUnavailable,
        1,
        retry_after=7,
    ),
    Row("one connection reset", kind("reset", count=1), UpstreamUnavailable, 1),
    Row("no answer", kind("timeout"), DeadlineExceeded, 1, TIGHT),
    Row("malformed body", kind("malformed"), UpstreamError, 1),
    Row("one truncated body", kind("truncated", count=1), UpstreamUnavailable, 1),
    Row("an HTML page for an answer", kind("wrong_content_type"), UpstreamError, 1),
    Row("100 MB, chunked", kind("oversized", bytes=HUNDRED_MB), UpstreamError, 1),
    Row(
        "100 MB, declared",
        kind("oversized", bytes=HUNDRED_MB, declare_length=True),
        UpstreamError,
        1,
    ),
    Row("drip, one byte a second", kind("drip", bytes_per_second=1), DeadlineExceeded, 1, TIGHT),
    Row("nested 100,000 deep", kind("nested"), UpstreamError, 1),
    *(
        # An unknown kid makes the hub fetch the keys once more before refusing.
        Row(
            f"ID token: {variant}",
            kind("hostile_token", variant=variant),
            Unauthenticated,
            1,
            requests=2 if variant == "unknown_key" else None,
        )
        for variant in HOSTILE_TOKENS
    ),
]

# The discovery document and the JWKS: two reads, each retried. Requests are counted.
AUTHORIZATION_ROWS = [
    Row("latency past the deadline", latency(3000), DeadlineExceeded, None, TIGHT, requests=1),
    Row("one answer slower than an attempt", latency(2000, count=1), None, None, requests=3),
    Row("a burst of two 503", status(503, count=2), None, None, requests=4),
    Row("503 throughout", status(503), UpstreamUnavailable, None, requests=4),
    Row("500", status(500), UpstreamError, None, requests=1),
    Row("429 with Retry-After: 0", status(429, retry_after=0, count=1), None, None, requests=3),
    Row("one connection reset", kind("reset", count=1), None, None, requests=3),
    Row("no answer", kind("timeout"), DeadlineExceeded, None, TIGHT, requests=1),
    Row("malformed body", kind("malformed"), UpstreamError, None, requests=1),
    Row("one truncated body", kind("truncated", count=1), None, None, requests=3),
    Row("an HTML page for an answer", kind("wrong_content_type"), UpstreamError, None, requests=1),
    Row("100 MB, chunked", kind("oversized", bytes=HUNDRED_MB), UpstreamError, None, requests=1),
    Row(
        "drip, one byte a second",
        kind("drip", bytes_per_second=1),
        DeadlineExceeded,
        None,
        TIGHT,
        requests=1,
    ),
    Row("nested 100,000 deep", kind("nested"), UpstreamError, None, requests=1),
]

_OUTCOMES = {
    None: Outcome.OK,
    NotFound: Outcome.NOT_FOUND,
    # Refused by the upstream, yet audited as any invalid query: the same outcome and kind.
    UpstreamRejected: Outcome.INVALID,
    Unauthenticated: Outcome.DENIED,
}


def lookup_query(source: str, upstream: Upstream) -> dict[str, Any]:
    """A look-up of an existing record: the fault, not the data, decides the answer."""
    if source == "population":
        return {"national_id": upstream.key("citizen")}
    if source == "business":
        return {"code": upstream.key("enterprise")}
    if source == "driving_licence":
        return {"number": upstream.key("licence")}
    if source == "budget_unit":
        return {"code": upstream.key("budget_unit")}
    return {"catalog": "provinces", "code": "01"}


def check_entry(row: Row, probe: Probe, before: int, error: HubError | None) -> AuditEntry:
    """One new audit entry, agreeing with the row; its id is on the error."""
    assert len(probe.entries) == before + 1, "the call left no audit entry (or several)"
    entry = probe.entries[-1]
    assert entry.outcome is _OUTCOMES.get(row.expect, Outcome.FAILED)
    assert entry.error == (row.expect.kind if row.expect else None)
    assert entry.attempts == row.attempts
    if error is not None:
        assert error.audit_id, "the error carries no audit id"
    return entry


def check_error(row: Row, error: HubError | None, leaks: LeakCheck) -> None:
    if row.expect is None:
        assert error is None, f"expected an answer, got {error!r}"
        return
    assert type(error) is row.expect, f"expected {row.expect.__name__}, got {error!r}"
    leaks.add(error.detail)
    if row.retry_after is not None:
        assert isinstance(error, UpstreamUnavailable)
        assert error.retry_after == row.retry_after


def expected_requests(row: Row) -> int:
    if row.requests is not None:
        return row.requests
    assert row.attempts is not None
    return row.attempts


@pytest.mark.parametrize(("source", "row", "transport"), LOOKUP_CASES)
async def test_a_lookup_under_a_fault(
    source: str,
    row: Row,
    transport: str,
    hubs: Hubs,
    upstreams: dict[str, Upstream],
    leaks: LeakCheck,
) -> None:
    """The look-up ends as the row says, within its deadline, audited with its attempts."""
    upstream = upstreams[source]
    query = lookup_query(source, upstream)
    if row.token:
        async with hubs.fresh(source, row.timed, transport) as probe:
            await _lookup(probe, source, query, row, upstream, leaks)
    else:
        await _lookup(
            await hubs.get(source, row.timed, transport), source, query, row, upstream, leaks
        )


async def _lookup(
    probe: Probe,
    source: str,
    query: dict[str, Any],
    row: Row,
    upstream: Upstream,
    leaks: LeakCheck,
) -> None:
    before, requests = len(probe.entries), upstream.requests()
    error: HubError | None = None
    with upstream.faulted(row.plan, token=row.token):
        try:
            result = await bounded(probe.hub.lookup(source, query, purpose=PURPOSE), row.timed)
        except HubError as exc:
            error = exc
    check_error(row, error, leaks)
    check_entry(row, probe, before, error)
    assert upstream.requests() - requests == expected_requests(row)
    if error is None:
        assert result.audit_id


@pytest.mark.parametrize("row", AUTHENTICATE_ROWS, ids=lambda row: row.fault)
async def test_an_authentication_under_a_fault(
    row: Row,
    hubs: Hubs,
    upstreams: dict[str, Upstream],
    browser: httpx.Client,
    leaks: LeakCheck,
) -> None:
    """The code exchange is tried once and ends as the row says, within its deadline, audited."""
    upstream = upstreams["vneid"]
    probe = await hubs.get("vneid", row.timed)
    # The login reads the provider's metadata and keys: the fault meets the code exchange.
    credential = await vneid_login(probe.hub, browser, upstream, leaks)
    before, requests = len(probe.entries), upstream.requests()
    error: HubError | None = None
    with upstream.faulted(row.plan):
        try:
            await bounded(probe.hub.authenticate("vneid", credential, purpose=PURPOSE), row.timed)
        except HubError as exc:
            error = exc
    check_error(row, error, leaks)
    entry = check_entry(row, probe, before, error)
    assert entry.fields == []
    assert upstream.requests() - requests == expected_requests(row)


@pytest.mark.parametrize("row", AUTHORIZATION_ROWS, ids=lambda row: row.fault)
async def test_an_authorization_request_under_a_fault(
    row: Row, hubs: Hubs, upstreams: dict[str, Upstream], leaks: LeakCheck
) -> None:
    """Reading the provider's metadata and keys is retried like any read, within its deadline."""
    upstream = upstreams["vneid"]
    async with hubs.fresh("vneid", row.timed) as probe:
        requests = upstream.requests()
        error: HubError | None = None
        with upstream.faulted(row.plan):
            try:
                made = await bounded(
                    probe.hub.authorization_request(
                        "vneid", redirect_uri=REDIRECT, level=2, client=PURPOSE.client
                    ),
                    row.timed,
                )
            except HubError as exc:
                error = exc
        check_error(row, error, leaks)
        assert probe.entries == []
        assert upstream.requests() - requests == expected_requests(row)
        if error is None:
            leaks.add_values([made.state, made.nonce, made.code_verifier])
            assert made.url.startswith(upstream.url)
