"""Stubs of tickwire's compiled core. Private: use the ``tickwire`` package instead."""

from collections.abc import Awaitable, Callable
from typing import Any, Final, final

__all__ = [
    "DISPATCH_LIMIT",
    "WAKE_EVERY_MESSAGES",
    "Connection",
    "LatencyHistogram",
    "Session",
    "Simulator",
    "Subscriptions",
    "connect",
    "open_session",
    "start_simulator",
]

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

def start_simulator(
    venues: list[str],
    symbols: list[str],
    rate: int,
    seed: int,
    depth: int,
    faults_per_minute: float,
    host: str,
    port_base: int | None,
    heartbeat_scale: float,
) -> Simulator:
    """Start a simulator; see ``tickwire.Simulator``."""

@final
class Simulator:
    """Handle of one running simulator in the Rust core; wrapped by ``tickwire.Simulator``."""

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
    def venues(self) -> list[str]:
        """The simulated venues, in configuration order."""
    def url(self, venue: str, path: str | None = None) -> str:
        """The venue's WebSocket URL (at ``path``, or its first path)."""
    def markets(self, venue: str) -> list[tuple[str, str]]:
        """The venue's markets as (unified, native) pairs."""
    def inject(self, venue: str, fault: str, symbol: str | None = None) -> int:
        """Inject a fault into every client of the venue; returns how many it reached."""
    def stats(self) -> dict[str, dict[str, Any]]:
        """Counters by venue."""
    def close(self) -> Awaitable[None]:
        """Stop every server and wait until its tasks have ended."""

@final
class Subscriptions:
    """Subscriptions of one venue connection: batched, rate-limited, confirmed, retried.

    Ids are dense ints (interned indices); times are ``time.monotonic_ns()`` values.
    """

    def __new__(
        cls,
        batch_size: int,
        rate_count: int,
        rate_per: float,
        burst: int,
        confirm_timeout: float,
        retry_delay: float,
        max_attempts: int,
    ) -> Subscriptions:
        """Counts must be at least 1 and seconds positive, else ``ValueError``."""
    def request(self, ids: list[int]) -> int:
        """Want ``ids`` subscribed; how many were not wanted already."""
    def unrequest(self, ids: list[int]) -> int:
        """Want ``ids`` unsubscribed; how many were wanted."""
    def next_requests(self, now_ns: int) -> list[tuple[int, bool, list[int]]]:
        """The requests to send now as ``(request_id, is_subscribe, ids)``, within the rate limit."""
    def confirm(self, request_id: int) -> bool:
        """The venue accepted ``request_id``; ``False`` (and ignored) if it is not outstanding."""
    def reject(self, request_id: int, reason: str, now_ns: int) -> bool:
        """The venue refused ``request_id``; ``False`` (and ignored) if it is not outstanding."""
    def expire(self, now_ns: int) -> int:
        """Retry or give up on requests unanswered past ``confirm_timeout``; how many timed out."""
    def on_reconnect(self) -> None:
        """A new connection: forget requests in flight and queue every wanted id again."""
    def take_failures(self) -> list[tuple[bool, list[int], str, int]]:
        """Requests given up on since the last call, as ``(was_subscribe, ids, reason, attempts)``."""
    def next_wakeup_ns(self) -> int | None:
        """When there is next something to do (``monotonic_ns``), or ``None`` when settled."""
    def is_active(self, id: int) -> bool:
        """Whether ``id`` is wanted and confirmed by the venue."""
    def active(self) -> list[int]:
        """The ids wanted and confirmed by the venue, ascending."""
    def counts(self) -> dict[str, int]:
        """requested, active, in_flight, retrying, requests_sent and failed_attempts."""

@final
class LatencyHistogram:
    """A latency distribution in nanoseconds (HDR histogram) over ``1..=max_ns``.

    Values above ``max_ns`` are recorded as ``max_ns`` and counted in ``clamped``.
    """

    def __new__(cls, max_ns: int = 60_000_000_000, significant_digits: int = 3) -> LatencyHistogram:
        """``max_ns`` at least 2 and ``significant_digits`` in 0..5, else ``ValueError``."""
    def record(self, ns: int) -> None:
        """Record one value; ``ValueError`` if negative."""
    def record_many(self, values: list[int]) -> None:
        """Record every value; ``ValueError`` (and nothing recorded) if one is negative."""
    @property
    def count(self) -> int:
        """Values recorded since creation or the last ``reset()``."""
    @property
    def clamped(self) -> int:
        """Of ``count``, the values that were above ``max_ns``."""
    @property
    def max_ns(self) -> int:
        """The largest value recorded (never above the range's top); 0 when empty."""
    @property
    def mean_ns(self) -> float:
        """The mean of the values recorded; 0.0 when empty."""
    def percentile_ns(self, q: float) -> int:
        """The value ``q`` % (0 to 100) of the values are at or below; 0 when empty."""
    def share_below(self, ns: int) -> float:
        """The fraction of the values at or below ``ns``; 0.0 when empty."""
    def reset(self) -> None:
        """Forget every value recorded."""
    def summary(self) -> dict[str, int | float]:
        """count, mean_ns, p50_ns, p95_ns, p99_ns, max_ns and clamped."""
