"""The feed: market data from several venues into strategies, surviving disconnects.

A :class:`Feed` keeps one reconnecting session per venue, subscribes in batches paced by the
venue's rate limit, matches the venue's answers to its requests, retries and reports refusals,
resubscribes to exactly the active set after every reconnect, and hands each event to the
callbacks and :class:`Strategy` hooks registered for its channel. An exception in one callback
or strategy is reported and does not stop the others or the feed.

Order books of built-in venues are kept in Rust and proven against the venue's sequence
numbers and checksums: ``on_book`` callbacks get only updates of a book that is valid after
them, :meth:`Feed.book` reads the book as it stands, and a book that breaks (a gap, a checksum
mismatch, a crossed or stale book, a lost connection) is reported as a
:class:`~tickwire.BookInvalid` in the update's place and resyncs by itself — resubscribing, or
for Binance fetching the REST snapshot — under a per-book breaker.

Two kinds of venue:

- the built-in ones, named by a string (``"binance"``, ``"bybit"``, ``"okx"``, ``"coinbase"``,
  ``"kraken"``): their messages are parsed in Rust on the I/O thread, and events reach the
  callbacks through handler tables in Rust (by channel, and by market for handlers added with
  :meth:`Feed.on`), one call into Rust per batch and no Python code in between;
- venues written in Python (:class:`~tickwire.PythonVenue`, by name once registered with
  :func:`tickwire.register_venue`, as Gate.io's ``"gateio"``): their ``parse`` runs on the
  asyncio loop's thread, once per message, and the market events of a batch go into Rust in
  one call, to the same books, handler tables and broadcast as a built-in venue's. Their
  private channels (``orders``, ``balances``, ``fills``) reach ``on_order``, ``on_balance``
  and ``on_fill``.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import logging
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, TypeVar, Unpack

from . import _core
from .client import ConnectOptions
from ._core import BBO, BookInvalid, BookUpdate, BookView, Ticker, Trade
from .events import CHANNELS, PRIVATE_CHANNELS, Ack, Balance, Channel, Fill, Lagged, Order
from .exceptions import AuthenticationError, BookSnapshotError, ConnectionClosed, SubscriptionError
from .server import Server
from .session import BreakerPolicy, ReconnectPolicy, Session, SessionEvent, _open
from .venues import PythonVenue, Subscription, registered_venue, registered_venues
from .venues.base import http_base
from .venues.credentials import Credentials

#: A venue written in Python (the name the feed's signatures use).
Venue = PythonVenue

__all__ = ["Feed", "Strategy"]

logger = logging.getLogger(__name__)

_Callback = TypeVar("_Callback", bound=Callable[..., object])

#: Processing longer than this per message counts as a latency violation.
DEFAULT_LATENCY_BUDGET_NS = 1_000_000
#: Seconds a REST book snapshot may take.
SNAPSHOT_TIMEOUT = 10.0
#: Seconds between the checks for stale books and unanswered resyncs.
BOOK_CHECK_INTERVAL = 1.0


class Strategy:
    """Base class of a strategy driven by a :class:`Feed`; override the hooks you need.

    Hooks run on the asyncio loop's thread, in the order events arrive. An exception in one is
    reported (``on_error`` callbacks, the log) and the feed goes on.
    """

    def on_start(self, feed: Feed) -> None:
        """Called once the feed has started (sessions opening, subscriptions queued)."""

    def on_stop(self) -> None:
        """Called when the feed stops."""

    def on_trade(self, trade: Trade) -> None:
        """A trade on a subscribed symbol."""

    def on_bbo(self, bbo: BBO) -> None:
        """A best bid/offer update."""

    def on_book(self, update: BookUpdate) -> None:
        """An order-book snapshot or delta, applied to a book that is valid after it."""

    def on_book_invalid(self, invalid: BookInvalid) -> None:
        """A book that can no longer be trusted; a snapshot follows once it has resynced."""

    def on_ticker(self, ticker: Ticker) -> None:
        """A ticker update."""

    def on_state(self, venue: str, event: SessionEvent) -> None:
        """A change in a venue's connection: connected, disconnected, reconnecting …"""

    def on_order(self, order: Order) -> None:
        """A change to one of our orders (a venue's private ``orders`` channel)."""

    def on_balance(self, balance: Balance) -> None:
        """A balance after a change (a venue's private ``balances`` channel)."""

    def on_fill(self, fill: Fill) -> None:
        """A fill of one of our orders (a venue's private ``fills`` channel)."""


_HOOKS: dict[str, str] = {
    "trades": "on_trade",
    "bbo": "on_bbo",
    "book": "on_book",
    "ticker": "on_ticker",
    "orders": "on_order",
    "balances": "on_balance",
    "fills": "on_fill",
}
#: Private events of venues written in Python, by class.
_PRIVATE_CHANNEL: dict[type, Channel] = {Order: "orders", Balance: "balances", Fill: "fills"}
#: How a refusal about credentials is marked in the reason the tracker keeps.
_AUTH_PREFIX = "authentication failed: "
#: The built-in venues, parsed in Rust.
BUILTIN_VENUES: tuple[str, ...] = ("binance", "bybit", "okx", "coinbase", "kraken")


