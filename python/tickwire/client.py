"""One WebSocket client connection: :func:`connect` and :class:`Connection`.

The socket lives on tickwire's Rust I/O thread, which reads frames into a bounded queue and wakes
the asyncio loop through one file descriptor when the queue goes from empty to non-empty. Python
is entered once per wake-up, however many messages are waiting: ``recv()`` pops them one by one
without suspending, and an ``on_message`` callback receives the whole batch in one call into
Rust. Callbacks run on the asyncio loop's thread, so they may call any asyncio API.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Final, TypedDict, Unpack

from . import _core
from ._stream import BatchCallback, Consumer, MessageCallback, MessageStream

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_READ_BUFFER_SIZE",
    "BatchCallback",
    "ConnectOptions",
    "Connection",
    "MessageCallback",
    "State",
    "connect",
    "connect_options",
]

#: Largest incoming message accepted, in bytes; a bigger one fails the connection with close 1009.
DEFAULT_MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024
#: Largest incoming frame payload accepted, in bytes.
DEFAULT_MAX_FRAME_SIZE: Final = 16 * 1024 * 1024
#: Messages the queue to Python holds before the I/O thread stops reading the socket.
DEFAULT_MAX_QUEUE: Final = 65_536
#: Size of the reused read buffers, in bytes; see :meth:`Connection.set_read_buffer_capacity`.
DEFAULT_READ_BUFFER_SIZE: Final = 256 * 1024



_DEFAULT_OPTIONS: Final[dict[str, Any]] = {
    "nodelay": True,
    "recv_buffer": None,
    "send_buffer": None,
    "max_message_size": DEFAULT_MAX_MESSAGE_SIZE,
    "max_frame_size": DEFAULT_MAX_FRAME_SIZE,
    "headers": None,
    "ca_file": None,
    "open_timeout": 10.0,
    "close_timeout": 10.0,
    "max_queue": DEFAULT_MAX_QUEUE,
    "read_buffer_size": DEFAULT_READ_BUFFER_SIZE,
    "ping_interval": 20.0,
    "stale_timeout": 60.0,
}


class State(str, enum.Enum):
    """Where a connection is in its life; compare with the members or with their string values."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSING = "closing"
    CLOSED = "closed"
    ERROR = "error"


async def connect(
    url: str,
    *,
    nodelay: bool = True,
    recv_buffer: int | None = None,
    send_buffer: int | None = None,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    headers: Mapping[str, str] | None = None,
    ca_file: str | None = None,
    open_timeout: float = 10.0,
    close_timeout: float = 10.0,
    max_queue: int = DEFAULT_MAX_QUEUE,
    read_buffer_size: int = DEFAULT_READ_BUFFER_SIZE,
    ping_interval: float | None = 20.0,
    stale_timeout: float | None = 60.0,
) -> Connection:
    """Open a WebSocket connection to ``url`` (``ws://`` or ``wss://``).

    Per-message deflate is never offered, so frames reach the parser as they left the server.

    Args:
        url: The ``ws://`` or ``wss://`` URL to connect to.
        nodelay: Set ``TCP_NODELAY`` so small writes leave at once (default ``True``).
        recv_buffer: ``SO_RCVBUF`` in bytes; ``None`` keeps the kernel's default.
        send_buffer: ``SO_SNDBUF`` in bytes; ``None`` keeps the kernel's default.
        max_message_size: Largest incoming message in bytes (default 16 MiB); a larger one
            fails the connection with close code 1009.
        max_frame_size: Largest incoming frame payload in bytes (default 16 MiB).
        headers: Extra HTTP headers for the opening handshake.
        ca_file: A PEM file of CA certificates trusted for ``wss://`` in addition to the
            bundled Mozilla roots.
        open_timeout: Seconds allowed for DNS, TCP, TLS and the upgrade together (default 10).
        close_timeout: Seconds the closing handshake may take before the TCP connection is
            dropped (default 10).
        max_queue: Messages the queue to Python holds (default 65,536). When it is full the
            I/O thread stops reading the socket until Python catches up, so TCP pushes back on
            the sender; nothing is dropped, and ``stats()["queue_full_events"]`` counts each time.
        read_buffer_size: Size in bytes of the reused buffers the socket is read into, which is
            the most one socket read takes (default 256 KiB).
        ping_interval: Seconds between WebSocket pings sent to keep the connection alive and to
            measure its round trip (default 20); ``None`` sends none.
        stale_timeout: Seconds the connection may receive nothing at all (no data, no pong, no
            ping) before it is dropped as stale (default 60), ending with close code 1006 and a
            reason that says so; ``None`` never. Time spent not reading because ``max_queue``
            is full does not count.

    Returns:
        The open connection, in state ``connected``.

    Raises:
        NetworkError: The host did not resolve or could not be reached.
        TlsError: The TLS handshake or certificate check failed.
        HandshakeError: The server answered the upgrade with an HTTP error (see ``status``).
        TickwireTimeoutError: Opening took longer than ``open_timeout``.
        ValueError: An option or the URL is invalid.
    """
    loop = asyncio.get_running_loop()
    options = connect_options(
        nodelay=nodelay,
        recv_buffer=recv_buffer,
        send_buffer=send_buffer,
        max_message_size=max_message_size,
        max_frame_size=max_frame_size,
        headers=headers,
        ca_file=ca_file,
        open_timeout=open_timeout,
        close_timeout=close_timeout,
        max_queue=max_queue,
        read_buffer_size=read_buffer_size,
        ping_interval=ping_interval,
        stale_timeout=stale_timeout,
    )
    core = await _core.connect(url, options)
    return Connection(core, loop)


