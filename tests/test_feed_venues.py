"""The feed on the built-in venues, end to end against the simulator (real WebSocket servers
speaking each venue's protocol on loopback): subscriptions confirmed by the venue's own acks,
every trade once and in order, book sequences that chain, quotes that make sense; routing by
symbol in Rust; faults survived; heartbeat rules kept where a silent client is dropped."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import tickwire

FAST = tickwire.ReconnectPolicy(initial_delay=0.05, max_delay=0.2, jitter=0.0)
LIMIT = 15.0

#: Per venue: the symbols subscribed (two endpoints for Bybit).
SYMBOLS = {
    "binance": ["BTC/USDT", "ETH/USDT"],
    "bybit": ["BTC/USDT", "BTC/USDT-PERP"],
    "okx": ["BTC/USDT", "BTC/USDT-PERP"],
    "coinbase": ["BTC/USD", "ETH/USD"],
    "kraken": ["BTC/USD", "ETH/USD"],
}
CHANNELS: list[tickwire.Channel] = ["trades", "bbo", "book", "ticker"]


async def _until(condition: Callable[[], bool], timeout: float = LIMIT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        await asyncio.sleep(0.02)


class Recorder:
    """Every event a feed delivers, by channel and symbol, and every error."""

    def __init__(self, feed: tickwire.Feed) -> None:
        self.events: dict[str, dict[str, list[Any]]] = {c: collections.defaultdict(list) for c in CHANNELS}
        self.errors: list[BaseException] = []
        feed.on_trade(lambda e: self.events["trades"][e.symbol].append(e))
        feed.on_bbo(lambda e: self.events["bbo"][e.symbol].append(e))
        feed.on_book(lambda e: self.events["book"][e.symbol].append(e))
        feed.on_ticker(lambda e: self.events["ticker"][e.symbol].append(e))
        feed.on_error(self.errors.append)

    def count(self, channel: str, symbol: str) -> int:
        return len(self.events[channel][symbol])


def _check_trades(venue: str, symbol: str, trades: list[tickwire.Trade]) -> None:
    ids = [t.trade_id for t in trades]
    assert len(set(ids)) == len(ids), f"{venue} {symbol}: a trade arrived twice"
    if all(i.isdigit() for i in ids):
        numbers = [int(i) for i in ids]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), f"{venue} {symbol}: trades missing or out of order"
    for trade in trades:
        assert (trade.venue, trade.symbol) == (venue, symbol)
        assert trade.price > 0 and trade.qty > 0 and trade.side in ("buy", "sell")
        assert trade.exchange_time_ns > 1_600_000_000 * 10**9
        assert 0 < trade.receive_time_ns <= time.monotonic_ns()


def _check_book(venue: str, symbol: str, updates: list[tickwire.BookUpdate]) -> None:
    if venue != "binance":  # Binance's snapshot is a REST call (the books issue); its WS has deltas
        assert updates[0].is_snapshot, f"{venue} {symbol}: the first book update is not a snapshot"
    deltas = [u for u in updates if not u.is_snapshot]
    assert deltas, f"{venue} {symbol}: no deltas"
    pairs = list(zip(updates, updates[1:]))
    if venue == "binance":
        assert all(b.first_sequence == a.last_sequence + 1 for a, b in pairs)
    elif venue == "bybit":
        assert all(b.last_sequence == a.last_sequence + 1 for a, b in pairs if not b.is_snapshot)
    elif venue == "okx":
        assert all(b.prev_sequence == a.last_sequence for a, b in pairs if not b.is_snapshot)
        assert all(u.checksum is not None for u in updates)
    elif venue == "kraken":
        assert all(u.checksum is not None for u in updates)
    for update in updates:
        for price, qty in update.bids + update.asks:
            assert price > 0 and qty >= 0


def _check_bbo(quotes: list[tickwire.BBO]) -> None:
    assert all(q.bid_price < q.ask_price and q.bid_qty > 0 and q.ask_qty > 0 for q in quotes)


@pytest.mark.parametrize("venue", sorted(SYMBOLS))
async def test_every_channel_of_every_venue_end_to_end(venue: str) -> None:
    symbols = SYMBOLS[venue]
    async with tickwire.Simulator([venue], symbols, rate=3_000, seed=7) as sim:
        feed = tickwire.Feed(urls=sim.urls(), reconnect=FAST, max_attempts=2, confirm_timeout=2.0)
        seen = Recorder(feed)
        assert feed.subscribe(venue, symbols, CHANNELS) == len(symbols) * len(CHANNELS)
        async with feed:
            await _until(
                lambda: all(seen.count(c, s) >= 20 for c in ("trades", "book") for s in symbols)
                and all(seen.count(c, s) >= 1 for c in ("bbo", "ticker") for s in symbols),
                what=f"{venue}: data on every channel",
            )
            await _until(lambda: len(feed.subscriptions(venue)) == len(symbols) * len(CHANNELS), what="confirmations")
            metrics = feed.metrics()
        assert seen.errors == []
        assert set(feed.subscriptions(venue)) == {(s, c) for s in symbols for c in CHANNELS}
        for channel in CHANNELS:
            assert set(seen.events[channel]) <= set(symbols), f"{venue}: events for a symbol not subscribed"
        for symbol in symbols:
            _check_trades(venue, symbol, seen.events["trades"][symbol])
            _check_book(venue, symbol, seen.events["book"][symbol])
            _check_bbo(seen.events["bbo"][symbol])
            assert all(t.last_price is not None and t.last_price > 0 for t in seen.events["ticker"][symbol])
        for name, link in metrics["venues"].items():
            assert link["parse_errors"] == 0 and link["error_count"] == 0, (name, link)
            assert link["messages_processed"] > 0


async def test_handlers_per_symbol_are_routed_and_can_be_removed() -> None:
    async with tickwire.Simulator(["binance"], ["BTC/USDT", "ETH/USDT"], rate=3_000) as sim:
        feed = tickwire.Feed(urls=sim.urls(), reconnect=FAST)
        btc: list[tickwire.Trade] = []
        everything: list[tickwire.Trade] = []
        feed.on("trades", btc.append, venue="binance", symbol="BTC/USDT")
        feed.on_trade(everything.append)
        feed.subscribe("binance", ["BTC/USDT", "ETH/USDT"], ["trades"])
        async with feed:
            await _until(lambda: len(btc) >= 20 and any(t.symbol == "ETH/USDT" for t in everything))
            assert {t.symbol for t in btc} == {"BTC/USDT"}
            feed.on("trades", btc.append, venue="binance", symbol="ETH/USDT")
            await _until(lambda: any(t.symbol == "ETH/USDT" for t in btc))
            assert feed.off("trades", btc.append) is True, "an equal bound method is the same handler"
            assert feed.off("trades", btc.append) is False
            stopped_at = len(btc)
            seen_at = len(everything)
            await _until(lambda: len(everything) >= seen_at + 50)
            assert len(btc) == stopped_at, "a removed handler was still called"


async def test_a_failing_strategy_does_not_stop_the_others() -> None:
    class Broken(tickwire.Strategy):
        def on_trade(self, trade: tickwire.Trade) -> None:
            raise RuntimeError("strategy bug")

    class Counting(tickwire.Strategy):
        def __init__(self) -> None:
            self.trades = 0

        def on_trade(self, trade: tickwire.Trade) -> None:
            self.trades += 1

    async with tickwire.Simulator(["okx"], ["BTC/USDT"], rate=3_000) as sim:
        feed = tickwire.Feed(urls=sim.urls(), reconnect=FAST)
        errors: list[BaseException] = []
        feed.on_error(errors.append)
        counting = Counting()
        feed.add_strategy(Broken())
        feed.add_strategy(counting)
        feed.subscribe("okx", ["BTC/USDT"], ["trades"])
        async with feed:
            await _until(lambda: counting.trades >= 30)
        assert len(errors) >= 30 and all(isinstance(e, RuntimeError) for e in errors)
        assert feed.metrics()["venues"]["okx"]["error_count"] == len(errors)


async def test_a_dropped_connection_is_reconnected_and_resubscribed() -> None:
    async with tickwire.Simulator(["kraken"], ["BTC/USD"], rate=3_000) as sim:
        feed = tickwire.Feed(urls=sim.urls(), reconnect=FAST)
        seen = Recorder(feed)
        states: list[str] = []
        feed.on_state(lambda venue, event: states.append(event.event))
        feed.subscribe("kraken", ["BTC/USD"], ["trades", "book"])
        async with feed:
            await _until(lambda: seen.count("trades", "BTC/USD") >= 10)
            assert sim.inject("kraken", "disconnect") == 1
            await _until(lambda: states.count("connected") >= 2, what="reconnected")
            after = seen.count("book", "BTC/USD")
            await _until(lambda: seen.count("book", "BTC/USD") >= after + 10, what="data after the reconnect")
            assert feed.metrics()["venues"]["kraken"]["reconnection_count"] >= 1
        snapshots = [u for u in seen.events["book"]["BTC/USD"] if u.is_snapshot]
        assert len(snapshots) >= 2, "the book was subscribed again on the new connection"


async def test_a_malformed_frame_is_reported_with_its_text_and_the_stream_goes_on() -> None:
    async with tickwire.Simulator(["bybit"], ["ETH/USDT"], rate=3_000) as sim:
        feed = tickwire.Feed(urls=sim.urls(), reconnect=FAST)
        seen = Recorder(feed)
        feed.subscribe("bybit", ["ETH/USDT"], ["trades"])
        async with feed:
            await _until(lambda: seen.count("trades", "ETH/USDT") >= 5)
            assert sim.inject("bybit", "malformed") == 1
            await _until(lambda: bool(seen.errors), what="the parse error")
            before = seen.count("trades", "ETH/USDT")
            await _until(lambda: seen.count("trades", "ETH/USDT") >= before + 20)
        [error] = seen.errors
        assert isinstance(error, tickwire.ParseError) and error.venue == "bybit" and error.raw
        assert error.url == sim.url("bybit")
        assert feed.metrics()["venues"]["bybit"]["parse_errors"] == 1


async def test_venue_pings_keep_the_feed_connected_where_a_silent_client_is_dropped() -> None:
    # Bybit drops a client that sends nothing for 10 minutes; scaled to 3 s here.
    async with tickwire.Simulator(["bybit"], ["BTC/USDT"], rate=500, heartbeat_scale=0.005) as sim:
        feed = tickwire.Feed(urls=sim.urls(), reconnect=FAST, app_ping_interval=0.5)
        seen = Recorder(feed)
        feed.subscribe("bybit", ["BTC/USDT"], ["trades"])
        async with feed, connect(sim.url("bybit"), ping_interval=None) as silent:
            await silent.send('{"op":"subscribe","args":["publicTrade.BTCUSDT"]}')
            started = time.monotonic()
            with pytest.raises(ConnectionClosed):
                while time.monotonic() - started < LIMIT:  # bounded: the venue closes it first
                    await asyncio.wait_for(silent.recv(), LIMIT)
            dropped_after = time.monotonic() - started
            assert 2.0 < dropped_after < 8.0, dropped_after
            count = seen.count("trades", "BTC/USDT")
            await _until(lambda: seen.count("trades", "BTC/USDT") > count + 10)
            assert feed.metrics()["venues"]["bybit"]["reconnection_count"] == 0
            assert feed.metrics()["venues"]["bybit"]["pongs"] >= 5
        assert sim.stats()["bybit"]["heartbeat_disconnects"] == 1


async def test_unknown_venues_symbols_and_urls_are_refused_clearly() -> None:
    feed = tickwire.Feed()
    with pytest.raises(ValueError, match="unknown venue 'bitmex'"):
        feed.subscribe("bitmex", ["BTC/USDT"])
    with pytest.raises(ValueError, match="NOTASYMBOL"):
        feed.subscribe("binance", ["NOTASYMBOL"])
    with pytest.raises(ValueError, match="unknown channel"):
        feed.subscribe("binance", ["BTC/USDT"], ["candles"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"no venue is named \[.bitmex.\]"):
        tickwire.Feed(urls={"bitmex": "ws://127.0.0.1:1/"})


async def test_subscriptions_beyond_a_connections_limit_go_on_another_connection() -> None:
    # OKX takes fewer than 30 channel subscriptions per connection.
    symbols = [f"{base}/USDT" for base in ("BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "DOT", "LTC", "BCH", "LINK", "TRX", "AVAX", "ATOM", "UNI", "XLM")]
    async with tickwire.Simulator(["okx"], symbols, rate=5_000) as sim:
        feed = tickwire.Feed(urls=sim.urls(), reconnect=FAST)
        seen = Recorder(feed)
        assert feed.subscribe("okx", symbols, ["trades", "ticker"]) == 30
        async with feed:
            await _until(lambda: len(feed.subscriptions("okx")) == 30, what="every subscription confirmed")
            await _until(lambda: all(seen.count("trades", s) >= 1 for s in symbols), what="trades of every symbol")
            assert sorted(name for name in feed.metrics()["venues"]) == ["okx", "okx#2"]
            assert feed.is_connected("okx")
            assert sim.stats()["okx"]["clients_connected"] == 2
            assert feed.unsubscribe("okx", symbols[-1:], ["trades", "ticker"]) == 2
            await _until(lambda: len(feed.subscriptions("okx")) == 28, what="the venue confirming the cancellation")
            stopped_at = seen.count("trades", symbols[-1])
            others_at = seen.count("trades", "BTC/USDT")
            await _until(lambda: seen.count("trades", "BTC/USDT") >= others_at + 20)
            assert seen.count("trades", symbols[-1]) == stopped_at, "trades of a cancelled symbol still arrive"
            assert feed.subscribe("okx", ["BTC/USDT"], ["trades"]) == 0, "already held by a connection"
        assert seen.errors == []


async def test_async_iteration_over_a_feed_of_built_in_venues() -> None:
    async with tickwire.Simulator(["coinbase"], ["BTC/USD"], rate=2_000) as sim:
        feed = tickwire.Feed(urls=sim.urls(), reconnect=FAST)
        feed.subscribe("coinbase", ["BTC/USD"], ["trades", "ticker"])
        kinds: collections.Counter[str] = collections.Counter()
        async with feed, asyncio.timeout(LIMIT):
            async for event in feed:
                kinds[type(event).__name__] += 1
                assert getattr(event, "venue") == "coinbase" and getattr(event, "symbol") == "BTC/USD"
                if kinds["Trade"] >= 20 and kinds["Ticker"] >= 1:
                    break
        assert set(kinds) <= {"Trade", "Ticker"}, "only what was subscribed (no BBO from the ticker channel)"


async def test_a_discarded_feed_is_freed_though_its_handlers_refer_to_it() -> None:
    import gc
    import weakref

    async with tickwire.Simulator(["binance"], ["BTC/USDT"], rate=1_000) as sim:
        feed = tickwire.Feed(urls=sim.urls(), reconnect=FAST)
        seen = Recorder(feed)
        feed.on("trades", lambda trade: feed.metrics(), venue="binance", symbol="BTC/USDT")
        feed.subscribe("binance", ["BTC/USDT"], ["trades"])
        async with feed:
            await _until(lambda: seen.count("trades", "BTC/USDT") >= 5)
        freed = weakref.ref(feed)
        del feed, seen
        for _ in range(3):  # bounded: a few collections and loop turns
            gc.collect()
            await asyncio.sleep(0.05)
        assert freed() is None, "a cycle through the Rust handler tables kept the feed alive"