class _Link:
    """One venue endpoint's session, subscriptions, books and counters."""

    def __init__(
        self,
        feed: Feed,
        name: str,
        url: str,
        *,
        batch_size: int,
        requests_per_second: float,
        burst: int,
        confirm_timeout: float,
        retry_delay: float,
        max_attempts: int,
        app_ping_interval: float | None,
    ) -> None:
        self.name = name
        self.url = url
        self.app_ping_interval = app_ping_interval
        self.session: Session | None = None
        self.connected = False
        self.subscriptions = _core.Subscriptions(
            batch_size, 1, 1.0 / requests_per_second, burst, confirm_timeout, retry_delay, max_attempts
        )
        self.ids: dict[Subscription, int] = {}
        self.pairs: list[Subscription] = []
        self.kick = asyncio.Event()
        self.pump: asyncio.Task[None] | None = None
        self.pinger: asyncio.Task[None] | None = None
        self.processing = _core.LatencyHistogram()
        self.errors = 0
        #: While a new connection's login messages are on their way: no request yet.
        self.authenticating = False
        # Per request sent and not settled: the answers still to come before it counts as
        # confirmed (venues answer per message, per channel argument or per symbol).
        self.answers_due: dict[int, int] = {}
        self.dispatch = _core.Dispatch(
            url,
            lambda fields: feed._on_control(self, fields),
            lambda error: feed._report(self, error),
            lambda fields: feed._on_state(self, SessionEvent(**fields)),
            lambda market_id, action, delay: feed._on_resync(self, market_id, action, delay),
            self.processing,
            feed._latency_budget_ns,
            **feed._book_options,
        )
        #: Unified symbol by market id, for the symbols this connection has held.
        self.symbols: dict[int, str] = {}
        #: The (symbol, channel) pairs subscribed or being subscribed on this connection; the
        #: dispatch drops events of other pairs (a venue stream may carry more than was asked
        #: for, as Coinbase's ticker carries BBOs).
        self.holding: set[Subscription] = set()
        for channel in CHANNELS:
            self.dispatch.set_wanted(channel, [])
            for callback in feed._callbacks[channel]:
                self.dispatch.add(channel, callback)
        for callback in feed._callbacks["book_invalid"]:
            self.dispatch.add("book_invalid", callback)
        if feed._broadcast is not None:
            self.dispatch.set_broadcast(feed._broadcast)
        if feed._iterations:
            self.dispatch.set_sink(feed._offer)

    def ids_of(self, pairs: Iterable[Subscription]) -> list[int]:
        ids = []
        for pair in pairs:
            known = self.ids.get(pair)
            if known is None:
                known = self.ids[pair] = len(self.pairs)
                self.pairs.append(pair)
            ids.append(known)
        return ids

    def want(self, pairs: Iterable[Subscription], wanted: bool) -> None:
        """Records ``pairs`` as held (or no longer) by this connection, and tells the
        dispatch which markets' events of each channel to deliver."""
        changed = set()
        for pair in pairs:
            (self.holding.add if wanted else self.holding.discard)(pair)
            if pair[1] not in CHANNELS:
                continue  # private channels are not routed by market
            changed.add(pair[1])
            market_id = self.market_id(pair[0])
            self.symbols[market_id] = pair[0]
            if pair[1] == "book" and not wanted:
                self.dispatch.forget_book(market_id)
        for channel in changed:
            markets = {self.market_id(symbol) for symbol, held in self.holding if held == channel}
            self.dispatch.set_wanted(channel, sorted(markets))

    # ---- what each kind of venue supplies -------------------------------------------------

    def venue_name(self) -> str:
        """The venue's name (a link's name may also say the endpoint: ``"bybit-linear"``)."""
        raise NotImplementedError

    def market_id(self, symbol: str) -> int:
        """The id of ``symbol``'s market on this venue."""
        raise NotImplementedError

    def requests(self, request_id: int, is_subscribe: bool, pairs: list[Subscription]) -> list[str | bytes]:
        """The messages of one subscribe or unsubscribe request."""
        raise NotImplementedError

    def answers_expected(self, pairs: int, messages: int) -> int:
        """How many answers the venue sends to one request."""
        return messages

    def app_ping(self) -> str | bytes:
        """The venue's application ping."""
        raise NotImplementedError

    def open(self, feed: Feed) -> Session:
        """Opens the session, delivering into ``feed``."""
        raise NotImplementedError

    def processed(self) -> tuple[int, int, int]:
        """Events processed, book updates among them, latency violations."""
        counters = self.dispatch.counters()
        return counters["events"], counters["book_updates"], counters["latency_violations"]

    def snapshot_url(self, symbol: str) -> str | None:
        """The REST URL of ``symbol``'s book snapshot, for books that start from one."""
        return None

    def parse_snapshot(self, symbol: str, body: bytes) -> None:
        """Applies a fetched REST snapshot ``body`` to ``symbol``'s book."""
        raise NotImplementedError


class _PythonLink(_Link):
    """A connection of a venue written in Python: messages are parsed by its ``parse`` on the
    loop's thread, and the market events of each batch go through the Rust dispatch in one
    call. A venue's private channels get a connection of their own (``"<name>#private"``),
    which alone sends the login messages: a refused key or a lost session there leaves the
    market data alone, and a refusal never takes public subscriptions down with it."""

    def __init__(self, feed: Feed, venue: PythonVenue, *, private: bool = False) -> None:
        venue.name_in_core()
        super().__init__(
            feed,
            f"{venue.name}#private" if private else venue.name,
            venue.connect_url(),
            batch_size=venue.batch_size,
            requests_per_second=venue.requests_per_second,
            burst=venue.burst,
            confirm_timeout=venue.confirm_timeout,
            retry_delay=venue.retry_delay,
            max_attempts=venue.max_attempts,
            app_ping_interval=venue.app_ping_interval,
        )
        self.venue = venue
        self.private = private
        self.messages = 0
        self.latency_violations = 0

    def venue_name(self) -> str:
        return self.venue.name

    def market_id(self, symbol: str) -> int:
        return _core.market_id(self.venue.name, symbol)

    def requests(self, request_id: int, is_subscribe: bool, pairs: list[Subscription]) -> list[str | bytes]:
        build = self.venue.subscribe_request if is_subscribe else self.venue.unsubscribe_request
        built = build(request_id, pairs)
        return list(built) if isinstance(built, list) else [built]

    def answers_expected(self, pairs: int, messages: int) -> int:
        return self.venue.answers_expected(pairs, messages)

    def app_ping(self) -> str | bytes:
        return self.venue.app_ping()

    def open(self, feed: Feed) -> Session:
        options: dict[str, Any] = dict(feed._options)
        headers = self.venue.headers()
        if headers:
            options["headers"] = {**(options.get("headers") or {}), **headers}
        reconnect = self.venue.reconnect or feed._reconnect
        session = _open(self.url, (), reconnect, feed._breaker, options, None)  # type: ignore[arg-type]
        session.on_state(lambda event: feed._on_python_state(self, event))
        session.on_batch(lambda batch: feed._on_messages(self, batch))
        return session

    def processed(self) -> tuple[int, int, int]:
        events, book_updates, _ = super().processed()
        return events, book_updates, self.latency_violations

    def snapshot_url(self, symbol: str) -> str | None:
        return self.venue.snapshot_url(symbol)

    def parse_snapshot(self, symbol: str, body: bytes) -> None:
        self.dispatch.deliver([self.venue.parse_snapshot(symbol, body, time.monotonic_ns())])


class _BuiltinLink(_Link):
    """A built-in venue's endpoint: parsed in Rust on the I/O thread, routed in Rust."""

    def __init__(self, feed: Feed, name: str, protocol: _core.VenueProtocol, url: str, snapshot_base: str | None) -> None:
        super().__init__(
            feed,
            name,
            url,
            batch_size=protocol.max_per_request,
            requests_per_second=protocol.requests_per_second,
            burst=protocol.burst,
            confirm_timeout=feed._confirm_timeout,
            retry_delay=feed._retry_delay,
            max_attempts=feed._max_attempts,
            app_ping_interval=(
                protocol.app_ping_interval
                if protocol.app_ping_interval is None or feed._app_ping_interval is None
                else feed._app_ping_interval
            ),
        )
        self.protocol = protocol
        #: Where this venue's REST book snapshots come from (``None``: production).
        self.snapshot_base = snapshot_base

    def venue_name(self) -> str:
        return self.protocol.name

    def market_id(self, symbol: str) -> int:
        return self.protocol.market_id(symbol)

    def requests(self, request_id: int, is_subscribe: bool, pairs: list[Subscription]) -> list[str | bytes]:
        build = self.protocol.subscribe_request if is_subscribe else self.protocol.unsubscribe_request
        return list(build(request_id, [(symbol, str(channel)) for symbol, channel in pairs]))

    def answers_expected(self, pairs: int, messages: int) -> int:
        return self.protocol.answers_expected(pairs, messages)

    def app_ping(self) -> str | bytes:
        message = self.protocol.app_ping_message
        assert message is not None
        return message

    def open(self, feed: Feed) -> Session:
        session = _open(self.url, self.protocol.on_connect(), feed._reconnect, feed._breaker, feed._options, self.protocol)
        session._on_market(self.dispatch)
        return session

    def snapshot_url(self, symbol: str) -> str | None:
        return self.protocol.snapshot_url(symbol, self.snapshot_base)

    def parse_snapshot(self, symbol: str, body: bytes) -> None:
        self.dispatch.apply_snapshot(self.market_id(symbol), body)


