"""Resilience around every upstream call, the same for every source.

In order, from the outside in: the call's deadline, the circuit breaker, the
concurrency limit, and retries (tenacity: exponential backoff with full jitter,
``Retry-After`` honoured when it fits the deadline, idempotent reads only, only on
retryable errors). Transport failures of httpx become typed errors here, so that
connectors only translate answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_random_exponential,
)

from hub._config import (
    MIN_ATTEMPT_SECONDS,
    PROBE_RETRY_AFTER,
    BreakerSettings,
    LimitSettings,
    SourceSettings,
)
from hub._logging import get_logger
from hub.errors import (
    CircuitOpen,
    DeadlineExceeded,
    HubError,
    UpstreamError,
    UpstreamUnavailable,
)

__all__ = [
    "Attempts",
    "BreakerState",
    "BreakerStore",
    "CircuitBreaker",
    "ConcurrencyLimit",
    "MemoryBreakerStore",
    "Resilience",
    "retries_disabled",
]

T = TypeVar("T")
log = get_logger("hub.resilience")

# Set by `hub.testing.no_retries()`: one attempt per call, for fast unit tests of callers.
_retries_enabled = True


def retries_disabled(disabled: bool) -> bool:
    """Turn retries off (True) or back on; return whether they were off before."""
    global _retries_enabled
    were_disabled = not _retries_enabled
    _retries_enabled = not disabled
    return were_disabled


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class _Bucket:
    second: int = -1
    successes: int = 0
    failures: int = 0


class BreakerStore(Protocol):
    """Where a breaker keeps its state: this process's memory, or Redis for replicas."""

    async def record(self, source: str, ok: bool, now: float) -> tuple[int, int]:
        """Count one outcome; after a failure, return (calls, failures) in the window."""

    async def state(self, source: str, now: float) -> tuple[BreakerState, float]:
        """The state and the time it was entered."""

    async def transition(self, source: str, state: BreakerState, now: float) -> None: ...

    async def reset_window(self, source: str) -> None: ...


class MemoryBreakerStore:
    """One process's breaker state: per-second buckets over the sliding window."""

    def __init__(self, window: float) -> None:
        self._size = max(1, int(window))
        self._buckets: dict[str, list[_Bucket]] = {}
        self._states: dict[str, tuple[BreakerState, float]] = {}

    async def record(self, source: str, ok: bool, now: float) -> tuple[int, int]:
        buckets = self._buckets.get(source)
        if buckets is None:
            buckets = self._buckets[source] = [_Bucket() for _ in range(self._size)]
        second = int(now)
        bucket = buckets[second % self._size]
        if bucket.second != second:
            bucket.second, bucket.successes, bucket.failures = second, 0, 0
        if ok:
            bucket.successes += 1
            # The breaker only weighs the window after a failure; a success costs no sum.
            return 0, 0
        bucket.failures += 1
        calls = failures = 0
        for each in buckets:
            if second - each.second < self._size:
                calls += each.successes + each.failures
                failures += each.failures
        return calls, failures

    async def state(self, source: str, now: float) -> tuple[BreakerState, float]:
        return self._states.get(source, (BreakerState.CLOSED, now))

    async def transition(self, source: str, state: BreakerState, now: float) -> None:
        self._states[source] = (state, now)

    async def reset_window(self, source: str) -> None:
        self._buckets.pop(source, None)


