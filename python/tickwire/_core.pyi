"""Stubs of tickwire's compiled core. Private: use the ``tickwire`` package instead."""

from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any, Final, Literal, final

__all__ = [
    "BBO",
    "DISPATCH_LIMIT",
    "WAKE_EVERY_MESSAGES",
    "BookInvalid",
    "BookUpdate",
    "BookView",
    "Connection",
    "Dispatch",
    "LatencyHistogram",
    "Server",
    "Session",
    "Simulator",
    "Subscriptions",
    "Ticker",
    "Trade",
    "VenueProtocol",
    "connect",
    "endpoint_kind",
    "open_session",
    "parse",
    "quiesce",
    "MexcPushDecoder",
    "market_id",
    "register_venue",
    "start_server",
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
    venue: VenueProtocol | None = None,
) -> Session:
    """Start a reconnecting session; see ``tickwire.open_session``. With ``venue``, messages are
    decoded by the venue's parser on the I/O thread."""

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
    def dispatch_market(self, dispatch: Dispatch) -> bool:
        """Deliver decoded events through ``dispatch``'s tables; ``True`` once ended and drained."""
    def reconnect(self, reason: str) -> bool:
        """Close the open connection and open a new one at once; ``False`` if none was open."""
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
    credentials: list[tuple[str, str, str]] = ...,
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
    def urls(self) -> list[tuple[str, str]]:
        """Every endpoint's (name, URL): ``binance``, ``bybit``, ``bybit-linear`` …"""
    def markets(self, venue: str) -> list[tuple[str, str]]:
        """The venue's markets as (unified, native) pairs."""
    def inject(self, venue: str, fault: str, symbol: str | None = None) -> int:
        """Inject a fault into every client of the venue; returns how many it reached."""
    def pause(self, venue: str | None = None) -> None:
        """Stop the venue's market generation (``None``: every venue's) from its next batch."""
    def resume(self, venue: str | None = None) -> None:
        """Generate again on the venue (``None``: every venue), at its pace, without a catch-up burst."""
    def book(self, venue: str, symbol: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]], int]:
        """The true book as ``(bids, asks, update_id)``, each side best first, (price, qty) as text."""
    def stats(self) -> dict[str, dict[str, Any]]:
        """Counters by venue."""
    def close(self) -> None:
        """Stop every server and wait (without the GIL) until its tasks have ended."""

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
    def refresh(self, ids: list[int]) -> int:
        """Unsubscribe and subscribe the active ones of ``ids`` again; how many were active."""
    def next_requests(self, now_ns: int) -> list[tuple[int, bool, list[int]]]:
        """The requests to send now as ``(request_id, is_subscribe, ids)``, within the rate limit."""
    def confirm(self, request_id: int) -> bool:
        """The venue accepted ``request_id``; ``False`` (and ignored) if it is not outstanding."""
    def reject(self, request_id: int, reason: str, now_ns: int) -> bool:
        """The venue refused ``request_id``; ``False`` (and ignored) if it is not outstanding."""
    def oldest_sent(self) -> int | None:
        """The oldest request sent and not answered yet."""
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

_Number = str | int | Decimal
_Level = tuple[_Number, _Number]