class Feed:
    """Market data from several venues, delivered to callbacks and strategies.

    Example::

        feed = tickwire.Feed()
        feed.subscribe("binance", ["BTC/USDT", "ETH/USDT"], ["trades", "bbo"])

        @feed.on_trade
        def trade(t: tickwire.Trade) -> None: ...

        async with feed:
            await feed.run()

    Args:
        urls: WebSocket URLs by venue name, instead of the venues' production URLs (a
            simulator's, say: ``tickwire.Simulator.urls()``). Bybit's linear endpoint is
            ``"bybit-linear"``.
        reconnect: The retry policy of every venue's session.
        breaker: The circuit breaker of every venue; ``None`` for none.
        latency_budget_ns: Processing time per message above which it counts as a latency
            violation in :meth:`metrics` (default 1 ms).
        confirm_timeout: Seconds a built-in venue has to answer a subscribe request before it
            is sent again.
        retry_delay: Seconds before a refused or unanswered request to a built-in venue is sent
            again.
        max_attempts: Requests per subscription to a built-in venue before it is reported as a
            :class:`SubscriptionError`.
        app_ping_interval: Seconds between the application pings of built-in venues that want
            them (Bybit, OKX, Kraken), instead of each venue's own interval.
        snapshot_urls: REST bases by venue name for venues whose books start from a REST
            snapshot (Binance), instead of production. Default: derived from ``urls`` where
            given (``ws://host:port/…`` → ``http://host:port``), as a simulator serves both.
        book_depth: Levels each book keeps a side (default: the depth the venue's
            subscription sends; Binance and Coinbase all).
        book_stale_after: Seconds without an update after which a valid book is marked stale
            and resynced (``None``: never). Default 60.
        resync_max: Resyncs of one book allowed within ``resync_window`` seconds; beyond that
            the breaker holds the next back, and the :class:`~tickwire.BookInvalid` says how
            long (``retry_in``).
        resync_window: The breaker's window, seconds.
        resync_timeout: Seconds a resync may go without bringing a snapshot before it is
            tried again.
        **options: Connection options, as for :func:`tickwire.connect`.

    Raises:
        ValueError: A name in ``urls`` that is no built-in venue endpoint, or an
            ``app_ping_interval``, ``book_depth``, ``book_stale_after`` or a resync setting out
            of range.
    """

    def __init__(
        self,
        *,
        urls: Mapping[str, str] | None = None,
        reconnect: ReconnectPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        latency_budget_ns: int = DEFAULT_LATENCY_BUDGET_NS,
        confirm_timeout: float = 5.0,
        retry_delay: float = 1.0,
        max_attempts: int = 3,
        app_ping_interval: float | None = None,
        snapshot_urls: Mapping[str, str] | None = None,
        book_depth: int | None = None,
        book_stale_after: float | None = 60.0,
        resync_max: int = 5,
        resync_window: float = 60.0,
        resync_timeout: float = 10.0,
        **options: Unpack[ConnectOptions],
    ) -> None:
        self._urls = dict(urls or {})
        self._snapshot_urls = dict(snapshot_urls or {})
        if book_depth is not None and book_depth < 1:
            raise ValueError(f"book_depth must be at least 1, not {book_depth!r}")
        if book_stale_after is not None and not book_stale_after > 0:
            raise ValueError(f"book_stale_after must be above 0, not {book_stale_after!r}")
        if resync_max < 1 or not resync_window > 0 or not resync_timeout > 0:
            raise ValueError("resync_max must be at least 1, resync_window and resync_timeout above 0")
        self._book_options: dict[str, Any] = {
            "book_depth": book_depth,
            "book_stale_after_ns": None if book_stale_after is None else int(book_stale_after * 1e9),
            "resync_max": resync_max,
            "resync_window_ns": int(resync_window * 1e9),
            "resync_timeout_ns": int(resync_timeout * 1e9),
        }
        unknown = [name for name in self._urls if _builtin_endpoint(name) is None and registered_venue(name) is None]
        if unknown:
            raise ValueError(
                f"no venue is named {unknown}; expected some of {_ENDPOINT_NAMES} or a registered one {sorted(registered_venues())}"
            )
        self._reconnect = reconnect
        self._breaker = breaker
        self._options = options
        self._latency_budget_ns = latency_budget_ns
        self._confirm_timeout = confirm_timeout
        self._retry_delay = retry_delay
        self._max_attempts = max_attempts
        if app_ping_interval is not None and not app_ping_interval > 0:
            raise ValueError(f"app_ping_interval must be above 0, not {app_ping_interval!r}")
        self._app_ping_interval = app_ping_interval
        self._links: dict[str, _Link] = {}
        # Built-in venue endpoints' connections, in order, and their per-symbol handlers
        # (channel, callback, market id), which every new connection of the endpoint gets.
        self._shards: dict[str, list[_BuiltinLink]] = {}
        self._routes: dict[str, list[tuple[str, Callable[..., object], int]]] = {}
        self._callbacks: dict[str, list[Callable[..., object]]] = {
            name: [] for name in (*CHANNELS, *PRIVATE_CHANNELS, "book_invalid", "state", "error")
        }
        # Resyncs under way (snapshot fetches, delayed resubscriptions), cancelled at stop.
        self._resyncs: set[asyncio.Task[None]] = set()
        self._book_checker: asyncio.Task[None] | None = None
        self._broadcast: _core.Server | None = None
        self._strategies: list[Strategy] = []
        self._started_ns: int | None = None
        # The span metrics() rates cover: from the first start to now, or to the last stop.
        self._first_start_ns: int | None = None
        self._stopped_ns: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._iterations: weakref.WeakSet[_Iteration] = weakref.WeakSet()

    # ---- configuration ------------------------------------------------------------------

    def _python_link(self, venue: PythonVenue | str, *, private: bool = False) -> _PythonLink:
        """The public or private connection of a venue written in Python — an instance, or a
        registered venue's name (made with the feed's ``urls`` entry for it, if any) — opened
        when first asked for."""
        name = venue if isinstance(venue, str) else venue.name
        known = [self._links.get(name), self._links.get(f"{name}#private")]
        existing = next((link for link in known if link is not None), None)
        if existing is not None and (
            not isinstance(existing, _PythonLink) or (not isinstance(venue, str) and existing.venue is not venue)
        ):
            raise ValueError(f"another venue named {name!r} is already in this feed")
        link = known[1 if private else 0]
        if link is None:
            if isinstance(existing, _PythonLink):
                venue = existing.venue
            elif isinstance(venue, str):
                venue_class = registered_venue(venue)
                assert venue_class is not None
                venue = venue_class(url=self._urls.get(venue))
            link = _PythonLink(self, venue, private=private)
            self._add_link(link)
        assert isinstance(link, _PythonLink)
        return link

    def _venue_object(self, venue: PythonVenue | str) -> PythonVenue:
        """The venue object a name stands for in this feed (a fresh one while it has no link)."""
        if not isinstance(venue, str):
            return venue
        for name in (venue, f"{venue}#private"):
            link = self._links.get(name)
            if isinstance(link, _PythonLink):
                return link.venue
        venue_class = registered_venue(venue)
        if venue_class is None:
            raise ValueError(f"unknown venue {venue!r}")
        return venue_class(url=self._urls.get(venue))

    def _python_link_named(self, name: str) -> _PythonLink | None:
        """The link of the venue written in Python called ``name`` (a registered one's made
        if needed); ``None`` when ``name`` is no such venue."""
        link = self._links.get(name)
        if isinstance(link, _PythonLink):
            return link
        return self._python_link(name) if registered_venue(name) is not None else None

    def _builtin_link(self, endpoint: str, shard: int = 0) -> _BuiltinLink:
        """Connection ``shard`` (0, 1 …) of a built-in venue endpoint (``"binance"``,
        ``"bybit-linear"`` …), named ``endpoint`` for the first and ``endpoint#2`` … after."""
        shards = self._shards.setdefault(endpoint, [])
        while len(shards) <= shard:
            spec = _builtin_endpoint(endpoint)
            if spec is None:
                raise ValueError(f"unknown venue {endpoint!r}; the built-in ones are {list(BUILTIN_VENUES)}")
            protocol = _core.VenueProtocol(*spec)
            name = endpoint if not shards else f"{endpoint}#{len(shards) + 1}"
            url = self._urls.get(endpoint, protocol.url)
            snapshot_base = self._snapshot_urls.get(endpoint)
            if snapshot_base is None and endpoint in self._urls:
                snapshot_base = http_base(url)
            link = _BuiltinLink(self, name, protocol, url, snapshot_base)
            for channel, callback, market in self._routes.get(endpoint, []):
                link.dispatch.add(channel, callback, market)
            shards.append(link)
            self._add_link(link)
        return shards[shard]

    def _shard_for(self, endpoint: str, pair: Subscription) -> _BuiltinLink:
        """The connection that holds ``pair``, or one with room for it: a venue caps the
        subscriptions of one connection (Binance 1,024 streams), so more go on another."""
        holder = self._holder(endpoint, pair)
        if holder is not None:
            return holder
        shards = self._shards.get(endpoint) or [self._builtin_link(endpoint)]
        for link in shards:
            if len(link.holding) < link.protocol.max_per_connection:
                return link
        return self._builtin_link(endpoint, len(shards))

    def _holder(self, endpoint: str, pair: Subscription) -> _BuiltinLink | None:
        """The connection of ``endpoint`` that holds ``pair``, if any."""
        return next((shard for shard in self._shards.get(endpoint, []) if pair in shard.holding), None)

    def _add_link(self, link: _Link) -> None:
        self._links[link.name] = link
        if self._started_ns is not None:
            self._open(link)

    def _grouped(self, venue: Venue | str, symbols: Iterable[str], channels: list[Channel], *, adding: bool) -> dict[_Link, list[Subscription]]:
        """The (symbol, channel) pairs by the connection that serves them: the venue's own
        for a Python venue; for a built-in one the endpoint's shard holding the pair, or (when
        ``adding``) one with room. Pairs no connection holds are left out when not adding."""
        if not isinstance(venue, str) or registered_venue(venue) is not None:
            pairs = _pairs(symbols, channels)
            venue_object = self._venue_object(venue)
            _check_python_pairs(venue_object, pairs)
            by_link: dict[_Link, list[Subscription]] = {}
            for pair in pairs:
                private = pair[1] in PRIVATE_CHANNELS
                if adding:
                    python_link: _Link | None = self._python_link(venue_object, private=private)
                else:  # only a connection that holds it can let it go
                    python_link = self._links.get(f"{venue_object.name}#private" if private else venue_object.name)
                if python_link is not None and (adding or pair in python_link.holding):
                    by_link.setdefault(python_link, []).append(pair)
            return by_link
        if asked := [channel for channel in channels if channel in PRIVATE_CHANNELS]:
            raise ValueError(f"{venue} is a built-in venue without private channels ({', '.join(asked)})")
        symbols = list(symbols)
        for symbol in symbols:
            _check_symbol(venue, symbol)  # all or nothing: no pair is taken before all are valid
        grouped: dict[_Link, list[Subscription]] = {}
        for pair in _pairs(symbols, channels):
            endpoint = _endpoint_name(venue, pair[0])
            if adding:
                shard = self._shard_for(endpoint, pair)
                shard.holding.add(pair)  # counts against the shard's room for the next pair
                link: _Link = shard
            else:
                holder = self._holder(endpoint, pair)
                if holder is None:
                    continue
                link = holder
            grouped.setdefault(link, []).append(pair)
        return grouped

    def add_venue(self, venue: Venue | str) -> None:
        """Connect to ``venue`` (at :meth:`start`, or now if started) even before any
        subscription; :meth:`subscribe` adds its venue by itself. A built-in venue is named by
        its string (``"bybit"`` is Bybit's spot endpoint, ``"bybit-linear"`` its perpetuals).

        Raises:
            ValueError: An unknown built-in venue, or another venue object with the same name.
        """
        if isinstance(venue, str) and registered_venue(venue) is None:
            self._builtin_link(venue)
        else:
            self._python_link(venue)

    def subscribe(self, venue: Venue | str, symbols: Iterable[str], channels: Iterable[Channel] = ("trades",)) -> int:
        """Subscribe to ``channels`` of ``symbols`` on ``venue``, now or at :meth:`start`;
        returns how many subscriptions were new. Already active or pending ones are not asked
        for twice. ``venue`` is a built-in venue's name (``"binance"``, ``"bybit"``, ``"okx"``,
        ``"coinbase"``, ``"kraken"``; symbols unified, as ``"BTC/USDT"`` or
        ``"BTC/USDT-PERP"``), a registered venue's name (``"gateio"``, ``"mexc"``), or a
        :class:`~tickwire.PythonVenue` instance. Private channels (``"orders"``,
        ``"balances"``, ``"fills"``) need the venue to offer them and credentials (the
        environment's, :meth:`Credentials.from_env <tickwire.Credentials.from_env>`, unless
        the venue has its own).

        Raises:
            ValueError: An unknown channel, venue or symbol, another venue object with the
                same name, or a private channel the venue does not offer.
            CredentialsError: A private channel and no credentials (a ``ValueError`` too).
        """
        added = 0
        for link, wanted in self._grouped(venue, symbols, _channels(channels), adding=True).items():
            link.want(wanted, True)
            added += link.subscriptions.request(link.ids_of(wanted))
            link.kick.set()
        return added

    def unsubscribe(self, venue: Venue | str, symbols: Iterable[str], channels: Iterable[Channel] = ("trades",)) -> int:
        """Cancel subscriptions; returns how many were active or pending.

        Raises:
            ValueError: An unknown channel, venue or symbol.
        """
        dropped = 0
        for link, unwanted in self._grouped(venue, symbols, _channels(channels), adding=False).items():
            link.want(unwanted, False)
            dropped += link.subscriptions.unrequest(link.ids_of(unwanted))
            link.kick.set()
        return dropped

    def subscriptions(self, venue: Venue | str) -> list[Subscription]:
        """The subscriptions the venue has confirmed, in the order they were first asked for."""
        return [link.pairs[i] for link in self._venue_links(venue) for i in link.subscriptions.active()]

    def _venue_links(self, venue: Venue | str | None) -> list[_Link]:
        if venue is None:
            return list(self._links.values())
        if isinstance(venue, str):
            return [link for name, link in self._links.items() if name == venue or link.venue_name() == venue]
        return [link for link in self._links.values() if isinstance(link, _PythonLink) and link.venue is venue]

    def on_order(self, callback: _Callback) -> _Callback:
        """Call ``callback(order)`` for every :class:`~tickwire.Order` of a private ``orders``
        channel; usable as a decorator."""
        return self._add("orders", callback)

    def on_balance(self, callback: _Callback) -> _Callback:
        """Call ``callback(balance)`` for every :class:`~tickwire.Balance` of a private
        ``balances`` channel; usable as a decorator."""
        return self._add("balances", callback)

    def on_fill(self, callback: _Callback) -> _Callback:
        """Call ``callback(fill)`` for every :class:`~tickwire.Fill` of a private ``fills``
        channel; usable as a decorator."""
        return self._add("fills", callback)

    def on_trade(self, callback: _Callback) -> _Callback:
        """Call ``callback(trade)`` for every trade; usable as a decorator."""
        return self._add("trades", callback)

    def on_bbo(self, callback: _Callback) -> _Callback:
        """Call ``callback(bbo)`` for every best bid/offer; usable as a decorator."""
        return self._add("bbo", callback)

    def on_book(self, callback: _Callback) -> _Callback:
        """Call ``callback(update)`` for every book update; usable as a decorator."""
        return self._add("book", callback)

    def on_ticker(self, callback: _Callback) -> _Callback:
        """Call ``callback(ticker)`` for every ticker; usable as a decorator."""
        return self._add("ticker", callback)

    def on_book_invalid(self, callback: _Callback) -> _Callback:
        """Call ``callback(invalid)`` with a :class:`~tickwire.BookInvalid` whenever a book can
        no longer be trusted (in the place of the update that broke it); a snapshot
        ``BookUpdate`` follows once it has resynced. The feed's own :meth:`stop` ends its books
        without calling it (their views then read ``disconnected``). Usable as a decorator."""
        return self._add("book_invalid", callback)

    def broadcast(self, server: Server | None) -> None:
        """Publish this feed's market data to the broadcast ``server`` (``None``: stop), converted
        in Rust with no Python code per event: tickers as ``MarketData``, trades as
        ``MarketTrade`` and as 1m/5m/1h candles (``ChartUpdate``), books as ``BookTop`` (with
        whether each is proven valid); venues written in Python too.

        Raises:
            RuntimeError: The server is not running.
        """
        self._broadcast = server._running() if server is not None else None
        for link in self._links.values():
            link.dispatch.set_broadcast(self._broadcast)

    def book(self, venue: str, symbol: str) -> BookView:
        """A live, read-only view of ``symbol``'s order book on ``venue``: best
        bid/ask, spread, mid, ``levels(n)``, ``to_numpy(n)``, and ``is_valid`` with the
        ``reason`` when it is not. Every read shows the book as it stands (inside an
        ``on_book`` callback: right after that update).

        Raises:
            ValueError: An unknown venue or symbol, or a book this feed is not subscribed to.
        """
        holder: _Link | None = self._python_link_named(venue)
        if holder is not None:
            if (symbol, "book") not in holder.holding:
                holder = None
        else:
            endpoint = _endpoint_name(venue, symbol)
            _check_symbol(venue, symbol)
            holder = self._holder(endpoint, (symbol, "book"))
        if holder is None:
            raise ValueError(f"this feed is not subscribed to the book of {symbol} on {venue}")
        return holder.dispatch.book(holder.market_id(symbol))

    def on_state(self, callback: _Callback) -> _Callback:
        """Call ``callback(venue_name, event)`` for every :class:`SessionEvent`; a decorator too."""
        return self._add("state", callback)

    def on_error(self, callback: _Callback) -> _Callback:
        """Call ``callback(error)`` for every error the feed survives: a callback or strategy
        that raised, a message a venue could not parse (:class:`~tickwire.ParseError`, raw
        text kept), a :class:`SubscriptionError`. Without one, errors are logged. Usable as a
        decorator."""
        return self._add("error", callback)

    def on(self, channel: Channel, callback: _Callback, *, venue: str, symbol: str) -> _Callback:
        """Call ``callback(event)`` for the events of one venue's symbol on market-data
        ``channel`` only: routed in Rust by a table lookup, so a handler per symbol costs
        nothing for the others.

        Raises:
            ValueError: An unknown channel, venue or symbol, or a private channel.
        """
        (checked,) = _channels([channel])
        if checked not in CHANNELS:
            raise ValueError(f"on() routes market data by symbol; {checked!r} is a private channel: use on_{_HOOKS[checked][3:]}")
        python_link = self._python_link_named(venue)
        if python_link is not None:
            python_link.dispatch.add(checked, callback, python_link.market_id(symbol))
            return callback
        endpoint = _endpoint_name(venue, symbol)
        first = self._builtin_link(endpoint)
        route = (checked, callback, first.protocol.market_id(symbol))
        self._routes.setdefault(endpoint, []).append(route)
        for link in self._shards[endpoint]:
            link.dispatch.add(*route)
        return callback

    def off(self, channel: Channel | Literal["book_invalid"], callback: Callable[..., object]) -> bool:
        """Stop calling ``callback`` for ``channel`` (or ``"book_invalid"``), wherever it was
        added (``on_<channel>``, a strategy, or :meth:`on`); returns whether it was registered.
        Compared with ``==``, so ``off("trades", obj.method)`` removes what
        ``on_trade(obj.method)`` added."""
        if channel != "book_invalid":
            channel = _channels([channel])[0]
        before = len(self._callbacks[channel])
        self._callbacks[channel] = [c for c in self._callbacks[channel] if c != callback]
        removed = len(self._callbacks[channel]) < before
        for routes in self._routes.values():
            routes[:] = [r for r in routes if not (r[0] == channel and r[1] == callback)]
        if channel in CHANNELS or channel == "book_invalid":
            for link in self._links.values():
                if link.dispatch.remove(channel, callback):
                    removed = True
        return removed

    def _add(self, name: str, callback: _Callback) -> _Callback:
        self._callbacks[name].append(callback)
        if name in CHANNELS or name == "book_invalid":
            for link in self._links.values():
                link.dispatch.add(name, callback)
        return callback

    def add_strategy(self, strategy: Strategy) -> None:
        """Drive ``strategy`` from this feed: its overridden hooks receive the events."""
        for channel, hook in _HOOKS.items():
            if getattr(type(strategy), hook) is not getattr(Strategy, hook):
                self._add(channel, getattr(strategy, hook))
        if type(strategy).on_book_invalid is not Strategy.on_book_invalid:
            self._add("book_invalid", strategy.on_book_invalid)
        if type(strategy).on_state is not Strategy.on_state:
            self._add("state", strategy.on_state)
        self._strategies.append(strategy)
        if self._started_ns is not None:
            self._call(strategy.on_start, self)

    # ---- running ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open every venue's session and start subscribing; returns at once (the sessions
        connect in the background; see :meth:`is_connected`)."""
        if self._started_ns is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._started_ns = time.monotonic_ns()
        self._stopped_ns = None
        if self._first_start_ns is None:
            self._first_start_ns = self._started_ns
        for iteration in self._iterations:
            iteration.started = True
        for link in self._links.values():
            self._open(link)
        self._book_checker = self._loop.create_task(self._check_books(), name="tickwire-books")
        for strategy in self._strategies:
            self._call(strategy.on_start, self)

    def _open(self, link: _Link) -> None:
        link.dispatch.start()
        link.session = link.open(self)
        loop = asyncio.get_running_loop()
        link.pump = loop.create_task(self._pump(link), name=f"tickwire-subscribe-{link.name}")
        if link.app_ping_interval is not None:
            link.pinger = loop.create_task(self._ping(link), name=f"tickwire-ping-{link.name}")

    async def stop(self) -> None:
        """Stop subscribing, close every session, and call the strategies' ``on_stop``."""
        if self._started_ns is None:
            return
        for link in self._links.values():
            for task in (link.pump, link.pinger):
                if task is not None:
                    task.cancel()
        for task in (*self._resyncs, self._book_checker):
            if task is not None:
                task.cancel()
        self._resyncs.clear()
        for link in self._links.values():
            link.dispatch.stop()  # our own close: the books end without BookInvalid callbacks
        # At once: a silent peer keeps its session's close waiting for close_timeout.
        await asyncio.gather(*(link.session.close() for link in self._links.values() if link.session is not None))
        for strategy in self._strategies:
            self._call(strategy.on_stop)
        self._started_ns = None
        self._stopped_ns = time.monotonic_ns()
        for iteration in self._iterations:
            iteration.wake()

    async def run(self) -> None:
        """Start if needed and run until cancelled or every session has ended; stops the feed
        on the way out."""
        await self.start()
        try:
            await asyncio.gather(*(link.session.wait_closed() for link in self._links.values() if link.session))
        finally:
            await self.stop()

    async def __aenter__(self) -> Feed:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()

    def is_connected(self, venue: Venue | str | None = None) -> bool:
        """Whether ``venue``'s sessions (every venue's, when ``None``) have a connection open."""
        links = self._venue_links(venue)
        return bool(links) and all(link.connected for link in links)

    async def send(self, venue: Venue | str, message: str | bytes) -> None:
        """Send a custom request on ``venue``'s connection.

        Raises:
            ConnectionClosed: The venue is not connected now.
        """
        link = self._links.get(_name(venue))
        if link is None:
            raise ValueError(f"{_name(venue)!r} is not in this feed")
        session = link.session
        if session is None:
            raise RuntimeError("the feed is not started")
        await session.send(message)

    def metrics(self) -> dict[str, Any]:
        """Counters per venue and in total: ``messages_processed``, ``messages_per_second``,
        processing time per message (``avg_ns``, ``p50_ns``, ``p95_ns``, ``p99_ns``,
        ``max_ns``, from an HDR histogram), ``sub_1ms_share``, ``latency_violations``,
        ``orderbook_updates``, ``reconnection_count``, ``error_count``, and the subscription
        counts (for a venue written in Python also ``messages_parsed``, every message its
        ``parse`` saw); ``books``: ``books`` kept, ``valid`` now,
        ``updates_applied``, ``gaps``, ``checksum_failures``, ``crossed``, ``stale``,
        ``resyncs`` (books made valid again), ``resync_orders``, ``resyncs_held`` (by the
        breaker) and ``time_invalid_s``."""
        end_ns = self._stopped_ns if self._stopped_ns is not None else time.monotonic_ns()
        start_ns = self._first_start_ns if self._first_start_ns is not None else end_ns
        elapsed_s = max(1e-9, (end_ns - start_ns) / 1e9)
        venues = {name: self._venue_metrics(link, elapsed_s) for name, link in self._links.items()}
        total_keys = ("messages_processed", "latency_violations", "orderbook_updates", "reconnection_count", "error_count")
        total: dict[str, Any] = {key: sum(v[key] for v in venues.values()) for key in total_keys}
        total["messages_per_second"] = total["messages_processed"] / elapsed_s
        books: dict[str, Any] = {}
        for metrics in venues.values():
            for key, value in metrics.get("books", {}).items():
                books[key] = books.get(key, 0) + value
        total["books"] = books
        return {"venues": venues, "total": total}

    def _venue_metrics(self, link: _Link, elapsed_s: float) -> dict[str, Any]:
        summary = link.processing.summary()
        session_stats = link.session.stats() if link.session is not None else {}
        processed, book_updates, latency_violations = link.processed()
        metrics = {
            "messages_processed": processed,
            "messages_per_second": processed / elapsed_s,
            "avg_ns": summary["mean_ns"],
            "p50_ns": summary["p50_ns"],
            "p95_ns": summary["p95_ns"],
            "p99_ns": summary["p99_ns"],
            "max_ns": summary["max_ns"],
            "sub_1ms_share": link.processing.share_below(1_000_000),
            "latency_violations": latency_violations,
            "orderbook_updates": book_updates,
            "reconnection_count": session_stats.get("reconnects", 0),
            "error_count": link.errors,
            "subscriptions": link.subscriptions.counts(),
            "connected": link.connected,
        }
        for key in _DECODE_COUNTERS:
            if key in session_stats:
                metrics[key] = session_stats[key]
        metrics["books"] = link.dispatch.book_totals()
        if isinstance(link, _PythonLink):
            metrics["messages_parsed"] = link.messages
        return metrics

    def events(self, max_pending: int = 100_000) -> AsyncIterator[object]:
        """Iterate over market events (``Trade``, ``BBO``, ``BookUpdate``, ``Ticker``) as they
        arrive, alongside any callbacks; ends when the feed stops. ``async for event in feed``
        is the same with the default bound; several iterations may run at once.

        At most ``max_pending`` events wait for the iterating coroutine; beyond that they are
        not kept for it, and a :class:`~tickwire.events.Lagged` event in their place says how
        many it missed (callbacks, strategies and other iterations still get every event).

        Raises:
            ValueError: ``max_pending`` is below 1.
        """
        iteration = _Iteration(max_pending, self)
        self._iterations.add(iteration)
        for link in self._links.values():
            link.dispatch.set_sink(self._offer)
        return iteration

    def _offer(self, event: object) -> None:
        for iteration in self._iterations:
            iteration.offer(event)

    def __aiter__(self) -> AsyncIterator[object]:
        return self.events()

    # ---- the hot path -------------------------------------------------------------------

    def _on_messages(self, link: _PythonLink, batch: list[str | bytes]) -> None:
        """One batch of a Python venue: parsed by the venue (``parse_batch``), the market events
        delivered through Rust in one call, then the answers and private events handled here.
        The batch's processing time is recorded per message as its share (batch time /
        messages): a clock read per message would cost more than some venues' parsing."""
        started = time.perf_counter_ns()
        events = link.venue.parse_batch(batch, time.monotonic_ns(), functools.partial(self._report, link))
        others = link.dispatch.deliver(events) if events else ()
        for event in others:
            if type(event) is Ack:
                self._answer(link, event.request_id, event.error, auth_failed=event.auth_failed)
            else:
                channel = _PRIVATE_CHANNEL.get(type(event))
                if channel is not None:
                    for callback in self._callbacks[channel]:
                        self._call(callback, event)
        link.messages += len(batch)
        share = (time.perf_counter_ns() - started) // len(batch)
        link.processing.record_many([share] * len(batch))
        if share > self._latency_budget_ns:
            link.latency_violations += len(batch)

    # ---- subscriptions ------------------------------------------------------------------

    def _answer(self, link: _Link, request_id: int | None, error: str | None, *, auth_failed: bool = False) -> None:
        """One answer to a request: a refusal settles it at once (it is retried whole, at most
        ``max_attempts`` times); it is confirmed when every answer the venue sends to it has
        come. A refusal about credentials is reported as an :class:`AuthenticationError` when
        given up on."""
        if request_id is None:
            # A venue that echoes no request id (Coinbase) answers in order.
            request_id = link.subscriptions.oldest_sent()
            if request_id is None:
                return
        due = link.answers_due.get(request_id)
        if due is None:
            return  # settled already: a late answer to a refused request, or a stray id
        if error is not None:
            del link.answers_due[request_id]
            link.subscriptions.reject(request_id, _AUTH_PREFIX + error if auth_failed else error, time.monotonic_ns())
        elif due > 1:
            link.answers_due[request_id] = due - 1
            return
        else:
            del link.answers_due[request_id]
            link.subscriptions.confirm(request_id)
        link.kick.set()

    def _on_control(self, link: _Link, fields: dict[str, Any]) -> None:
        """An ack, a refusal or a reconnect notice from a built-in venue."""
        event = fields["event"]
        if event == "ack":
            self._answer(link, fields["request_id"], None)
        elif event == "rejected":
            self._answer(link, fields["request_id"], fields["reason"])
        elif event == "reconnect" and link.session is not None:
            logger.info("%s announced a disconnect (%s): reconnecting now", link.name, fields["reason"])
            link.session._core.reconnect(f"the venue announced a disconnect: {fields['reason']}")

    async def _pump(self, link: _Link) -> None:
        """Sends due requests while connected, reports failures, sleeps until the next is due."""
        subscriptions = link.subscriptions
        while True:
            link.kick.clear()
            timeout: float | None = None
            # While disconnected nothing can be answered, so nothing times out: the reconnect
            # resets every request and re-sends what is wanted. Sleep until kicked.
            if link.connected and link.session is not None and not link.authenticating:
                now = time.monotonic_ns()
                if subscriptions.expire(now):
                    _forget_settled(link)
                await self._send_requests(link, subscriptions.next_requests(now))
                wake_ns = subscriptions.next_wakeup_ns()
                if wake_ns is not None:
                    timeout = max(0.0, (wake_ns - time.monotonic_ns()) / 1e9)
            for was_subscribe, ids, reason, attempts in subscriptions.take_failures():
                pairs = [link.pairs[i] for i in ids]
                verb = "subscribe to" if was_subscribe else "unsubscribe from"
                message = f"{link.name} did not let us {verb} {len(pairs)} stream(s) after {attempts} attempt(s): {reason}"
                failure = AuthenticationError if _AUTH_PREFIX in reason else SubscriptionError
                self._report(link, failure(message, link.url, link.venue_name(), pairs, reason, attempts))
            try:
                await asyncio.wait_for(link.kick.wait(), timeout)
            except TimeoutError:
                pass

    async def _send_requests(self, link: _Link, requests: list[tuple[int, bool, list[int]]]) -> None:
        for request_id, is_subscribe, ids in requests:
            pairs = [link.pairs[i] for i in ids]
            try:
                assert link.session is not None
                messages = link.requests(request_id, is_subscribe, pairs)
                expected = link.answers_expected(len(pairs), len(messages))
                if expected == 0:
                    # Nothing to send (Coinbase keeps a channel another subscription still
                    # needs): done as asked.
                    link.subscriptions.confirm(request_id)
                    continue
                link.answers_due[request_id] = expected
                for message in messages:
                    await link.session.send(message)
            except ConnectionClosed:
                return  # the reconnect re-sends everything
            except Exception as error:  # noqa: BLE001 - a venue's request builder failed
                self._report(link, error)

    async def _ping(self, link: _Link) -> None:
        """Sends the venue's application ping every ``app_ping_interval`` while connected."""
        interval = link.app_ping_interval
        assert interval is not None
        while True:
            await asyncio.sleep(interval)
            if link.connected and link.session is not None:
                try:
                    await link.session.send(link.app_ping())
                except ConnectionClosed:
                    pass  # reconnecting; the next interval tries again
                except Exception as error:  # noqa: BLE001 - a venue's ping builder failed
                    self._report(link, error)

    # ---- books --------------------------------------------------------------------------

    def _on_resync(self, link: _Link, market_id: int, action: str, delay: float) -> None:
        """A book of ``link`` needs a fresh snapshot: resubscribe, or fetch the REST one."""
        symbol = link.symbols.get(market_id)
        if symbol is None or (symbol, "book") not in link.holding or self._loop is None:
            return  # no longer subscribed: nothing to resync
        if action == "fetch_snapshot":
            task = self._loop.create_task(self._fetch_snapshot(link, market_id, symbol, delay), name=f"tickwire-snapshot-{symbol}")
        else:
            task = self._loop.create_task(self._resubscribe(link, symbol, delay), name=f"tickwire-resubscribe-{symbol}")
        self._resyncs.add(task)
        task.add_done_callback(self._resyncs.discard)

    async def _resubscribe(self, link: _Link, symbol: str, delay: float) -> None:
        if delay > 0:
            logger.warning("%s %s book: resync held back %.1f s by the breaker", link.name, symbol, delay)
            await asyncio.sleep(delay)
        if link.subscriptions.refresh(link.ids_of([(symbol, "book")])):
            link.kick.set()

    async def _fetch_snapshot(self, link: _Link, market_id: int, symbol: str, delay: float) -> None:
        if delay > 0:
            logger.warning("%s %s book: snapshot fetch held back %.1f s by the breaker", link.name, symbol, delay)
            await asyncio.sleep(delay)
        url = link.snapshot_url(symbol)
        if url is None:
            return
        try:
            body = await asyncio.to_thread(_http_get, url, SNAPSHOT_TIMEOUT)
        except OSError as error:
            link.dispatch.snapshot_failed(market_id)
            self._report(link, BookSnapshotError(f"{link.name}: cannot fetch the {symbol} book snapshot from {url}: {error}", url, link.venue_name(), symbol))
            return
        try:
            link.parse_snapshot(symbol, body)
        except Exception as error:  # noqa: BLE001 - a body that is no snapshot: reported, refetched
            if isinstance(link, _PythonLink):
                link.dispatch.snapshot_failed(market_id)  # the built-in parser orders it itself
            self._report(link, error)

    async def _check_books(self) -> None:
        """Marks silent books stale and re-orders unanswered resyncs, every second."""
        while True:
            await asyncio.sleep(BOOK_CHECK_INTERVAL)
            for link in list(self._links.values()):
                try:
                    link.dispatch.check_books()
                except Exception as error:  # noqa: BLE001 - reported; the checks go on
                    self._report(link, error)

    # ---- state and errors ---------------------------------------------------------------

    def _on_state(self, link: _Link, event: SessionEvent) -> None:
        if event.event == "connected":
            link.connected = True
            link.answers_due.clear()
            link.subscriptions.on_reconnect()
            link.kick.set()
        elif event.event in ("disconnected", "gave_up", "closed"):
            link.connected = False
        for callback in self._callbacks["state"]:
            self._call(callback, link.name, event)

    def _on_python_state(self, link: _PythonLink, event: SessionEvent) -> None:
        """A Python venue's session event: books invalid on a lost connection (as a built-in
        venue's dispatch does in Rust), a login on a new one, and the venue's say on whether
        to go on reconnecting."""
        if event.event in ("disconnected", "gave_up"):
            try:
                link.dispatch.disconnected()
            except Exception as error:  # noqa: BLE001 - a handler failed: reported
                self._report(link, error)
        if event.event in ("disconnected", "connect_failed") and not link.venue.should_reconnect(event):
            logger.warning("%s: the venue says not to reconnect after: %s", link.name, event.message)
            if link.session is not None and self._loop is not None:
                self._loop.create_task(link.session.close(), name=f"tickwire-close-{link.name}")
        self._on_state(link, event)
        if event.event == "connected" and link.private and self._loop is not None:
            login = link.venue.authenticate()
            if login:
                link.authenticating = True
                self._loop.create_task(self._login(link, login), name=f"tickwire-login-{link.name}")

    async def _login(self, link: _PythonLink, messages: list[str | bytes]) -> None:
        """Sends a new connection's login messages before any subscription request."""
        try:
            assert link.session is not None
            for message in messages:
                await link.session.send(message)
        except ConnectionClosed:
            pass  # the next connection logs in again
        finally:
            link.authenticating = False
            link.kick.set()

    def _call(self, callback: Callable[..., object], *args: object) -> None:
        try:
            callback(*args)
        except Exception as error:  # noqa: BLE001 - reported; the feed goes on
            self._report(None, error)

    def _report(self, link: _Link | None, error: BaseException) -> None:
        if link is not None:
            link.errors += 1
        handlers = self._callbacks["error"]
        if not handlers:
            logger.error("tickwire feed: %s", error, exc_info=error)
            return
        for handler in handlers:
            try:
                handler(error)
            except Exception:  # noqa: BLE001 - an error handler that fails is logged, not looped
                logger.exception("tickwire feed: on_error callback %r failed", handler)


