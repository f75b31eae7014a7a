"""The feed: market data from several venues into strategies, surviving disconnects.

A :class:`Feed` keeps one reconnecting session per venue, subscribes in batches paced by the
venue's rate limit, matches the venue's answers to its requests, retries and reports refusals,
resubscribes to exactly the active set after every reconnect, and hands each event to the
callbacks and :class:`Strategy` hooks registered for its channel. An exception in one callback
or strategy is reported and does not stop the others or the feed.

Venues are written in Python for now (:class:`~tickwire.venue.Venue`); their ``parse`` runs on
the asyncio loop's thread, once per message, inside one call per batch.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar, Unpack

from . import _core
from .client import ConnectOptions
from .events import BBO, CHANNELS, Ack, BookUpdate, Channel, Lagged, Ticker, Trade
from .exceptions import ConnectionClosed, SubscriptionError
from .session import BreakerPolicy, ReconnectPolicy, Session, SessionEvent, open_session
from .venue import Subscription, Venue

__all__ = ["Feed", "Strategy"]

logger = logging.getLogger(__name__)

_Callback = TypeVar("_Callback", bound=Callable[..., object])

#: Processing longer than this per message counts as a latency violation.
DEFAULT_LATENCY_BUDGET_NS = 1_000_000


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
        """An order-book snapshot or delta."""

    def on_ticker(self, ticker: Ticker) -> None:
        """A ticker update."""

    def on_state(self, venue: str, event: SessionEvent) -> None:
        """A change in a venue's connection: connected, disconnected, reconnecting …"""


_HOOKS: dict[str, str] = {"trades": "on_trade", "bbo": "on_bbo", "book": "on_book", "ticker": "on_ticker"}
_EVENT_CHANNEL: dict[type, Channel] = {Trade: "trades", BBO: "bbo", BookUpdate: "book", Ticker: "ticker"}