@final
class Trade:
    """A trade, normalized: exact prices, unified symbol, the taker's side."""

    def __new__(
        cls,
        venue: str,
        symbol: str,
        price: _Number,
        qty: _Number,
        side: Literal["buy", "sell"],
        trade_id: str | int,
        exchange_time_ns: int,
        receive_time_ns: int = 0,
    ) -> Trade: ...
    @property
    def venue(self) -> str:
        """The venue's name (``"binance"`` …)."""
    @property
    def symbol(self) -> str:
        """The unified symbol (``"BTC/USDT"``)."""
    @property
    def native_symbol(self) -> str:
        """The venue's own symbol (``"BTCUSDT"``)."""
    @property
    def price(self) -> Decimal:
        """Price, exact."""
    @property
    def qty(self) -> Decimal:
        """Quantity, exact."""
    @property
    def price_float(self) -> float:
        """Price as the nearest float."""
    @property
    def qty_float(self) -> float:
        """Quantity as the nearest float."""
    @property
    def side(self) -> Literal["buy", "sell"]:
        """The taker's side."""
    @property
    def trade_id(self) -> str:
        """The venue's trade id."""
    @property
    def exchange_time_ns(self) -> int:
        """The venue's time of the trade, Unix ns."""
    @property
    def receive_time_ns(self) -> int:
        """When the frame was read, on ``time.monotonic_ns()``'s clock."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class BBO:
    """Best bid and offer, normalized."""

    def __new__(
        cls,
        venue: str,
        symbol: str,
        bid_price: _Number,
        bid_qty: _Number,
        ask_price: _Number,
        ask_qty: _Number,
        exchange_time_ns: int,
        receive_time_ns: int = 0,
    ) -> BBO: ...
    @property
    def venue(self) -> str:
        """The venue's name."""
    @property
    def symbol(self) -> str:
        """The unified symbol."""
    @property
    def native_symbol(self) -> str:
        """The venue's own symbol."""
    @property
    def bid_price(self) -> Decimal:
        """Best bid price, exact."""
    @property
    def bid_qty(self) -> Decimal:
        """Quantity at the best bid, exact."""
    @property
    def ask_price(self) -> Decimal:
        """Best ask price, exact."""
    @property
    def ask_qty(self) -> Decimal:
        """Quantity at the best ask, exact."""
    @property
    def bid_price_float(self) -> float:
        """Best bid price as the nearest float."""
    @property
    def ask_price_float(self) -> float:
        """Best ask price as the nearest float."""
    @property
    def exchange_time_ns(self) -> int:
        """The venue's time of the quote, Unix ns (0 when it sends none)."""
    @property
    def receive_time_ns(self) -> int:
        """When the frame was read, on ``time.monotonic_ns()``'s clock."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class BookUpdate:
    """An L2 book snapshot or delta, levels in wire order."""

    def __new__(
        cls,
        venue: str,
        symbol: str,
        is_snapshot: bool,
        bids: Iterable[_Level],
        asks: Iterable[_Level],
        exchange_time_ns: int,
        receive_time_ns: int = 0,
        *,
        first_sequence: int | None = None,
        last_sequence: int | None = None,
        prev_sequence: int | None = None,
        checksum: int | None = None,
    ) -> BookUpdate: ...
    @property
    def venue(self) -> str:
        """The venue's name."""
    @property
    def symbol(self) -> str:
        """The unified symbol."""
    @property
    def native_symbol(self) -> str:
        """The venue's own symbol."""
    @property
    def is_snapshot(self) -> bool:
        """Whether it replaces the book."""
    @property
    def bids(self) -> list[tuple[Decimal, Decimal]]:
        """Bid levels as sent; qty 0 removes the level."""
    @property
    def asks(self) -> list[tuple[Decimal, Decimal]]:
        """Ask levels as sent; qty 0 removes the level."""
    @property
    def first_sequence(self) -> int | None:
        """First update id covered, where sent."""
    @property
    def last_sequence(self) -> int | None:
        """Last update id covered, where sent."""
    @property
    def prev_sequence(self) -> int | None:
        """The previous update's last id, where sent."""
    @property
    def checksum(self) -> int | None:
        """The venue's checksum of the book after this update, where sent."""
    @property
    def exchange_time_ns(self) -> int:
        """The venue's time of the update, Unix ns."""
    @property
    def receive_time_ns(self) -> int:
        """When the frame was read, on ``time.monotonic_ns()``'s clock."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class BookInvalid:
    """A book that can no longer be trusted, in the place of the update that broke it; a
    snapshot ``BookUpdate`` follows once it has resynced."""

    @property
    def venue(self) -> str:
        """The venue's name."""
    @property
    def symbol(self) -> str:
        """The unified symbol."""
    @property
    def native_symbol(self) -> str:
        """The venue's own symbol."""
    @property
    def reason(self) -> str:
        """``"gap"``, ``"checksum_mismatch"``, ``"crossed"``, ``"snapshot_too_old"``,
        ``"missing_sequence"``, ``"disconnected"`` or ``"stale"``."""
    @property
    def message(self) -> str:
        """The reason in words, with its numbers."""
    @property
    def expected(self) -> int | None:
        """What continuity or the checksum required, where the reason has it."""
    @property
    def got(self) -> int | None:
        """What arrived (or was computed), where the reason has it."""
    @property
    def resync(self) -> str | None:
        """``"resubscribe"``, ``"fetch_snapshot"``, or ``None`` when the reconnect brings the snapshot."""
    @property
    def retry_in(self) -> float:
        """Seconds until the resync; above 0 when the breaker holds it back."""
    @property
    def receive_time_ns(self) -> int:
        """When the book was found invalid, on ``time.monotonic_ns()``'s clock."""