class _Gap:
    """Where an iteration's buffer was full: how many events were dropped there."""

    __slots__ = ("dropped",)

    def __init__(self) -> None:
        self.dropped = 1


class _Iteration:
    """One ``async for`` over a feed, with its bounded buffer; ends once the feed has been
    started and stopped again."""

    __slots__ = ("__weakref__", "feed", "max_pending", "pending", "started", "wakeup")

    def __init__(self, max_pending: int, feed: Feed) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.max_pending = max_pending
        self.feed = feed
        # Events, and at each place where some were dropped, a _Gap counting them.
        self.pending: collections.deque[object] = collections.deque()
        self.started = feed._started_ns is not None
        self.wakeup: asyncio.Future[None] | None = None

    def offer(self, event: object) -> None:
        pending = self.pending
        if len(pending) < self.max_pending:
            pending.append(event)
        elif type(pending[-1]) is _Gap:
            pending[-1].dropped += 1
        else:
            pending.append(_Gap())
        self.wake()

    def wake(self) -> None:
        wakeup = self.wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def __aiter__(self) -> _Iteration:
        return self

    async def __anext__(self) -> object:
        while True:  # each pass either returns, ends, or waits for the feed to offer or stop
            if self.pending:
                item = self.pending.popleft()
                return Lagged(item.dropped) if type(item) is _Gap else item
            if self.started and self.feed._started_ns is None:
                raise StopAsyncIteration
            self.wakeup = asyncio.get_running_loop().create_future()
            await self.wakeup