class CircuitBreaker:
    """Failure rate over a sliding window; open -> fail fast; half-open -> probes.

    Closed: calls pass; once ``min_calls`` calls in the window fail at
    ``failure_rate`` or more, the breaker opens. Open: calls fail at once with
    `CircuitOpen`, the upstream untouched, for ``open_for`` seconds. Half-open: up to
    ``half_open_probes`` calls go through; a failure reopens, that many successes close.

    Args:
        source: The source it guards.
        settings: Window, thresholds and timings.
        store: Where the state lives (memory by default; Redis shares it between replicas).
        clock: Seconds, monotonic within one process; wall time when the store is shared.
    """

    def __init__(
        self,
        source: str,
        settings: BreakerSettings,
        *,
        store: BreakerStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self._settings = settings
        self._store = store or MemoryBreakerStore(settings.window)
        self._clock = clock
        self._probes_in_flight = 0
        self._probe_successes = 0

    async def state(self) -> BreakerState:
        state, since = await self._store.state(self.source, self._clock())
        if state is BreakerState.OPEN and self._clock() - since >= self._settings.open_for:
            return BreakerState.HALF_OPEN
        return state

    async def before_call(self) -> bool:
        """Let a call through, or raise `CircuitOpen`; True when the call is a probe."""
        now = self._clock()
        state, since = await self._store.state(self.source, now)
        if state is BreakerState.CLOSED:
            return False
        if state is BreakerState.OPEN:
            wait = self._settings.open_for - (now - since)
            if wait > 0:
                raise CircuitOpen(
                    f"{self.source} is failing; calls are paused for {wait:.1f} s",
                    source=self.source,
                    retry_after=wait,
                )
            await self._store.transition(self.source, BreakerState.HALF_OPEN, now)
            self._probe_successes = 0
        if self._probes_in_flight >= self._settings.half_open_probes:
            raise CircuitOpen(
                f"{self.source} is being probed; try again shortly",
                source=self.source,
                retry_after=PROBE_RETRY_AFTER,
            )
        self._probes_in_flight += 1
        return True

    async def after_call(self, *, ok: bool, probe: bool) -> None:
        now = self._clock()
        if probe:
            self._probes_in_flight -= 1
            if not ok:
                await self._open(now)
                return
            self._probe_successes += 1
            if self._probe_successes >= self._settings.half_open_probes:
                await self._store.reset_window(self.source)
                await self._store.transition(self.source, BreakerState.CLOSED, now)
                log.info("circuit closed", source=self.source)
            return
        calls, failures = await self._store.record(self.source, ok, now)
        if (
            not ok
            and calls >= self._settings.min_calls
            and failures / calls >= self._settings.failure_rate
        ):
            state, _ = await self._store.state(self.source, now)
            if state is BreakerState.CLOSED:
                await self._open(now)

    async def _open(self, now: float) -> None:
        await self._store.transition(self.source, BreakerState.OPEN, now)
        log.warning("circuit opened", source=self.source, open_for=self._settings.open_for)


class ConcurrencyLimit:
    """At most ``concurrency`` calls in flight; a caller waits ``max_wait`` at most."""

    def __init__(self, source: str, settings: LimitSettings) -> None:
        self.source = source
        self._semaphore = asyncio.Semaphore(settings.concurrency)
        self._max_wait = settings.max_wait

    async def acquire(self, remaining: float) -> None:
        try:
            async with asyncio.timeout(min(self._max_wait, remaining)):
                await self._semaphore.acquire()
        except TimeoutError:
            raise UpstreamUnavailable(
                f"too many calls to {self.source} in flight",
                source=self.source,
                cause="overloaded",
            ) from None

    def release(self) -> None:
        self._semaphore.release()


@dataclass(slots=True)
class Attempts:
    """What the resilience layer did for one call, for the audit entry and metrics."""

    count: int = 0
    upstream_ms: float = 0.0


def _transport_error(exc: Exception, source: str) -> HubError:
    """The typed error for an exception that escaped a connector."""
    if isinstance(exc, HubError):
        return exc
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamUnavailable(
            f"{source} did not answer in time", source=source, cause="timeout"
        )
    if isinstance(exc, httpx.ConnectError):
        return UpstreamUnavailable(f"cannot connect to {source}", source=source, cause="connect")
    if isinstance(exc, httpx.TransportError):
        return UpstreamUnavailable(
            f"the connection to {source} failed", source=source, cause="transport"
        )
    return UpstreamError(f"{source} failed unexpectedly", source=source)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, HubError) and exc.retryable