@final
class BookView:
    """A live, read-only view of one market's book in a feed; check ``is_valid``."""

    @property
    def venue(self) -> str:
        """The venue's name."""
    @property
    def symbol(self) -> str:
        """The unified symbol."""
    @property
    def is_valid(self) -> bool:
        """Whether the book is proven: a snapshot and no failed check since."""
    @property
    def state(self) -> str:
        """``"pending"``, ``"valid"`` or ``"invalid"``."""
    @property
    def reason(self) -> str | None:
        """Why the book is invalid (as ``BookInvalid.reason``), else ``None``."""
    @property
    def message(self) -> str | None:
        """The reason in words (``"no snapshot yet"`` while pending); ``None`` when valid."""
    @property
    def last_sequence(self) -> int | None:
        """The last update id applied, where the venue numbers updates."""
    @property
    def last_update_ns(self) -> int:
        """When the last update was applied (``time.monotonic_ns()`` clock; 0: never)."""
    @property
    def time_invalid(self) -> float:
        """Seconds the book has been invalid over its life."""
    @property
    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        """``(price, qty)`` of the best bid."""
    @property
    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        """``(price, qty)`` of the best ask."""
    @property
    def spread(self) -> Decimal | None:
        """Best ask minus best bid, exactly."""
    @property
    def mid(self) -> Decimal | None:
        """Midpoint of the best bid and ask, exactly."""
    @property
    def depth(self) -> tuple[int, int]:
        """Levels kept: ``(bids, asks)``."""
    def levels(self, n: int = 10) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """The top ``n`` levels of each side, best first."""
    def to_numpy(self, n: int = 10) -> tuple[Any, Any]:
        """The top ``n`` levels of each side as read-only float64 arrays of shape ``(levels, 2)``."""

@final
class Ticker:
    """A 24 h ticker; fields the venue does not send are ``None``."""

    def __new__(
        cls,
        venue: str,
        symbol: str,
        exchange_time_ns: int,
        receive_time_ns: int = 0,
        *,
        last_price: _Number | None = None,
        bid_price: _Number | None = None,
        bid_qty: _Number | None = None,
        ask_price: _Number | None = None,
        ask_qty: _Number | None = None,
        open_24h: _Number | None = None,
        high_24h: _Number | None = None,
        low_24h: _Number | None = None,
        volume_24h: _Number | None = None,
        quote_volume_24h: _Number | None = None,
        change_24h: _Number | None = None,
        change_pct_24h: _Number | None = None,
    ) -> Ticker: ...
    @property
    def venue(self) -> str:
        """The venue's name."""
    @property
    def symbol(self) -> str:
        """The unified symbol."""
    @property
    def native_symbol(self) -> str:
        """The venue's own symbol."""
    @property
    def last_price(self) -> Decimal | None:
        """Last traded price."""
    @property
    def bid_price(self) -> Decimal | None:
        """Best bid price."""
    @property
    def bid_qty(self) -> Decimal | None:
        """Quantity at the best bid."""
    @property
    def ask_price(self) -> Decimal | None:
        """Best ask price."""
    @property
    def ask_qty(self) -> Decimal | None:
        """Quantity at the best ask."""
    @property
    def open_24h(self) -> Decimal | None:
        """Price 24 h ago."""
    @property
    def high_24h(self) -> Decimal | None:
        """Highest price in 24 h."""
    @property
    def low_24h(self) -> Decimal | None:
        """Lowest price in 24 h."""
    @property
    def volume_24h(self) -> Decimal | None:
        """Volume in 24 h, base asset."""
    @property
    def quote_volume_24h(self) -> Decimal | None:
        """Volume in 24 h, quote asset."""
    @property
    def change_24h(self) -> Decimal | None:
        """Price change over 24 h."""
    @property
    def change_pct_24h(self) -> Decimal | None:
        """Price change over 24 h, in percent."""
    @property
    def exchange_time_ns(self) -> int:
        """The venue's time of the ticker, Unix ns."""
    @property
    def receive_time_ns(self) -> int:
        """When the frame was read, on ``time.monotonic_ns()``'s clock."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def parse(
    venue: str, raw: str | bytes, kind: str = "spot", receive_time_ns: int | None = None
) -> list[Trade | BBO | BookUpdate | Ticker]:
    """The market events in one message of ``venue``'s protocol; see ``tickwire.parse``."""

