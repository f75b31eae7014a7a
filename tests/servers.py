"""Peer servers for the tests, each on its own event loop in its own thread.

Every server here runs on a private asyncio loop in a daemon thread, never on the test's loop:
some tests block the test's loop on purpose (a callback calling ``time.sleep``) and the peer has
to keep running meanwhile. All servers listen on 127.0.0.1 with an ephemeral port.

Two kinds of server:

* :class:`WsServer` runs the ``websockets`` library's asyncio server with a handler
  ``async def handler(ws)``.
* :class:`RawServer` runs a bare ``asyncio.start_server`` with a handler
  ``async def handler(reader, writer)``, for peers that must misbehave on the wire or be faster
  than the ``websockets`` library; the ``raw_*``/``frame`` helpers below speak RFC 6455 by hand.

Both are used as ``async with WsServer(handler) as server:`` (or ``with``, from synchronous code)
and expose ``server.url``. An exception escaping a handler (other than the peer closing the
connection) is recorded and raised as an ``AssertionError`` when the server stops, so a failed
server-side assertion fails the test that started the server.

Results flow from a handler to the test through ``concurrent.futures.Future`` objects, which the
test awaits with :func:`wait_future`.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

import websockets.exceptions
from websockets.asyncio.server import Server, ServerConnection, serve

__all__ = [
    "LoopThread",
    "RawServer",
    "WsServer",
    "close_payload",
    "frame",
    "parse_close",
    "raw_handshake",
    "read_frame",
    "read_until_close",
    "refused_port",
    "silent_listener",
    "wait_future",
]

T = TypeVar("T")

HOST = "127.0.0.1"
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


async def wait_future(future: concurrent.futures.Future[T], timeout: float = 10.0) -> T:
    """Await a result a server thread delivers through a ``concurrent.futures.Future``."""
    return await asyncio.wait_for(asyncio.wrap_future(future), timeout)


class LoopThread:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the thread's loop."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the thread's loop and block until it is done."""
        return self.submit(coro).result(timeout)

    async def acall(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the thread's loop; await it from another loop."""
        return await wait_future(self.submit(coro), timeout)

    def stop(self) -> None:
        """Cancel whatever still runs on the loop, stop it, join the thread, close the loop."""

        async def cancel_all() -> None:
            me = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not me]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.call(cancel_all(), timeout=15)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(15)
            assert not self._thread.is_alive(), "server thread did not stop"
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


class _PeerServer:
    """Start/stop plumbing shared by :class:`WsServer` and :class:`RawServer`."""

    scheme = "ws"

    def __init__(self) -> None:
        self.port: int = 0
        self.errors: list[BaseException] = []
        self._thread: LoopThread | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.port}/"

    def url_for(self, path: str) -> str:
        """The server's URL with ``path`` (which starts with ``/``)."""
        return f"{self.scheme}://{HOST}:{self.port}{path}"

    async def _start(self) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError

    def _record(self, exc: BaseException) -> None:
        self.errors.append(exc)

    # Synchronous use (fixtures, or code outside a running loop).
    def start(self) -> None:
        self._thread = LoopThread(f"peer-{type(self).__name__}")
        try:
            self._thread.call(self._start())
        except BaseException:
            self._thread.stop()
            raise

    def stop(self) -> None:
        assert self._thread is not None
        try:
            self._thread.call(self._stop())
        finally:
            self._thread.stop()
        self._raise_errors()

    def _raise_errors(self) -> None:
        if self.errors:
            raise AssertionError(f"the peer server's handler failed: {self.errors!r}") from (
                self.errors[0]
            )

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.stop()
        else:
            # Don't mask the test's own failure with the server's; attach the server's to it.
            with contextlib.suppress(Exception):
                self.stop()
            self._note_errors(exc)

    def _note_errors(self, exc: BaseException) -> None:
        for error in self.errors:
            exc.add_note(f"peer server handler failed too: {error!r}")

    # Asynchronous use, from a test: the test's loop stays responsive while the server starts
    # and stops (stopping may include closing handshakes with the client under test).
    async def __aenter__(self) -> Self:
        self._thread = LoopThread(f"peer-{type(self).__name__}")
        try:
            await self._thread.acall(self._start())
        except BaseException:
            await asyncio.to_thread(self._thread.stop)
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._thread is not None
        try:
            await self._thread.acall(self._stop())
        finally:
            await asyncio.to_thread(self._thread.stop)
        if exc is None:
            self._raise_errors()
        else:
            self._note_errors(exc)

    def run(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the server's loop (e.g. to act on a connection from the test)."""
        assert self._thread is not None
        return self._thread.submit(coro)


class WsServer(_PeerServer):
    """A ``websockets`` asyncio server running ``handler(ws)`` for each connection.

    ``serve_kwargs`` go to ``websockets.asyncio.server.serve`` (``ssl``, ``ping_interval``,
    ``max_size``, ``process_request`` …). Incoming messages are unlimited in size by default.
    """

    def __init__(
        self, handler: Callable[[ServerConnection], Awaitable[None]], *, port: int = 0, **serve_kwargs: Any
    ):
        super().__init__()
        self._handler = handler
        self._bind_port = port
        serve_kwargs.setdefault("max_size", None)
        self._kwargs = serve_kwargs
        if isinstance(serve_kwargs.get("ssl"), ssl.SSLContext):
            self.scheme = "wss"
        self._server: Server | None = None

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            await self._handler(ws)
        except websockets.exceptions.ConnectionClosed:
            pass  # The client under test went away; tests check what they expect explicitly.
        except Exception as exc:
            self._record(exc)
            raise

    async def _start(self) -> None:
        self._server = await serve(self._handle, HOST, self._bind_port, **self._kwargs)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


class RawServer(_PeerServer):
    """A bare TCP server (``asyncio.start_server``) running ``handler(reader, writer)``.

    The writer is closed after the handler returns. Handlers talk WebSocket through
    :func:`raw_handshake`, :func:`frame`, :func:`read_frame` and friends.
    """

    def __init__(
        self, handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
    ) -> None:
        super().__init__()
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handler(reader, writer)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._record(exc)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


# --- RFC 6455 by hand, for RawServer handlers -------------------------------------------------


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + WS_GUID).digest()).decode("ascii")


