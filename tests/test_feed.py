"""The feed with a venue written in Python against a toy exchange (a real WebSocket server):
batched subscriptions with confirmations, retries and reported refusals, resubscription to
exactly the active set after a reconnect, strategies isolated from each other, metrics."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterable
from typing import Any

import msgspec
import pytest
from websockets.asyncio.server import ServerConnection

import tickwire

from servers import WsServer

FAST = tickwire.ReconnectPolicy(initial_delay=0.05, max_delay=0.2, jitter=0.0)


class ToyVenue(tickwire.Venue):
    """Requests: {"op", "id", "args": ["channel:SYMBOL"]}; answers: {"ack": id[, "error"]};
    trades: {"t": "trade", "s", "p", "q", "side", "id", "ts"}."""

    name = "toy"
    batch_size = 200
    requests_per_second = 1000.0
    burst = 100
    confirm_timeout = 0.5
    retry_delay = 0.05
    max_attempts = 2

    def __init__(self, url: str) -> None:
        self.url = url

    def subscribe_request(self, request_id: int, subscriptions: list[tickwire.Subscription]) -> str:
        return json.dumps({"op": "subscribe", "id": request_id, "args": [f"{c}:{s}" for s, c in subscriptions]})

    def unsubscribe_request(self, request_id: int, subscriptions: list[tickwire.Subscription]) -> str:
        return json.dumps({"op": "unsubscribe", "id": request_id, "args": [f"{c}:{s}" for s, c in subscriptions]})

    def parse(self, message: str | bytes, receive_time_ns: int) -> Iterable[object]:
        data = msgspec.json.decode(message)
        if "ack" in data:
            return [tickwire.Ack(data["ack"], data.get("error"))]
        if data.get("t") == "trade":
            return [
                tickwire.Trade(
                    venue=self.name,
                    symbol=data["s"],
                    price=data["p"],
                    qty=data["q"],
                    side=data["side"],
                    trade_id=data["id"],
                    exchange_time_ns=data["ts"],
                    receive_time_ns=receive_time_ns,
                )
            ]
        return []


class ToyExchange:
    """A toy exchange: acknowledges requests (refusing those naming a symbol in ``refuse``
    always, and those naming one in ``refuse_once`` the first time), then streams one trade per
    subscribed symbol every 20 ms. Records every request per connection."""

    def __init__(
        self,
        port: int = 0,
        refuse: frozenset[str] = frozenset(),
        refuse_once: frozenset[str] = frozenset(),
        answer: bool = True,
    ):
        self.answer = answer
        self.requests: list[list[dict[str, Any]]] = []
        self.refuse = refuse
        self.refuse_once = set(refuse_once)
        self.server = WsServer(self.handle, port=port)

    async def handle(self, ws: ServerConnection) -> None:
        requests: list[dict[str, Any]] = []
        self.requests.append(requests)
        active: set[str] = set()

        async def stream() -> None:
            n = 0
            while True:
                for arg in sorted(active):
                    n += 1
                    symbol = arg.split(":", 1)[1]
                    trade = {"t": "trade", "s": symbol, "p": "1.5", "q": "2", "side": "buy", "id": str(n), "ts": n}
                    await ws.send(json.dumps(trade))
                await asyncio.sleep(0.02)

        streaming = asyncio.get_running_loop().create_task(stream())
        try:
            async for raw in ws:
                request = json.loads(raw)
                requests.append(request)
                if not self.answer:
                    continue
                symbols = {arg.split(":", 1)[1] for arg in request["args"]}
                refused = symbols & self.refuse or symbols & self.refuse_once
                if refused:
                    self.refuse_once -= refused
                    await ws.send(json.dumps({"ack": request["id"], "error": f"unknown symbol {sorted(refused)[0]}"}))
                    continue
                if request["op"] == "subscribe":
                    active.update(request["args"])
                else:
                    active.difference_update(request["args"])
                await ws.send(json.dumps({"ack": request["id"]}))
        finally:
            streaming.cancel()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _until(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_five_hundred_symbols_subscribe_in_confirmed_batches_without_duplicates() -> None:
    exchange = ToyExchange()
    async with exchange.server as server:
        venue = ToyVenue(server.url)
        feed = tickwire.Feed(reconnect=FAST)
        symbols = [f"S{i:03d}/USDT" for i in range(500)]
        assert feed.subscribe(venue, symbols) == 500
        async with feed:
            await _until(lambda: len(feed.subscriptions(venue)) == 500)
            assert feed.subscribe(venue, symbols[:10]) == 0  # already active: nothing asked again
            await asyncio.sleep(0.1)
    requests = exchange.requests[0]
    assert [len(r["args"]) for r in requests] == [200, 200, 100]
    args = [arg for r in requests for arg in r["args"]]
    assert len(args) == len(set(args)) == 500
    assert {r["op"] for r in requests} == {"subscribe"}


async def test_a_refused_batch_is_retried_and_then_reported() -> None:
    exchange = ToyExchange(refuse=frozenset({"BAD/USDT"}), refuse_once=frozenset({"FLAKY/USDT"}))
    errors: list[Exception] = []
    async with exchange.server as server:
        venue = ToyVenue(server.url)
        feed = tickwire.Feed(reconnect=FAST)
        feed.on_error(errors.append)
        feed.subscribe(venue, ["FLAKY/USDT"])
        async with feed:
            await _until(lambda: feed.subscriptions(venue) == [("FLAKY/USDT", "trades")])
            feed.subscribe(venue, ["BAD/USDT"])
            await _until(lambda: bool(errors))
    failure = errors[0]
    assert isinstance(failure, tickwire.SubscriptionError)
    assert failure.subscriptions == [("BAD/USDT", "trades")]
    assert failure.attempts == 2 and "unknown symbol BAD/USDT" in failure.reason
    flaky = [r for r in exchange.requests[0] if "trades:FLAKY/USDT" in r["args"]]
    assert len(flaky) == 2, "refused once, then retried and confirmed"
    assert feed.metrics()["venues"]["toy"]["error_count"] == 1


async def test_after_a_reconnect_exactly_the_active_set_is_resubscribed() -> None:
    port = _free_port()
    first = ToyExchange(port)
    trades: list[tickwire.Trade] = []
    states: list[str] = []
    feed = tickwire.Feed(reconnect=FAST)
    venue = ToyVenue(f"ws://127.0.0.1:{port}/")
    feed.on_trade(trades.append)
    feed.on_state(lambda name, event: states.append(f"{name}:{event.event}"))
    feed.subscribe(venue, ["A/USDT", "B/USDT", "C/USDT"])
    async with first.server:
        async with asyncio.timeout(20):
            await feed.start()
            await _until(lambda: len(feed.subscriptions(venue)) == 3)
            feed.unsubscribe(venue, ["B/USDT"])
            await _until(lambda: len(feed.subscriptions(venue)) == 2)
    # The first exchange is gone (its connections closed); a new one takes the port.
    second = ToyExchange(port)
    async with second.server:
        await _until(lambda: bool(second.requests) and feed.is_connected(venue))
        await _until(lambda: any(t.symbol == "C/USDT" and t.trade_id == "2" for t in trades[-10:]))
        await feed.stop()
    resent = [arg for r in second.requests[0] for arg in r["args"]]
    assert sorted(resent) == ["trades:A/USDT", "trades:C/USDT"]
    assert {r["op"] for r in second.requests[0]} == {"subscribe"}
    assert "toy:disconnected" in states and states.count("toy:connected") == 2
    assert feed.metrics()["venues"]["toy"]["reconnection_count"] >= 1


class Recorder(tickwire.Strategy):
    def __init__(self) -> None:
        self.started = False
        self.stopped = False
        self.trades: list[tickwire.Trade] = []

    def on_start(self, feed: tickwire.Feed) -> None:
        self.started = True

    def on_stop(self) -> None:
        self.stopped = True

    def on_trade(self, trade: tickwire.Trade) -> None:
        self.trades.append(trade)


class Faulty(Recorder):
    def on_trade(self, trade: tickwire.Trade) -> None:
        super().on_trade(trade)
        raise ZeroDivisionError("strategy bug")


async def test_a_failing_strategy_does_not_stop_the_others_and_metrics_add_up() -> None:
    exchange = ToyExchange()
    errors: list[Exception] = []
    good, bad = Recorder(), Faulty()
    async with exchange.server as server:
        venue = ToyVenue(server.url)
        feed = tickwire.Feed(reconnect=FAST)
        feed.on_error(errors.append)
        feed.add_strategy(bad)
        feed.add_strategy(good)
        feed.subscribe(venue, ["A/USDT"])
        async with feed:
            await _until(lambda: len(good.trades) >= 20)
            metrics, errors_then = feed.metrics(), len(errors)  # read together: no await between
    assert good.started and good.stopped and bad.started and bad.stopped
    assert len(bad.trades) >= len(good.trades) - 1
    assert errors and all(isinstance(e, ZeroDivisionError) for e in errors)
    toy = metrics["venues"]["toy"]
    # Events delivered, as for a built-in venue: every trade the good strategy saw, at least.
    assert toy["messages_processed"] >= len(good.trades) >= 20
    assert toy["error_count"] == errors_then
    assert 0 < toy["p50_ns"] <= toy["p99_ns"] <= toy["max_ns"]
    assert 0.0 <= toy["sub_1ms_share"] <= 1.0
    assert metrics["total"]["messages_processed"] == toy["messages_processed"]
    # Rates after the stop cover the time the feed ran: about 50 messages/s here, not an
    # absurd figure from a zero-length span.
    after = feed.metrics()["venues"]["toy"]
    assert 5 < after["messages_per_second"] < 5_000, after["messages_per_second"]


async def test_unknown_channels_are_refused() -> None:
    feed = tickwire.Feed()
    with pytest.raises(ValueError, match="unknown channel"):
        feed.subscribe(ToyVenue("ws://127.0.0.1:1/"), ["A/USDT"], ["candles"])  # type: ignore[list-item]


async def test_a_venue_application_ping_is_sent_while_connected() -> None:
    pings: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            if raw == "ping":
                pings.append(raw)
                await ws.send("pong")

    class PingingVenue(ToyVenue):
        app_ping_interval = 0.05

        def app_ping(self) -> str:
            return "ping"

        def parse(self, message: str | bytes, receive_time_ns: int) -> Iterable[object]:
            return [] if message == "pong" else super().parse(message, receive_time_ns)

    async with WsServer(handler) as server:
        feed = tickwire.Feed(reconnect=FAST)
        venue = PingingVenue(server.url)
        feed.add_venue(venue)  # no subscriptions: it still connects and pings
        async with feed:
            await _until(lambda: len(pings) >= 3)
            parsed = feed.metrics()["venues"]["toy"]["messages_parsed"]
    assert parsed >= 2  # the pongs reached parse()


async def test_async_iteration_yields_events_and_reports_what_it_missed() -> None:
    exchange = ToyExchange()
    async with exchange.server as server:
        venue = ToyVenue(server.url)
        feed = tickwire.Feed(reconnect=FAST)
        feed.subscribe(venue, ["A/USDT", "B/USDT"])
        seen: list[object] = []
        slow = feed.events(max_pending=5)
        async with feed:
            async for event in feed:
                seen.append(event)
                if len(seen) == 20:
                    break
            await asyncio.sleep(0.3)  # `slow` is not read meanwhile: it keeps 5, drops the rest
            first = [await anext(slow) for _ in range(6)]
        # After the feed stops, iteration ends once what was kept is read.
        rest = [event async for event in slow]
    assert all(isinstance(event, tickwire.Trade) for event in seen)
    assert {event.symbol for event in seen} == {"A/USDT", "B/USDT"}  # type: ignore[attr-defined]
    assert all(isinstance(event, tickwire.Trade) for event in first[:5])
    assert isinstance(first[5], tickwire.Lagged) and first[5].dropped > 0
    assert all(isinstance(event, (tickwire.Trade, tickwire.Lagged)) for event in rest)


async def test_an_outage_longer_than_the_retries_loses_no_subscription() -> None:
    port = _free_port()
    errors: list[Exception] = []
    feed = tickwire.Feed(reconnect=FAST)
    feed.on_error(errors.append)
    venue = ToyVenue(f"ws://127.0.0.1:{port}/")
    feed.subscribe(venue, ["A/USDT"])
    mute = ToyExchange(port, answer=False)  # takes the request, never answers
    async with mute.server:
        await feed.start()
        await _until(lambda: bool(mute.requests and mute.requests[0]))
    # Down for longer than confirm_timeout x max_attempts: nothing may time out meanwhile, and
    # the feed must wait for the reconnect rather than spin on requests it cannot send.
    cpu_before = time.process_time()
    await asyncio.sleep(1.5)
    outage_cpu = time.process_time() - cpu_before
    healthy = ToyExchange(port)
    async with healthy.server:
        await _until(lambda: feed.subscriptions(venue) == [("A/USDT", "trades")])
        await feed.stop()
    assert errors == []
    assert [r["args"] for r in healthy.requests[0]] == [["trades:A/USDT"]]
    assert outage_cpu < 0.5, f"{outage_cpu:.2f} s of CPU while disconnected for 1.5 s"
