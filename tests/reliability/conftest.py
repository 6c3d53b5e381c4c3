"""Fixtures of the reliability suite: every mock served once, hubs tuned for fault cases.

Each mock runs once for the whole package, over real HTTP on loopback. A test that
sets a fault clears it again (`Upstream.faulted`), so that no fault outlives its case.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import pytest_asyncio

from hub import Hub
from hub._registry import installed_mocks
from hub.audit import AuditEntry
from hub.testing import LeakCheck, ServedApp
from tests._helpers import FAST, PURPOSE, hub_settings, muted

T = TypeVar("T")
Plan = dict[str, Any] | list[dict[str, Any]]

SEED, CITIZENS = 1, 10_000
SOURCES = ("population", "business", "vneid", "driving_licence", "budget_unit", "catalog")
LOOKUP_SOURCES = ("population", "business", "driving_licence", "budget_unit", "catalog")
REDIRECT = "http://127.0.0.1:8000/callback"

#: Timings. PATIENT: a slow attempt is cut (0.5 s) and retried within a roomy deadline.
#: TIGHT: the deadline (0.4 s) comes before an attempt's timeout, so a slow upstream
#: is the deadline passing. Both leave a healthy answer (milliseconds on loopback) a
#: wide margin on a busy machine.
PATIENT: dict[str, Any] = {"deadline": 5.0, "attempt_timeout": 0.5}
TIGHT: dict[str, Any] = {"deadline": 0.4, "attempt_timeout": 4.0}
#: How long past its deadline a call may take to unwind and be audited before the case
#: counts as a hang. A bound against hangs, not a measure of speed.
GRACE = 5.0
#: How much the process's peak memory may grow while the hub refuses a hostile answer.
MEMORY_BOUND = 50 * 1024 * 1024


class Upstream:
    """One served mock: its admin surface (as `MockAdmin`'s), and the hub settings for it.

    One HTTP client serves every admin request: a client per request costs more than
    the request.
    """

    def __init__(self, name: str, served: ServedApp, http: httpx.Client, leaks: LeakCheck):
        self.name = name
        self.url = served.url
        self._http = http
        self._leaks = leaks

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The ``[sources.<name>]`` table for this mock, fast retries, no breaker trips."""
        return {**installed_mocks()[self.name].hub_settings(self.url), **FAST, **overrides}

    def requests(self) -> int:
        """Requests on the protocol's endpoints so far, faulted ones included."""
        count: int = self._admin("GET", "stats")["requests"]
        return count

    def key(self, kind: str) -> str:
        """One existing key of a kind; personal keys join the leak check's values.

        Budget-unit codes are public, and the hub (rightly) logs them.
        """
        (found,) = self._admin("GET", "sample", params={"n": 1, "kind": kind})["keys"]
        if kind != "budget_unit":
            self._leaks.add_values([found])
        return str(found)

    @contextlib.contextmanager
    def faulted(self, plan: Plan, *, token: bool = False) -> Iterator[None]:
        """The plan in force within the block, on the protocol or (business) the token
        endpoint, which has a plan of its own."""
        path = "tokens/faults" if token else "faults"
        self._admin("PUT", path, json=plan)
        try:
            yield
        finally:
            self._admin("DELETE", path)

    def _admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, f"{self.url}/_admin/{path}", **kwargs)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="package")
def upstreams(leaks: LeakCheck) -> Iterator[dict[str, Upstream]]:
    """Every mock, served for the whole reliability suite."""
    with contextlib.ExitStack() as stack:
        http = stack.enter_context(httpx.Client(timeout=10))
        served = {
            name: stack.enter_context(
                ServedApp(installed_mocks()[name].create_app(seed=SEED, citizens=CITIZENS))
            )
            for name in SOURCES
        }
        yield {name: Upstream(name, app, http, leaks) for name, app in served.items()}


@dataclass
class Probe:
    """A hub and the audit entries of its calls, in order."""

    hub: Hub
    entries: list[AuditEntry] = field(default_factory=list)