class Resilience:
    """The resilience stack of one source.

    Args:
        source: The source's name.
        settings: Its deadline, attempt timeout, retry, breaker and limit settings.
        breaker_store: Shared breaker state (Redis) for several replicas; memory if None.
    """

    def __init__(
        self,
        source: str,
        settings: SourceSettings,
        *,
        breaker_store: BreakerStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.settings = settings
        self.breaker = CircuitBreaker(source, settings.breaker, store=breaker_store, clock=clock)
        self.limit = ConcurrencyLimit(source, settings.limits)

    async def run(
        self,
        attempt: Callable[[int], Awaitable[T]],
        *,
        deadline: float,
        idempotent: bool,
        attempts: Attempts,
    ) -> T:
        """Run ``attempt(n)`` under the deadline, breaker, limit and retry policy.

        Args:
            attempt: One upstream attempt, given its number (1, 2 ...).
            deadline: ``time.monotonic()`` by which the whole call must be over.
            idempotent: Whether the call may be retried at all.
            attempts: Filled in with the number of attempts and the upstream time.

        Raises:
            HubError: the typed error of the last attempt, `CircuitOpen`, or
                `DeadlineExceeded` once the deadline has passed.
        """
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining):
                return await self._guarded(attempt, deadline, idempotent, attempts)
        except TimeoutError:
            raise DeadlineExceeded(
                f"{self.source} did not answer within the deadline", source=self.source
            ) from None

    async def _guarded(
        self,
        attempt: Callable[[int], Awaitable[T]],
        deadline: float,
        idempotent: bool,
        attempts: Attempts,
    ) -> T:
        probe = await self.breaker.before_call()
        ok = False
        try:
            await self.limit.acquire(deadline - time.monotonic())
            try:
                result = await self._with_retries(attempt, deadline, idempotent, attempts)
            finally:
                self.limit.release()
            ok = True
            return result
        except HubError as exc:
            ok = not _counts_as_failure(exc)
            raise
        finally:
            # A cancelled or timed-out call counts as a failure of the upstream.
            await self.breaker.after_call(ok=ok, probe=probe)

    async def _with_retries(
        self,
        attempt: Callable[[int], Awaitable[T]],
        deadline: float,
        idempotent: bool,
        attempts: Attempts,
    ) -> T:
        retry = self.settings.retry
        max_attempts = retry.attempts if idempotent and _retries_enabled else 1
        jitter = wait_random_exponential(multiplier=retry.backoff_initial, max=retry.backoff_max)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            after = getattr(exc, "retry_after", None)
            if after is not None and after <= retry.retry_after_max:
                return float(after)
            return float(jitter(state))

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= max_attempts:
                return True
            exc = state.outcome.exception() if state.outcome else None
            after = getattr(exc, "retry_after", None)
            if after is not None and after > retry.retry_after_max:
                return True
            # No retry sleeps past the deadline, nor starts without time to finish.
            upcoming = state.upcoming_sleep or 0.0
            return time.monotonic() + upcoming + MIN_ATTEMPT_SECONDS > deadline

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "upstream attempt failed; retrying",
                source=self.source,
                attempt=state.attempt_number,
                wait_s=round(state.upcoming_sleep or 0.0, 3),
                error_kind=_error_kind(exc),
            )

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(_is_retryable),
            before_sleep=before_sleep,
            reraise=True,
        )
        async for trial in retrying:
            with trial:
                number = trial.retry_state.attempt_number
                attempts.count = number
                return await self._one_attempt(attempt, number, deadline, attempts)
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    async def _one_attempt(
        self,
        attempt: Callable[[int], Awaitable[T]],
        number: int,
        deadline: float,
        attempts: Attempts,
    ) -> T:
        remaining = deadline - time.monotonic()
        # When the deadline is nearer than a full attempt, running out of time is the
        # deadline passing, not a slow attempt worth another try.
        bounded_by_deadline = remaining <= self.settings.attempt_timeout
        started = time.perf_counter()
        try:
            async with asyncio.timeout(min(self.settings.attempt_timeout, remaining)):
                return await attempt(number)
        except TimeoutError:
            if bounded_by_deadline:
                raise DeadlineExceeded(
                    f"{self.source} did not answer within the deadline", source=self.source
                ) from None
            raise UpstreamUnavailable(
                f"{self.source} did not answer in time", source=self.source, cause="timeout"
            ) from None
        except HubError:
            raise
        except Exception as exc:
            raise _transport_error(exc, self.source) from exc
        finally:
            attempts.upstream_ms += (time.perf_counter() - started) * 1000


def _counts_as_failure(exc: HubError) -> bool:
    """Upstream trouble opens the breaker; a not-found, a refused query or our own
    overload does not."""
    if isinstance(exc, UpstreamUnavailable):
        return exc.cause not in ("circuit_open", "overloaded")
    return isinstance(exc, UpstreamError | DeadlineExceeded)


def _error_kind(exc: BaseException | None) -> str:
    if isinstance(exc, UpstreamUnavailable):
        return exc.cause
    if isinstance(exc, HubError):
        return exc.kind
    return type(exc).__name__ if exc else "none"