class ConnectOptions(TypedDict, total=False):
    """The connection options of :func:`connect`, also accepted by :func:`open_session`."""

    nodelay: bool
    recv_buffer: int | None
    send_buffer: int | None
    max_message_size: int
    max_frame_size: int
    headers: Mapping[str, str] | None
    ca_file: str | None
    open_timeout: float
    close_timeout: float
    max_queue: int
    read_buffer_size: int
    ping_interval: float | None
    stale_timeout: float | None


def connect_options(**options: Unpack[ConnectOptions]) -> dict[str, Any]:
    """The option dict the core takes: ``options`` over :func:`connect`'s defaults.

    Raises:
        TypeError: An option name is unknown.
    """
    unknown = set(options) - set(_DEFAULT_OPTIONS)
    if unknown:
        raise TypeError(f"unknown connection option(s): {', '.join(sorted(unknown))}")
    merged: dict[str, Any] = {**_DEFAULT_OPTIONS, **options}
    headers = merged["headers"]
    merged["headers"] = list(headers.items()) if headers else []
    return merged


class Connection(MessageStream):
    """An open WebSocket client connection; made by :func:`connect`, not directly.

    Read it with ``await recv()`` or ``async for message in conn``, or hand every message to a
    callback with :meth:`on_message`. Text frames arrive as ``str``, binary frames as ``bytes``.

    Like an asyncio transport, an open connection stays open while its event loop watches it,
    whether or not the program still references it, so a callback keeps receiving until either
    side closes; close it (or use ``async with``) when done.
    """

    __slots__ = ("_core",)

    def __init__(self, core: _core.Connection, loop: asyncio.AbstractEventLoop) -> None:
        self._core = core
        super().__init__(core, loop)

    def _dispatch(self, callback: Consumer) -> bool:
        # A lone connection decodes nothing: only user callbacks are ever set on it.
        assert not isinstance(callback, _core.Dispatch)
        return self._core.dispatch(callback)

    def _dispatch_batch(self, callback: Consumer) -> bool:
        assert not isinstance(callback, _core.Dispatch)
        return self._core.dispatch_batch(callback)

    def __repr__(self) -> str:
        return f"<tickwire.Connection {self._core.url} {self._core.state}>"

    @property
    def url(self) -> str:
        """The URL this connection was opened with."""
        return self._core.url

    @property
    def state(self) -> State:
        """The connection's current :class:`State`."""
        return State(self._core.state)

    @property
    def close_code(self) -> int | None:
        """The close code once the connection is closed, else ``None``."""
        return self._core.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason once the connection is closed, else ``None``."""
        return self._core.close_reason

    async def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Send one message: ``str`` as a text frame, bytes-like as a binary frame, as it is.

        Returns once the message is queued for the I/O thread, which writes queued messages
        together; waits only while that queue is full.

        Raises:
            ConnectionClosed: The connection is closing or closed.
            TypeError: ``data`` is neither ``str`` nor bytes-like.
        """
        if not self._core.try_send(data):
            await self._core.send_wait(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with a closing handshake and wait until it is done.

        After ``close_timeout`` seconds without the peer's answer the TCP connection is dropped.
        Calling it on a closed connection does nothing.

        Raises:
            ValueError: ``code`` may not be sent (RFC 6455 §7.4) or ``reason`` exceeds 123 bytes.
        """
        await self._core.close(code, reason)
        await self.wait_closed()

    def stats(self) -> dict[str, Any]:
        """Counters for monitoring, read without stopping the connection.

        Keys: ``state``; ``messages_in``, ``bytes_in``, ``messages_out``, ``bytes_out``;
        ``connect_time_ns`` (how long opening took); ``connected_at_ns`` and
        ``last_message_ns`` (``time.monotonic_ns()`` clock, ``None`` before the first message);
        ``queue_len`` and ``queue_capacity``; ``queue_full_events`` (times the I/O thread found
        the queue full and paused reading: the lag counter) and ``queue_full_ns`` (time spent so
        paused); ``messages_delivered``, ``batches_delivered``, ``callback_errors``;
        ``read_buffer_capacity``; ``last_receive_ns`` (anything received), ``pings_sent``,
        ``pongs_received``, ``last_pong_ns`` and ``ping_rtt_ns`` (round trip of the last answered
        heartbeat ping; ``None`` before the first).
        """
        return self._core.stats()

    def set_read_buffer_capacity(self, capacity: int) -> None:
        """Set the size of the read buffers taken from now on (the one being filled is kept).

        Larger buffers mean fewer system calls on a busy stream; smaller ones use less memory.

        Raises:
            ValueError: ``capacity`` is below 4096 or above 64 MiB.
        """
        self._core.set_read_buffer_capacity(capacity)

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