class Hubs:
    """Hubs for one module, one per source, timing and transport, made on first use.

    A hub's audit trail lives in a directory of its own; its breaker never trips (FAST).
    """

    def __init__(self, upstreams: dict[str, Upstream], root: Path) -> None:
        self._upstreams = upstreams
        self._root = root
        self._probes: dict[tuple[str, str, str], Probe] = {}
        self._made = 0

    async def get(
        self, source: str, timing: dict[str, Any] = PATIENT, transport: str = "aiohttp"
    ) -> Probe:
        key = (source, repr(sorted(timing.items())), transport)
        if key not in self._probes:
            self._probes[key] = await self._open(source, timing, transport)
        return self._probes[key]

    @contextlib.asynccontextmanager
    async def fresh(
        self, source: str, timing: dict[str, Any] = PATIENT, transport: str = "aiohttp"
    ) -> AsyncIterator[Probe]:
        """A hub of its own, with nothing cached (tokens, provider metadata)."""
        probe = await self._open(source, timing, transport)
        try:
            yield probe
        finally:
            await probe.hub.aclose()

    async def _open(self, source: str, timing: dict[str, Any], transport: str) -> Probe:
        self._made += 1
        table = self._upstreams[source].settings(**timing, transport=transport)
        entries: list[AuditEntry] = []
        settings = hub_settings(self._root / str(self._made), **{source: table})
        probe = Probe(Hub(settings, on_call=entries.append), entries)
        await probe.hub.start()
        return probe

    async def aclose(self) -> None:
        for probe in self._probes.values():
            await probe.hub.aclose()
        self._probes.clear()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hubs(
    upstreams: dict[str, Upstream], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Hubs]:
    pool = Hubs(upstreams, tmp_path_factory.mktemp("hubs"))
    yield pool
    await pool.aclose()


async def bounded(call: Awaitable[T], timing: dict[str, Any]) -> T:
    """Await a hub call; fail the test if it runs past its deadline and the grace."""
    timeout = asyncio.timeout(timing["deadline"] + GRACE)
    try:
        async with timeout:
            return await call
    except TimeoutError:
        if timeout.expired():
            pytest.fail("the call hung past its deadline")
        raise


@pytest.fixture(scope="module")
def browser() -> Iterator[httpx.Client]:
    """The citizen's browser: follows no redirect, so that the code can be read."""
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        yield client


async def vneid_login(
    hub: Hub, browser: httpx.Client, upstream: Upstream, leaks: LeakCheck
) -> dict[str, Any]:
    """A level-2 citizen's login through the mock's headless path; the portal's credential.

    The browser's URLs rightly carry the state, nonce and code, and the suite's leak
    check reads every line the HTTP library logs: its loggers are muted meanwhile (the
    hub is idle while the browser runs).
    """
    national_id = upstream.key("vneid_level2")
    request = await hub.authorization_request(
        "vneid", redirect_uri=REDIRECT, level=2, client=PURPOSE.client
    )
    url = httpx.URL(request.url).copy_add_param("login_hint", national_id)
    with muted("httpx", "httpcore"):
        response = await asyncio.to_thread(browser.get, url)
    code = httpx.URL(response.headers["location"]).params["code"]
    leaks.add_values([code, request.state, request.nonce, request.code_verifier])
    return {
        "code": code,
        "code_verifier": request.code_verifier,
        "nonce": request.nonce,
        "redirect_uri": REDIRECT,
        "level": 2,
    }


_VM_HWM = re.compile(r"^VmHWM:\s+(\d+) kB$", re.MULTILINE)
# glibc's; another C library keeps its own counsel on freed pages.
_MALLOC_TRIM = getattr(ctypes.CDLL(ctypes.util.find_library("c")), "malloc_trim", None)


def _peak_rss() -> int:
    status = Path("/proc/self/status").read_text()
    match = _VM_HWM.search(status)
    assert match is not None, "/proc/self/status has no VmHWM"
    return int(match.group(1)) * 1024


@contextlib.contextmanager
def peak_memory_growth() -> Iterator[Callable[[], int]]:
    """How far the process's peak resident memory rose within the block, in bytes.

    Free memory is handed back to the system first (glibc keeps freed heap pages
    resident, where later allocations would hide), then the peak is reset to the
    current size (``/proc/self/clear_refs``, Linux): the growth is that of the block.
    """
    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
    Path("/proc/self/clear_refs").write_text("5")
    start = _peak_rss()
    yield lambda: _peak_rss() - start