@final
class Dispatch:
    """Handler tables of one built-in venue session, routing in Rust."""

    def __new__(
        cls,
        url: str,
        on_control: Callable[[dict[str, Any]], object],
        on_error: Callable[[BaseException], object],
        on_state: Callable[[dict[str, Any]], object],
        on_resync: Callable[[int, str, float], object],
        processing: LatencyHistogram,
        latency_budget_ns: int,
        *,
        book_depth: int | None = None,
        book_stale_after_ns: int | None = None,
        resync_max: int = 5,
        resync_window_ns: int = 60_000_000_000,
        resync_timeout_ns: int = 10_000_000_000,
    ) -> Dispatch: ...
    def add(self, channel: str, handler: Callable[[Any], object], market: int | None = None) -> None:
        """Add ``handler`` for ``channel``, for one market id or every market."""
    def remove(self, channel: str, handler: Callable[[Any], object]) -> int:
        """Remove ``handler`` from ``channel``; how many registrations went."""
    def handler_count(self) -> int:
        """Handlers registered, over every channel and market."""
    def set_wanted(self, channel: str, markets: list[int] | None) -> None:
        """Deliver ``channel`` only for these market ids (``None``: all)."""
    def set_broadcast(self, server: Server | None) -> None:
        """Also publish the events to a broadcast server, converted in Rust."""
    def set_sink(self, sink: Callable[[Any], object] | None) -> None:
        """Also hand every delivered event to ``sink``."""
    def counters(self) -> dict[str, int]:
        """events, book_updates, book_withheld, filtered, latency_violations."""
    def book(self, market_id: int) -> BookView:
        """A live view of market ``market_id``'s book."""
    def deliver(self, events: list[object]) -> list[object]:
        """Deliver the market events among a Python venue's events of one batch as a built-in
        venue's (books first); returns the other items, in order."""
    def disconnected(self) -> None:
        """A Python venue's connection was lost: its books become invalid."""
    def stop(self) -> None:
        """The feed stops: a closing connection invalidates the books without ``BookInvalid``
        callbacks."""
    def start(self) -> None:
        """The feed (re)starts: lost connections reach the ``BookInvalid`` handlers again."""
    def apply_snapshot(self, market_id: int, body: bytes) -> None:
        """Apply a Binance REST depth snapshot body; ``ParseError`` (and a refetch) if it is none."""
    def snapshot_failed(self, market_id: int) -> None:
        """A snapshot fetch failed: order another, paced by the breaker."""
    def check_books(self) -> None:
        """Mark stale books invalid; re-order resyncs that brought no snapshot in time."""
    def forget_book(self, market_id: int) -> None:
        """Forget a book whose subscription ended."""
    def book_totals(self) -> dict[str, float]:
        """Totals over the books: books, valid, updates_applied, gaps, checksum_failures, …"""

@final
class VenueProtocol:
    """One built-in venue endpoint's protocol."""

    def __new__(cls, venue: str, kind: str = "spot") -> VenueProtocol: ...
    @property
    def name(self) -> str:
        """The venue's name."""
    @property
    def endpoint(self) -> str:
        """The endpoint's name."""
    @property
    def url(self) -> str:
        """The production URL."""
    @property
    def max_per_request(self) -> int:
        """Most subscriptions per request."""
    @property
    def max_per_connection(self) -> int:
        """Most subscriptions per connection."""
    @property
    def requests_per_second(self) -> float:
        """Requests per second the venue accepts."""
    @property
    def burst(self) -> int:
        """Requests that may go at once."""
    @property
    def app_ping_interval(self) -> float | None:
        """Seconds between application pings, or ``None``."""
    @property
    def app_ping_message(self) -> str | None:
        """The application ping, or ``None``."""
    @property
    def subscribe_within(self) -> float | None:
        """Seconds within which a connection must subscribe, or ``None``."""
    def market_id(self, symbol: str) -> int:
        """The dense id of a unified symbol on this venue."""
    def subscribe_request(self, request_id: int, pairs: list[tuple[str, str]]) -> list[str]:
        """The messages subscribing to (symbol, channel) ``pairs``."""
    def unsubscribe_request(self, request_id: int, pairs: list[tuple[str, str]]) -> list[str]:
        """The messages cancelling ``pairs``."""
    def answers_expected(self, pairs: int, messages: int) -> int:
        """Answers the venue sends to one request."""
    def on_connect(self) -> list[str]:
        """Messages to send first on every connection."""
    def snapshot_url(self, symbol: str, base: str | None = None) -> str | None:
        """The REST URL of ``symbol``'s book snapshot (Binance), or ``None``."""
    def parse_snapshot(self, symbol: str, body: bytes, receive_time_ns: int = 0) -> BookUpdate:
        """The book snapshot of ``symbol`` in the REST answer ``body``: a ``BookUpdate`` with
        ``is_snapshot`` and the snapshot's update id as ``last_sequence``. ``ParseError`` for a
        body that is no snapshot; ``ValueError`` for a venue without REST snapshots."""

