"""Serving ASGI apps (the mocks, the sidecar) with uvicorn on loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import uvicorn

__all__ = ["ServedApp", "bind", "serve_forever"]


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # asyncio sets TCP_NODELAY only on connections whose socket names its protocol; with
    # the default 0, Nagle's algorithm holds each answer's body until the client's delayed
    # acknowledgement of its head, 40 ms on every keep-alive request after the first.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _config(app: Any, **options: Any) -> uvicorn.Config:
    options.setdefault("log_level", "warning")
    options.setdefault("access_log", False)
    options.setdefault("lifespan", "on")
    options.setdefault("timeout_graceful_shutdown", 5)
    options.setdefault("timeout_keep_alive", 30)
    return uvicorn.Config(app, **options)


class ServedApp:
    """An ASGI app served by uvicorn on a loopback port, in a thread of its own.

    Used by the tests and by ``make run`` to talk to a mock over real HTTP::

        with ServedApp(create_app(seed=1)) as served:
            httpx.get(served.url + "/_admin/stats")

    Args:
        app: The ASGI application.
        host: The address to bind; loopback by default.
        port: The port; 0 picks a free one.
        options: Further ``uvicorn.Config`` options.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, **options: Any):
        self._socket = bind(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self._server = uvicorn.Server(_config(app, **options))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ServedApp:
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"served-app-{self.port}",
            daemon=True,
        )
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the server on port {self.port} failed to start")
            self._thread.join(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(2)
            if self._thread.is_alive():
                # Connections held open on purpose (the "timeout" fault) must not stall.
                self._server.force_exit = True
                self._thread.join(10)
        with contextlib.suppress(OSError):
            self._socket.close()

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _SignalFreeServer(uvicorn.Server):
    """A server that leaves signals to the process, which runs several of them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_forever(
    apps: Sequence[tuple[Any, socket.socket]], *, handle_signals: bool = False, **options: Any
) -> None:
    """Serve several mock apps, each on its own socket, in this event loop.

    Args:
        apps: (ASGI app, listening socket) pairs.
        handle_signals: Stop them all on SIGINT or SIGTERM (when this process is theirs);
            otherwise they run until the task is cancelled.
        options: Further ``uvicorn.Config`` options.
    """
    # Mocks need no start-up or shutdown work; without lifespan a cancel is quiet.
    options.setdefault("lifespan", "off")
    servers = [_SignalFreeServer(_config(app, **options)) for app, _ in apps]
    if handle_signals:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, _stop_all, servers)
    await asyncio.gather(
        *(server.serve(sockets=[sock]) for server, (_, sock) in zip(servers, apps, strict=True))
    )


def _stop_all(servers: Sequence[uvicorn.Server]) -> None:
    for server in servers:
        server.should_exit = True
