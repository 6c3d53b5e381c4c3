"""Deadlines, retries, the circuit breaker and the concurrency limit."""

import asyncio
import contextlib
import time

import httpx
import pytest

from hub._config import PROBE_RETRY_AFTER, SourceSettings
from hub._resilience import Attempts, BreakerState, Resilience
from hub.errors import (
    CircuitOpen,
    DeadlineExceeded,
    InvalidQuery,
    NotFound,
    UpstreamError,
    UpstreamUnavailable,
)


def settings(**overrides):
    base = {
        "url": "http://127.0.0.1:1",
        "retry": {"attempts": 4, "backoff_initial": 0.001, "backoff_max": 0.01},
        "breaker": {
            "window": 30,
            "min_calls": 4,
            "failure_rate": 0.5,
            "open_for": 10,
            "half_open_probes": 2,
        },
    }
    base.update(overrides)
    return SourceSettings.model_validate(base)


class Flaky:
    """Fails with the given errors, in order, then answers 'ok'."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self, number):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def run(resilience, attempt, *, deadline=5.0, idempotent=True):
    attempts = Attempts()
    result = await resilience.run(
        attempt, deadline=time.monotonic() + deadline, idempotent=idempotent, attempts=attempts
    )
    return result, attempts


def unavailable(**kwargs):
    return UpstreamUnavailable("down", source="s", **kwargs)


async def test_two_failures_then_success_takes_three_attempts():
    """Two 503s then an answer: the call succeeds on its third attempt."""
    flaky = Flaky(unavailable(), unavailable())
    result, attempts = await run(Resilience("s", settings()), flaky)
    assert result == "ok"
    assert attempts.count == 3 == flaky.calls


@pytest.mark.parametrize(
    "error",
    [NotFound("no", source="s"), InvalidQuery("bad", source="s"), UpstreamError("x", source="s")],
)
async def test_non_retryable_errors_are_not_retried(error):
    """A not-found, a refused query or a malformed answer gets exactly one attempt."""
    flaky = Flaky(error)
    with pytest.raises(type(error)):
        await run(Resilience("s", settings()), flaky)
    assert flaky.calls == 1


async def test_a_one_time_operation_is_never_retried():
    """Non-idempotent calls (a code exchange) get one attempt even on a 503."""
    flaky = Flaky(unavailable())
    with pytest.raises(UpstreamUnavailable):
        await run(Resilience("s", settings()), flaky, idempotent=False)
    assert flaky.calls == 1


async def test_retries_stop_after_the_configured_attempts():
    """Persistent 503s end after `attempts` tries with the last error."""
    flaky = Flaky(*[unavailable() for _ in range(10)])
    with pytest.raises(UpstreamUnavailable):
        await run(Resilience("s", settings(retry={"attempts": 3, "backoff_initial": 0.001})), flaky)
    assert flaky.calls == 3


async def test_transport_errors_become_typed_and_retryable():
    """An httpx connect error is UpstreamUnavailable and retried."""
    flaky = Flaky(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"))
    result, attempts = await run(Resilience("s", settings()), flaky)
    assert (result, attempts.count) == ("ok", 3)


async def test_retry_after_is_honoured():
    """A Retry-After of 0.3 s makes the next attempt wait at least that long."""
    flaky = Flaky(unavailable(retry_after=0.3))
    started = time.monotonic()
    result, attempts = await run(Resilience("s", settings()), flaky)
    assert result == "ok"
    assert attempts.count == 2
    assert time.monotonic() - started >= 0.3


async def test_a_retry_after_longer_than_allowed_ends_the_retries():
    """A Retry-After beyond retry_after_max is not waited for."""
    flaky = Flaky(unavailable(retry_after=60))
    with pytest.raises(UpstreamUnavailable) as caught:
        await run(Resilience("s", settings()), flaky)
    assert flaky.calls == 1
    assert caught.value.retry_after == 60


async def test_no_retry_sleeps_past_the_deadline():
    """A Retry-After that does not fit in the deadline stops the retries at once."""
    flaky = Flaky(unavailable(retry_after=2.0))
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable):
        await run(Resilience("s", settings()), flaky, deadline=0.5)
    assert flaky.calls == 1
    assert time.monotonic() - started < 0.5


async def test_the_deadline_bounds_a_hanging_upstream():
    """An attempt that never answers ends in DeadlineExceeded near the deadline."""

    async def hang(number):
        await asyncio.sleep(3600)

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await run(Resilience("s", settings(attempt_timeout=10)), hang, deadline=0.3)
    assert time.monotonic() - started < 2.0


async def test_a_slow_attempt_is_cut_and_retried():
    """An attempt past attempt_timeout is abandoned and the next one answers."""
    calls = 0

    async def slow_then_fast(number):
        nonlocal calls
        calls += 1
        if number == 1:
            await asyncio.sleep(3600)
        return "ok"

    result, attempts = await run(Resilience("s", settings(attempt_timeout=0.1)), slow_then_fast)
    assert (result, attempts.count, calls) == ("ok", 2, 2)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


async def test_breaker_opens_fails_fast_then_probes_and_closes():
    """Failing calls open the breaker; later calls fail fast; probes close it again."""
    clock = Clock()
    resilience = Resilience("s", settings(retry={"attempts": 1}), clock=clock)
    failing = Flaky(*[unavailable() for _ in range(4)])
    for _ in range(4):
        with pytest.raises(UpstreamUnavailable):
            await run(resilience, failing)
    assert await resilience.breaker.state() is BreakerState.OPEN

    untouched = Flaky()
    with pytest.raises(CircuitOpen) as caught:
        await run(resilience, untouched)
    assert untouched.calls == 0
    assert caught.value.retry_after == pytest.approx(10)

    clock.now += 10
    assert await resilience.breaker.state() is BreakerState.HALF_OPEN
    for _ in range(2):
        assert (await run(resilience, untouched))[0] == "ok"
    assert await resilience.breaker.state() is BreakerState.CLOSED


async def test_a_failed_probe_reopens_the_breaker():
    """In half-open, one failure sends the breaker back to open."""
    clock = Clock()
    resilience = Resilience("s", settings(retry={"attempts": 1}), clock=clock)
    for _ in range(4):
        with pytest.raises(UpstreamUnavailable):
            await run(resilience, Flaky(unavailable()))
    clock.now += 10
    with pytest.raises(UpstreamUnavailable):
        await run(resilience, Flaky(unavailable()))
    assert await resilience.breaker.state() is BreakerState.OPEN


async def test_a_call_past_the_probes_in_flight_fails_fast_with_a_retry_after():
    """Half open with every probe slot taken: CircuitOpen, upstream untouched, come back soon."""
    clock = Clock()
    resilience = Resilience("s", settings(retry={"attempts": 1}), clock=clock)
    for _ in range(4):
        with pytest.raises(UpstreamUnavailable):
            await run(resilience, Flaky(unavailable()))
    clock.now += 10
    release = asyncio.Event()

    async def held(number):
        await release.wait()
        return "ok"

    probes = [asyncio.create_task(run(resilience, held)) for _ in range(2)]
    await asyncio.sleep(0.01)
    untouched = Flaky()
    with pytest.raises(CircuitOpen) as caught:
        await run(resilience, untouched)
    assert untouched.calls == 0
    assert caught.value.retry_after == PROBE_RETRY_AFTER
    release.set()
    assert [(await probe)[0] for probe in probes] == ["ok", "ok"]
    assert await resilience.breaker.state() is BreakerState.CLOSED


async def test_not_found_does_not_open_the_breaker():
    """Records that do not exist say nothing about the upstream's health."""
    resilience = Resilience("s", settings())
    for _ in range(10):
        with pytest.raises(NotFound):
            await run(resilience, Flaky(NotFound("no", source="s")))
    assert await resilience.breaker.state() is BreakerState.CLOSED


