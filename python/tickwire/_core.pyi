"""Stubs of tickwire's compiled core. Private: use the ``tickwire`` package instead."""

from collections.abc import Awaitable, Callable
from typing import Any, Final, final

__all__ = ["DISPATCH_LIMIT", "WAKE_EVERY_MESSAGES", "Connection", "connect"]

DISPATCH_LIMIT: Final[int]
WAKE_EVERY_MESSAGES: Final[int]

def connect(
    url: str,
    *,
    nodelay: bool,
    recv_buffer: int | None,
    send_buffer: int | None,
    max_message_size: int,
    max_frame_size: int,
    headers: list[tuple[str, str]],
    ca_file: str | None,
    open_timeout: float,
    close_timeout: float,
    max_queue: int,
    read_buffer_size: int,
    ping_interval: float | None,
    stale_timeout: float | None,
) -> Awaitable[Connection]:
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
