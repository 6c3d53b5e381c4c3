"""Keep-alive connections to the mocks: no answer waits for the client's acknowledgement."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvloop

from hub._registry import installed_mocks
from hub._serving import ServedApp, bind, serve_forever

REQUESTS = 10


@contextlib.contextmanager
def served_apart() -> Iterator[list[int]]:
    """Every mock on its own `ServedApp`, as the tests' fixtures serve them."""
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(ServedApp(mock.create_app(seed=1, citizens=1_000))).port
            for mock in installed_mocks().values()
        ]


@contextlib.contextmanager
def served_together(new_loop: Callable[[], asyncio.AbstractEventLoop]) -> Iterator[list[int]]:
    """Every mock in one event loop of ``new_loop``'s kind, as the commands serve them."""
    sockets = [bind() for _ in installed_mocks()]
    apps = [mock.create_app(seed=1, citizens=1_000) for mock in installed_mocks().values()]
    loop = new_loop()
    serving = loop.create_task(serve_forever(list(zip(apps, sockets, strict=True))))

    def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(serving)
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        # The sockets listen already: a connection waits in the backlog until served.
        yield [sock.getsockname()[1] for sock in sockets]
    finally:
        loop.call_soon_threadsafe(serving.cancel)
        thread.join(10)
        for sock in sockets:
            sock.close()


SERVINGS = {
    # The fixtures (`ServedApp`: uvicorn's own loop), `hub mocks serve` (asyncio.run)
    # and `hub serve --mocks` (uvloop.run, beside the sidecar).
    "fixture": served_apart,
    "hub mocks serve": lambda: served_together(asyncio.new_event_loop),
    "hub serve --mocks": lambda: served_together(uvloop.new_event_loop),
}


def answer_times_ms(port: int) -> list[float]:
    """Milliseconds of each of REQUESTS sequential requests on one raw keep-alive socket."""
    times = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        answers = conn.makefile("rb")
        for _ in range(REQUESTS):
            start = time.perf_counter()
            conn.sendall(b"GET /_admin/stats HTTP/1.1\r\nHost: mock\r\n\r\n")
            length = 0
            while (line := answers.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            assert len(answers.read(length)) == length
            times.append((time.perf_counter() - start) * 1000)
    return times


@pytest.mark.parametrize("serving", SERVINGS)
def test_a_keep_alive_connection_answers_at_once(serving):
    """Every request after the first answers without waiting out a delayed acknowledgement."""
    with SERVINGS[serving]() as ports:
        for name, port in zip(installed_mocks(), ports, strict=True):
            later = answer_times_ms(port)[1:]
            assert statistics.median(later) < 5, f"{name}: {[round(ms, 1) for ms in later]}"
