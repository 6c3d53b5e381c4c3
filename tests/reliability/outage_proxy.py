"""A TCP proxy between the hub and PostgreSQL whose connections the tests cut.

It runs its own event loop in a thread, so that it keeps working whatever the hub's loop
or the test's thread is doing. Two ways to cut:

- `sever`: every connection is reset on both sides (the server ends its sessions at
  once) and new ones are reset as soon as they are accepted, as when the server or a
  firewall drops them;
- `blackhole`: connections stay open but nothing passes, old or new, as in a network
  partition. The server never learns of it: the sessions it holds for the hub stay, with
  their locks, until `stop`.

`restore` forwards new connections again.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")

CHUNK = 65536


class State(Enum):
    OPEN = "open"
    SEVERED = "severed"
    BLACKHOLE = "blackhole"


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset rather than an orderly end (linger 0, then abort)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Connection:
    """One proxied connection: the client's side and, once connected, the server's."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.blackholed = False

    def reset(self) -> None:
        _reset(self.client)
        if self.upstream is not None:
            _reset(self.upstream)


class CutProxy:
    """A loopback TCP proxy to ``host:port`` that can be severed, black-holed and restored.

    Use it as a context manager; `port` is where it listens.

    Args:
        host: The server's address.
        port: The server's port.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._state = State.OPEN
        self.port = 0
        #: Connections accepted, in all.
        self.accepted = 0

    def __enter__(self) -> CutProxy:
        self._thread.start()
        self._server = self._run(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def sever(self) -> None:
        """Reset every connection, and every new one."""
        self._run(self._set(State.SEVERED))

    def blackhole(self) -> None:
        """Pass nothing on any connection, old or new, and keep them all open."""
        self._run(self._set(State.BLACKHOLE))

    def restore(self) -> None:
        """Forward new connections again (black-holed ones stay so)."""
        self._run(self._set(State.OPEN))

    def stop(self) -> None:
        """Reset every connection, black-holed ones too, and stop listening."""
        if not self._thread.is_alive():
            return
        self._run(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _set(self, state: State) -> None:
        self._state = state
        if state is State.SEVERED:
            for connection in self._connections:
                connection.reset()
            self._connections.clear()
        elif state is State.BLACKHOLE:
            for connection in self._connections:
                connection.blackholed = True

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in self._connections:
            connection.reset()
        self._connections.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self._state is State.SEVERED:
            _reset(writer)
            return
        connection = _Connection(writer)
        self._connections.add(connection)
        if self._state is State.BLACKHOLE:
            connection.blackholed = True
            await self._swallow(reader)
            return
        try:
            upstream_reader, connection.upstream = await asyncio.open_connection(*self._target)
        except OSError:
            self._connections.discard(connection)
            _reset(writer)
            return
        await asyncio.gather(
            self._pump(reader, connection.upstream, connection),
            self._pump(upstream_reader, writer, connection),
        )

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError):
            while await reader.read(CHUNK):
                pass

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: _Connection
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                if connection.blackholed:
                    continue
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        # One side ended: end the other, unless the connection is black-holed, whose
        # far end must not learn anything.
        if not connection.blackholed and connection in self._connections:
            self._connections.discard(connection)
            connection.reset()