def _channels(channels: Iterable[str]) -> list[Channel]:
    channel_list = list(channels)
    unknown = [channel for channel in channel_list if channel not in CHANNELS and channel not in PRIVATE_CHANNELS]
    if unknown:
        raise ValueError(f"unknown channel(s) {unknown}; expected some of {list(CHANNELS + PRIVATE_CHANNELS)}")
    return channel_list  # type: ignore[return-value]


def _check_python_pairs(venue: PythonVenue, pairs: list[Subscription]) -> None:
    """Raises ``ValueError`` for a pair ``venue`` cannot serve: a symbol it cannot name, a
    private channel it does not offer, or one without credentials (taken from the environment
    when the venue has none)."""
    venue.name_in_core()
    for symbol, channel in pairs:
        if channel in PRIVATE_CHANNELS:
            if channel not in venue.private_channels:
                offered = ", ".join(sorted(venue.private_channels)) or "none"
                raise ValueError(f"{venue.name} has no private channel {channel!r} (it has: {offered})")
            if venue.credentials is None:
                venue.credentials = Credentials.from_env(venue.name)
        else:
            if channel not in venue.channels:
                raise ValueError(f"{venue.name} has no {channel!r} channel (it has: {', '.join(sorted(venue.channels))})")
            _core.market_id(venue.name, symbol)