async def test_failure_rate_below_the_threshold_keeps_the_breaker_closed():
    """One failure in four calls (25%) stays under a 50% threshold."""
    resilience = Resilience("s", settings(retry={"attempts": 1}))
    for index in range(12):
        errors = [unavailable()] if index % 4 == 0 else []
        with contextlib.suppress(UpstreamUnavailable):
            await run(resilience, Flaky(*errors))
    assert await resilience.breaker.state() is BreakerState.CLOSED


async def test_concurrency_limit_bounds_the_wait_for_a_slot():
    """With one slot taken, a second caller gives up after max_wait."""
    resilience = Resilience("s", settings(limits={"concurrency": 1, "max_wait": 0.05}))
    release = asyncio.Event()

    async def held(number):
        await release.wait()
        return "ok"

    first = asyncio.create_task(run(resilience, held))
    await asyncio.sleep(0.01)
    with pytest.raises(UpstreamUnavailable) as caught:
        await run(resilience, held)
    assert caught.value.cause == "overloaded"
    release.set()
    assert (await first)[0] == "ok"
    assert await resilience.breaker.state() is BreakerState.CLOSED


async def test_no_retries_gives_every_call_a_single_attempt():
    """Within hub.testing.no_retries(), a 503 is not retried; outside it, it is again."""
    from hub.testing import no_retries

    with no_retries():
        flaky = Flaky(unavailable())
        with pytest.raises(UpstreamUnavailable):
            await run(Resilience("s", settings()), flaky)
        assert flaky.calls == 1
    flaky = Flaky(unavailable())
    assert (await run(Resilience("s", settings()), flaky))[0] == "ok"
    assert flaky.calls == 2


async def test_no_retries_nests():
    """Leaving an inner no_retries() keeps retries off until the outer block ends."""
    from hub.testing import no_retries

    with no_retries():
        with no_retries():
            pass
        flaky = Flaky(unavailable())
        with pytest.raises(UpstreamUnavailable):
            await run(Resilience("s", settings()), flaky)
        assert flaky.calls == 1
    flaky = Flaky(unavailable())
    assert (await run(Resilience("s", settings()), flaky))[0] == "ok"
    assert flaky.calls == 2