@final
class MexcPushDecoder:
    """Decodes one connection's MEXC protobuf push frames into events."""

    def __new__(cls) -> MexcPushDecoder:
        """Registers the ``mexc`` venue if needed (``ValueError`` if it clashes)."""
    def decode(self, frame: bytes, receive_time_ns: int) -> list[Trade | BookUpdate | BBO]:
        """The events of one binary push; ``ParseError`` for a frame that is no MEXC push."""

def endpoint_kind(venue: str, symbol: str) -> str:
    """``"spot"`` or ``"perpetual"``: the kind of endpoint serving ``symbol`` on ``venue``."""

def market_id(venue: str, symbol: str) -> int:
    """The market id of unified ``symbol`` on ``venue`` (registered, or a built-in's spot
    market); ``ValueError`` for an unknown venue or a symbol it cannot name."""

def register_venue(
    name: str,
    *,
    symbol_separator: Literal["", "_", "-", "/"] = "",
    book_sync: Literal["rest_snapshot", "snapshot_then_range", "snapshot_then_next", "prev_sequence"]
    | None = None,
) -> None:
    """Register a venue written in Python, so events, books and the server take its name.

    Its spot symbols join base and quote with ``symbol_separator`` (``"_"``: ``BTC_USDT``;
    ``""``: ``BTCUSDT``, split at the longest known quote); its books follow ``book_sync``
    (``None``: not kept). Registering a name again with the same options does nothing.

    Raises:
        ValueError: A bad name (1 to 32 of ``a-z0-9_-``), a built-in venue's name, an unknown
            separator or mechanism, a name registered with other options, a full registry.
    """

def quiesce(timeout: float = 1.0) -> int:
    """Wait (at most ``timeout`` s) until no awaitable is in flight; how many still are."""

def start_server(
    host: str,
    port: int,
    *,
    token: str | None = None,
    allowed_origins: list[str] | None = None,
    max_connections: int = 1000,
    max_message_size: int = 65536,
    client_rate: int = 50,
    client_burst: int = 100,
    heartbeat_interval: float = 30.0,
    history: int = 10_000,
    queue_soft_limit: int = 1024,
    critical_limit: int = 4096,
    dashboard_dir: str | None = None,
    echo_route: bool = False,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> Server:
    """Start a broadcast server; see ``tickwire.Server``."""

@final
class Server:
    """Handle of one running broadcast server; wrapped by ``tickwire.Server``."""

    @property
    def host(self) -> str:
        """The address it listens on."""
    @property
    def port(self) -> int:
        """The port it listens on."""
    @property
    def running(self) -> bool:
        """Whether it is serving."""
    def publish(
        self,
        kind: str,
        data: str | None = None,
        symbol: str | None = None,
        message: str | None = None,
        sub_key: int = 0,
    ) -> int:
        """Broadcast a message (``data``: a JSON object's text); its sequence number."""
    def connections(self) -> int:
        """Clients connected now."""
    def last_seq(self) -> int:
        """The last sequence number handed out."""
    def metrics(self) -> dict[str, int]:
        """The counters."""
    def prometheus(self) -> str:
        """The metrics in Prometheus' text format."""
    def take_logs(self) -> tuple[list[tuple[int, str]], int]:
        """Log lines since the last call as ``(level, text)``, and how many were dropped."""
    def stop(self, timeout: float = 2.0) -> Awaitable[None]:
        """Stop serving; wait at most ``timeout`` s for the connections to close."""