def _pairs(symbols: Iterable[str], channels: list[Channel]) -> list[Subscription]:
    return [(symbol, channel) for symbol, channel in itertools.product(symbols, channels)]


def _forget_settled(link: _Link) -> None:
    """Drops the answer counts of requests no longer awaiting answers (timed out): request ids
    grow, so those are the ones older than the oldest still sent."""
    oldest = link.subscriptions.oldest_sent()
    for request_id in [rid for rid in link.answers_due if oldest is None or rid < oldest]:
        del link.answers_due[request_id]


#: The counters of a built-in venue's decoder that metrics() passes on.
_DECODE_COUNTERS = ("heartbeats", "pongs", "unknown_messages", "parse_errors", "acks")

#: Each built-in venue endpoint's name: (venue, instrument kind) for ``VenueProtocol``.
_ENDPOINTS: dict[str, tuple[str, str]] = {
    **{venue: (venue, "spot") for venue in BUILTIN_VENUES},
    "bybit-linear": ("bybit", "perpetual"),
}
_ENDPOINT_NAMES = sorted(_ENDPOINTS)


def _builtin_endpoint(name: str) -> tuple[str, str] | None:
    return _ENDPOINTS.get(name)


@functools.cache
def _protocol(endpoint: str) -> _core.VenueProtocol:
    """A built-in endpoint's protocol, for checks (each connection has its own)."""
    return _core.VenueProtocol(*_ENDPOINTS[endpoint])


