"""Stubs of tickwire's compiled core. Private: use the ``tickwire`` package instead."""

from collections.abc import Awaitable, Callable
from typing import Any, Final, final

__all__ = ["DISPATCH_LIMIT", "WAKE_EVERY_MESSAGES", "Connection", "Session", "connect", "open_session"]

DISPATCH_LIMIT: Final[int]
WAKE_EVERY_MESSAGES: Final[int]

def connect(url: str, options: dict[str, Any]) -> Awaitable[Connection]:
    """Open a connection; see ``tickwire.connect``."""

@final
class Connection:
    """Handle of one connection in the Rust core; wrapped by ``tickwire.Connection``."""

    @property
    def url(self) -> str:
        """The URL the connection was opened with."""
    @property
    def state(self) -> str:
        """The state's name: disconnected, connecting, connected, closing, closed or error."""
    @property
    def terminated(self) -> bool:
        """Whether the connection has ended (messages may still be queued)."""
    @property
    def close_code(self) -> int | None:
        """The close code once the connection has ended."""
    @property
    def close_reason(self) -> str | None:
        """The close reason once the connection has ended."""
    def fileno(self) -> int:
        """The wake-up descriptor: readable when queued messages or the end await the consumer."""
    def queue_len(self) -> int:
        """Messages waiting in the queue to Python."""
    def clear_wake(self) -> None:
        """Reset the wake-up descriptor."""
    def try_recv(self) -> str | bytes | None:
        """The next queued message, or ``None`` (arming the wake-up) when none is waiting."""
    def dispatch(self, callback: Callable[[str | bytes], object]) -> bool:
        """Deliver the queued messages to ``callback``; ``True`` once ended and drained."""
    def dispatch_batch(self, callback: Callable[[list[str | bytes]], object]) -> bool:
        """Deliver the queued messages to ``callback`` as one list; ``True`` once ended and drained."""
    def try_send(self, data: str | bytes | bytearray | memoryview) -> bool:
        """Queue ``data`` for sending; ``False`` when the send queue is full."""
    def send_wait(self, data: str | bytes | bytearray | memoryview) -> Awaitable[None]:
        """Queue ``data`` for sending, waiting for room."""
    def close(self, code: int = 1000, reason: str = "") -> Awaitable[None]:
        """Run the closing handshake and wait for the end."""
    def set_read_buffer_capacity(self, capacity: int) -> None:
        """Set the bytes one socket read may take."""
    def stats(self) -> dict[str, Any]:
        """The connection's counters."""

def open_session(
    url: str,
    options: dict[str, Any],
    policy: dict[str, Any],
    breaker: dict[str, Any] | None,
    on_connect: list[str | bytes],
) -> Session:
    """Start a reconnecting session; see ``tickwire.open_session``."""

@final
class Session:
    """Handle of one reconnecting session in the Rust core; wrapped by ``tickwire.Session``."""

    @property
    def url(self) -> str:
        """The URL every connection of the session opens."""
    @property
    def terminated(self) -> bool:
        """Whether the session has ended (messages may still be queued)."""
    @property
    def connected(self) -> bool:
        """Whether a connection is open now."""
    def fileno(self) -> int:
        """The wake-up descriptor of the session's inbox."""
    def queue_len(self) -> int:
        """Messages and events waiting in the queue to Python."""
    def clear_wake(self) -> None:
        """Reset the wake-up descriptor."""
    def try_recv(self) -> str | bytes | dict[str, Any] | None:
        """The next queued message or event (a dict), or ``None`` (arming the wake-up)."""
    def dispatch(
        self, callback: Callable[[str | bytes], object], on_event: Callable[[dict[str, Any]], object]
    ) -> bool:
        """Deliver queued messages to ``callback`` and events to ``on_event``; ``True`` once ended and drained."""
    def dispatch_batch(
        self, callback: Callable[[list[str | bytes]], object], on_event: Callable[[dict[str, Any]], object]
    ) -> bool:
        """Deliver queued messages to ``callback`` as lists and events to ``on_event``."""
    def set_on_connect(self, messages: list[str | bytes]) -> None:
        """Replace the messages sent on every new connection."""
    def try_send(self, data: str | bytes | bytearray | memoryview) -> bool:
        """Queue ``data`` on the open connection; ``False`` when its send queue is full."""
    def send_wait(self, data: str | bytes | bytearray | memoryview) -> Awaitable[None]:
        """Queue ``data`` on the open connection, waiting for room."""
    def close(self) -> Awaitable[None]:
        """Stop reconnecting, close the open connection, and wait for the end."""
    def stats(self) -> dict[str, Any]:
        """The session's counters."""