class _VenueLink:
    """One venue's session, subscriptions and counters."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.session: Session | None = None
        self.connected = False
        rate_per = 1.0 / venue.requests_per_second
        self.subscriptions = _core.Subscriptions(
            venue.batch_size, 1, rate_per, venue.burst, venue.confirm_timeout, venue.retry_delay, venue.max_attempts
        )
        self.ids: dict[Subscription, int] = {}
        self.pairs: list[Subscription] = []
        self.kick = asyncio.Event()
        self.pump: asyncio.Task[None] | None = None
        self.pinger: asyncio.Task[None] | None = None
        self.processing = _core.LatencyHistogram()
        self.messages = 0
        self.book_updates = 0
        self.latency_violations = 0
        self.errors = 0

    def ids_of(self, pairs: Iterable[Subscription]) -> list[int]:
        ids = []
        for pair in pairs:
            known = self.ids.get(pair)
            if known is None:
                known = self.ids[pair] = len(self.pairs)
                self.pairs.append(pair)
            ids.append(known)
        return ids


class Feed:
    """Market data from several venues, delivered to callbacks and strategies.

    Example::

        feed = tickwire.Feed()
        feed.subscribe(my_venue, ["BTC/USDT", "ETH/USDT"], ["trades", "bbo"])

        @feed.on_trade
        def trade(t: tickwire.Trade) -> None: ...

        async with feed:
            await feed.run()

    Args:
        reconnect: The retry policy of every venue's session.
        breaker: The circuit breaker of every venue; ``None`` for none.
        latency_budget_ns: Processing time per message above which it counts as a latency
            violation in :meth:`metrics` (default 1 ms).
        **options: Connection options, as for :func:`tickwire.connect`.
    """

    def __init__(
        self,
        *,
        reconnect: ReconnectPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        latency_budget_ns: int = DEFAULT_LATENCY_BUDGET_NS,
        **options: Unpack[ConnectOptions],
    ) -> None:
        self._reconnect = reconnect
        self._breaker = breaker
        self._options = options
        self._latency_budget_ns = latency_budget_ns
        self._links: dict[str, _VenueLink] = {}
        self._callbacks: dict[str, list[Callable[..., object]]] = {name: [] for name in (*CHANNELS, "state", "error")}
        self._strategies: list[Strategy] = []
        self._started_ns: int | None = None
        # The span metrics() rates cover: from the first start to now, or to the last stop.
        self._first_start_ns: int | None = None
        self._stopped_ns: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._iterations: weakref.WeakSet[_Iteration] = weakref.WeakSet()

    # ---- configuration ------------------------------------------------------------------

    def _link(self, venue: Venue) -> _VenueLink:
        link = self._links.get(venue.name)
        if link is None:
            link = self._links[venue.name] = _VenueLink(venue)
            if self._started_ns is not None:
                self._open(link)
        elif link.venue is not venue:
            raise ValueError(f"another venue named {venue.name!r} is already in this feed")
        return link

    def add_venue(self, venue: Venue) -> None:
        """Connect to ``venue`` (at :meth:`start`, or now if started) even before any
        subscription; :meth:`subscribe` adds its venue by itself.

        Raises:
            ValueError: Another venue object with the same name is already in the feed.
        """
        self._link(venue)

    def subscribe(self, venue: Venue, symbols: Iterable[str], channels: Iterable[Channel] = ("trades",)) -> int:
        """Subscribe to ``channels`` of ``symbols`` on ``venue``, now or at :meth:`start`;
        returns how many subscriptions were new. Already active or pending ones are not asked
        for twice.

        Raises:
            ValueError: An unknown channel, or another venue object with the same name.
        """
        wanted = _pairs(symbols, channels)
        link = self._link(venue)
        added = link.subscriptions.request(link.ids_of(wanted))
        link.kick.set()
        return added

    def unsubscribe(self, venue: Venue, symbols: Iterable[str], channels: Iterable[Channel] = ("trades",)) -> int:
        """Cancel subscriptions; returns how many were active or pending.

        Raises:
            ValueError: An unknown channel.
        """
        link = self._link(venue)
        dropped = link.subscriptions.unrequest(link.ids_of(_pairs(symbols, channels)))
        link.kick.set()
        return dropped

    def subscriptions(self, venue: Venue) -> list[Subscription]:
        """The subscriptions the venue has confirmed, in the order they were first asked for."""
        link = self._link(venue)
        return [link.pairs[i] for i in link.subscriptions.active()]

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

    def on_state(self, callback: _Callback) -> _Callback:
        """Call ``callback(venue_name, event)`` for every :class:`SessionEvent`; a decorator too."""
        return self._add("state", callback)

    def on_error(self, callback: _Callback) -> _Callback:
        """Call ``callback(error)`` for every error the feed survives: a callback or strategy
        that raised, a message a venue could not parse, a :class:`SubscriptionError`. Without
        one, errors are logged. Usable as a decorator."""
        return self._add("error", callback)

    def _add(self, name: str, callback: _Callback) -> _Callback:
        self._callbacks[name].append(callback)
        return callback

    def add_strategy(self, strategy: Strategy) -> None:
        """Drive ``strategy`` from this feed: its overridden hooks receive the events."""
        for channel, hook in _HOOKS.items():
            if getattr(type(strategy), hook) is not getattr(Strategy, hook):
                self._callbacks[channel].append(getattr(strategy, hook))
        if type(strategy).on_state is not Strategy.on_state:
            self._callbacks["state"].append(strategy.on_state)
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
        for strategy in self._strategies:
            self._call(strategy.on_start, self)

    def _open(self, link: _VenueLink) -> None:
        session = open_session(link.venue.url, reconnect=self._reconnect, breaker=self._breaker, **self._options)
        session.on_state(lambda event: self._on_state(link, event))
        session.on_batch(lambda batch: self._on_messages(link, batch))
        link.session = session
        loop = asyncio.get_running_loop()
        link.pump = loop.create_task(self._pump(link), name=f"tickwire-subscribe-{link.venue.name}")
        if link.venue.app_ping_interval is not None:
            link.pinger = loop.create_task(self._ping(link), name=f"tickwire-ping-{link.venue.name}")

    async def stop(self) -> None:
        """Stop subscribing, close every session, and call the strategies' ``on_stop``."""
        if self._started_ns is None:
            return
        for link in self._links.values():
            for task in (link.pump, link.pinger):
                if task is not None:
                    task.cancel()
        for link in self._links.values():
            if link.session is not None:
                await link.session.close()
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
        """Whether ``venue``'s session (every venue's, when ``None``) has a connection open."""
        links = self._links.values() if venue is None else [self._links[_name(venue)]]
        return bool(links) and all(link.connected for link in links)

    async def send(self, venue: Venue | str, message: str | bytes) -> None:
        """Send a custom request on ``venue``'s connection.

        Raises:
            ConnectionClosed: The venue is not connected now.
        """
        session = self._links[_name(venue)].session
        if session is None:
            raise RuntimeError("the feed is not started")
        await session.send(message)

    def metrics(self) -> dict[str, Any]:
        """Counters per venue and in total: ``messages_processed``, ``messages_per_second``,
        processing time per message (``avg_ns``, ``p50_ns``, ``p95_ns``, ``p99_ns``,
        ``max_ns``, from an HDR histogram), ``sub_1ms_share``, ``latency_violations``,
        ``orderbook_updates``, ``reconnection_count``, ``error_count``, and the subscription
        counts."""
        end_ns = self._stopped_ns if self._stopped_ns is not None else time.monotonic_ns()
        start_ns = self._first_start_ns if self._first_start_ns is not None else end_ns
        elapsed_s = max(1e-9, (end_ns - start_ns) / 1e9)
        venues = {name: self._venue_metrics(link, elapsed_s) for name, link in self._links.items()}
        total_keys = ("messages_processed", "latency_violations", "orderbook_updates", "reconnection_count", "error_count")
        total: dict[str, Any] = {key: sum(v[key] for v in venues.values()) for key in total_keys}
        total["messages_per_second"] = total["messages_processed"] / elapsed_s
        return {"venues": venues, "total": total}

    def _venue_metrics(self, link: _VenueLink, elapsed_s: float) -> dict[str, Any]:
        summary = link.processing.summary()
        session_stats = link.session.stats() if link.session is not None else {}
        return {
            "messages_processed": link.messages,
            "messages_per_second": link.messages / elapsed_s,
            "avg_ns": summary["mean_ns"],
            "p50_ns": summary["p50_ns"],
            "p95_ns": summary["p95_ns"],
            "p99_ns": summary["p99_ns"],
            "max_ns": summary["max_ns"],
            "sub_1ms_share": link.processing.share_below(1_000_000),
            "latency_violations": link.latency_violations,
            "orderbook_updates": link.book_updates,
            "reconnection_count": session_stats.get("reconnects", 0),
            "error_count": link.errors,
            "subscriptions": link.subscriptions.counts(),
            "connected": link.connected,
        }

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
        return iteration

    def __aiter__(self) -> AsyncIterator[object]:
        return self.events()

    # ---- the hot path -------------------------------------------------------------------

    def _on_messages(self, link: _VenueLink, batch: list[str | bytes]) -> None:
        parse = link.venue.parse
        clock = time.perf_counter_ns
        received_ns = time.monotonic_ns()
        budget = self._latency_budget_ns
        record = link.processing.record
        callbacks = self._callbacks
        for message in batch:
            started = clock()
            try:
                events = parse(message, received_ns)
                for event in events:
                    channel = _EVENT_CHANNEL.get(type(event))
                    if channel is not None:
                        if channel == "book":
                            link.book_updates += 1
                        for callback in callbacks[channel]:
                            try:
                                callback(event)
                            except Exception as error:  # noqa: BLE001 - reported; the others go on
                                self._report(link, error)
                        if self._iterations:
                            for iteration in self._iterations:
                                iteration.offer(event)
                    elif type(event) is Ack:
                        self._answer(link, event)
            except Exception as error:  # noqa: BLE001 - a message the venue cannot parse is skipped
                self._report(link, error)
            spent = clock() - started
            record(spent)
            if spent > budget:
                link.latency_violations += 1
        link.messages += len(batch)

    # ---- subscriptions ------------------------------------------------------------------

    def _answer(self, link: _VenueLink, ack: Ack) -> None:
        if ack.error is None:
            link.subscriptions.confirm(ack.request_id)
        else:
            link.subscriptions.reject(ack.request_id, ack.error, time.monotonic_ns())
        link.kick.set()

    async def _pump(self, link: _VenueLink) -> None:
        """Sends due requests while connected, reports failures, sleeps until the next is due."""
        subscriptions, venue = link.subscriptions, link.venue
        while True:
            link.kick.clear()
            timeout: float | None = None
            # While disconnected nothing can be answered, so nothing times out: the reconnect
            # resets every request and re-sends what is wanted. Sleep until kicked.
            if link.connected and link.session is not None:
                now = time.monotonic_ns()
                subscriptions.expire(now)
                await self._send_requests(link, subscriptions.next_requests(now))
                wake_ns = subscriptions.next_wakeup_ns()
                if wake_ns is not None:
                    timeout = max(0.0, (wake_ns - time.monotonic_ns()) / 1e9)
            for was_subscribe, ids, reason, attempts in subscriptions.take_failures():
                pairs = [link.pairs[i] for i in ids]
                verb = "subscribe to" if was_subscribe else "unsubscribe from"
                message = f"{venue.name} did not let us {verb} {len(pairs)} stream(s) after {attempts} attempt(s): {reason}"
                self._report(link, SubscriptionError(message, venue.url, venue.name, pairs, reason, attempts))
            try:
                await asyncio.wait_for(link.kick.wait(), timeout)
            except TimeoutError:
                pass

    async def _send_requests(self, link: _VenueLink, requests: list[tuple[int, bool, list[int]]]) -> None:
        venue = link.venue
        for request_id, is_subscribe, ids in requests:
            pairs = [link.pairs[i] for i in ids]
            build = venue.subscribe_request if is_subscribe else venue.unsubscribe_request
            try:
                assert link.session is not None
                await link.session.send(build(request_id, pairs))
            except ConnectionClosed:
                return  # the reconnect re-sends everything
            except Exception as error:  # noqa: BLE001 - a venue's request builder failed
                self._report(link, error)

    async def _ping(self, link: _VenueLink) -> None:
        """Sends the venue's application ping every ``app_ping_interval`` while connected."""
        interval = link.venue.app_ping_interval
        assert interval is not None
        while True:
            await asyncio.sleep(interval)
            if link.connected and link.session is not None:
                try:
                    await link.session.send(link.venue.app_ping())
                except ConnectionClosed:
                    pass  # reconnecting; the next interval tries again
                except Exception as error:  # noqa: BLE001 - a venue's ping builder failed
                    self._report(link, error)

    # ---- state and errors ---------------------------------------------------------------

    def _on_state(self, link: _VenueLink, event: SessionEvent) -> None:
        if event.event == "connected":
            link.connected = True
            link.subscriptions.on_reconnect()
            link.kick.set()
        elif event.event in ("disconnected", "gave_up", "closed"):
            link.connected = False
        for callback in self._callbacks["state"]:
            self._call(callback, link.venue.name, event)

    def _call(self, callback: Callable[..., object], *args: object) -> None:
        try:
            callback(*args)
        except Exception as error:  # noqa: BLE001 - reported; the feed goes on
            self._report(None, error)

    def _report(self, link: _VenueLink | None, error: Exception) -> None:
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


def _pairs(symbols: Iterable[str], channels: Iterable[Channel]) -> list[Subscription]:
    channel_list = list(channels)
    unknown = [channel for channel in channel_list if channel not in CHANNELS]
    if unknown:
        raise ValueError(f"unknown channel(s) {unknown}; expected some of {list(CHANNELS)}")
    return [(symbol, channel) for symbol in symbols for channel in channel_list]


def _name(venue: Venue | str) -> str:
    return venue if isinstance(venue, str) else venue.name