def _check_symbol(venue: str, symbol: str) -> None:
    """Raises ``ValueError`` if ``venue`` cannot name ``symbol``."""
    _protocol(_endpoint_name(venue, symbol)).market_id(symbol)


def _endpoint_name(venue: str, symbol: str) -> str:
    """The endpoint serving ``symbol`` on built-in ``venue``: Bybit splits spot from linear."""
    if venue not in BUILTIN_VENUES:
        registered = sorted(registered_venues())
        raise ValueError(f"unknown venue {venue!r}; the built-in ones are {list(BUILTIN_VENUES)}, the registered ones {registered}")
    if venue == "bybit" and _core.endpoint_kind(venue, symbol) != "spot":
        return "bybit-linear"
    return venue


def _http_get(url: str, timeout: float) -> bytes:
    """The body of ``GET url``; ``OSError`` (``urllib.error.URLError``, ``HTTPError``, a
    timeout) when it cannot be had. Runs in a worker thread: snapshots are rare, and the
    standard library needs no event-loop integration for them."""
    request = urllib.request.Request(url, headers={"User-Agent": "tickwire"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) URLs built by the venue protocol
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as error:
        # Binance's error bodies say why ({"code":-1121,"msg":"Invalid symbol."}).
        detail = error.read()[:200].decode("utf-8", "replace")
        raise OSError(f"HTTP {error.code}: {detail}") from error


def _name(venue: Venue | str) -> str:
    return venue if isinstance(venue, str) else venue.name