async def raw_handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[str, dict[str, str]]:
    """Read the client's upgrade request and accept it; return (request line, headers).

    Header names are lower-cased.
    """
    request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = request.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    assert headers.get("upgrade", "").lower() == "websocket", headers
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: "
        + accept_key(headers["sec-websocket-key"]).encode("ascii")
        + b"\r\n\r\n"
    )
    await writer.drain()
    return lines[0], headers


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bytes | None = None
) -> bytes:
    """One WebSocket frame; unmasked (as a server sends) unless ``mask`` (4 bytes) is given."""
    first = (0x80 if fin else 0) | (rsv & 0x7) << 4 | opcode
    length = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if mask is None:
        return header + payload
    return header + mask + _unmask(payload, mask)


def _unmask(data: bytes, mask: bytes) -> bytes:
    if not data:
        return data
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")


def parse_close(payload: bytes) -> tuple[int | None, str]:
    """(code, reason) of a close frame's payload; code ``None`` for an empty payload."""
    if len(payload) < 2:
        return None, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8")


async def read_frame(reader: asyncio.StreamReader) -> tuple[bool, int, bytes, bool]:
    """Read one frame: (fin, opcode, unmasked payload, whether it was masked)."""
    first, second = await reader.readexactly(2)
    fin = bool(first & 0x80)
    opcode = first & 0x0F
    masked = bool(second & 0x80)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if masked else b""
    payload = await reader.readexactly(length)
    if masked:
        payload = _unmask(payload, mask)
    return fin, opcode, payload, masked


async def read_until_close(
    reader: asyncio.StreamReader, timeout: float = 10.0
) -> tuple[int | None, str, bool]:
    """Skip frames until the client's close frame; return (code, reason, whether masked)."""
    async with asyncio.timeout(timeout):
        while True:
            _fin, opcode, payload, masked = await read_frame(reader)
            if opcode == OP_CLOSE:
                code, reason = parse_close(payload)
                return code, reason, masked


# --- Sockets that are not WebSocket servers -----------------------------------------------------


@contextlib.contextmanager
def refused_port() -> Any:
    """A loopback port where a connection is refused: bound, not listening, kept bound so that
    nothing else can take it meanwhile. Yields the port number."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        yield sock.getsockname()[1]


@contextlib.contextmanager
def silent_listener() -> Any:
    """A loopback port that completes the TCP handshake (the kernel accepts into the backlog) but
    never says a word. Yields the port number."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        sock.listen(16)
        yield sock.getsockname()[1]
