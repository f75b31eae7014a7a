"""Venues written in Python on the Rust core: each behaviour overridden alone changes what it
should and nothing else; books get the Rust checks; private channels, credentials and
authentication failures; a registered venue works by name.

The peer is a toy exchange (a real ``websockets`` server) whose protocol is:

- ``{"op": "login", "key", "time"}`` → ``{"login": "ok" | "refused"}`` (needed for private
  channels; the key must be ``GOOD-KEY``);
- ``{"op": "subscribe" | "unsubscribe", "id", "args": ["channel:SYMBOL", …]}`` → ``{"ack": id}``
  or ``{"ack": id, "error", "auth": true?}``;
- ``{"op": "ping"}`` → ``{"pong": true}``;
- pushes every 10 ms per subscription: trades ``{"t": "trade", …}``, books ``{"t": "book",
  "snap", "seq", "b", "a"}`` (a snapshot first, then one level per delta, ``seq`` + 1 each),
  orders ``{"t": "order", …}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.asyncio.server import ServerConnection

import tickwire
from tickwire import Credentials, CredentialsError
from tickwire.venues import register_venue

from servers import WsServer

FAST = tickwire.ReconnectPolicy(initial_delay=0.05, max_delay=0.2, jitter=0.0)


class ToyExchange:
    """The toy exchange; records per connection the upgrade headers and every request."""

    def __init__(self, *, gap_after: int | None = None, close_with: tuple[int, str] | None = None) -> None:
        self.connections: list[dict[str, Any]] = []
        self.gap_after = gap_after
        self.close_with = close_with
        self.server = WsServer(self.handle)

    async def handle(self, ws: ServerConnection) -> None:
        connection: dict[str, Any] = {"headers": {k.lower(): v for k, v in ws.request.headers.raw_items()}, "requests": [], "logged_in": False}
        self.connections.append(connection)
        active: set[str] = set()
        sequence = {"n": 0}

        async def push() -> None:
            trade_id = 0
            while True:
                for arg in sorted(active):
                    channel, symbol = arg.split(":", 1)
                    if channel == "trades":
                        trade_id += 1
                        await ws.send(json.dumps({"t": "trade", "s": symbol, "p": "100.5", "q": "0.25", "side": "sell", "id": trade_id}))
                    elif channel == "book":
                        sequence["n"] += 1
                        n = sequence["n"]
                        if self.gap_after is not None and n == self.gap_after:
                            continue  # lost on the way: the next delta does not follow on
                        price = f"{99 - n % 5}.0"
                        await ws.send(json.dumps({"t": "book", "s": symbol, "snap": False, "seq": n, "b": [[price, str(n % 3)]], "a": []}))
                    elif channel == "orders":
                        await ws.send(json.dumps({"t": "order", "s": symbol, "id": "o1", "filled": "0.5"}))
                await asyncio.sleep(0.01)

        pusher = asyncio.get_running_loop().create_task(push())
        try:
            if self.close_with is not None:
                await ws.close(*self.close_with)
                return
            async for raw in ws:
                request = json.loads(raw)
                connection["requests"].append(request)
                op = request.get("op")
                if op == "ping":
                    await ws.send(json.dumps({"pong": True}))
                elif op == "login":
                    connection["logged_in"] = request.get("key") == "GOOD-KEY"
                    await ws.send(json.dumps({"login": "ok" if connection["logged_in"] else "refused"}))
                elif op in ("subscribe", "unsubscribe"):
                    args = request["args"]
                    if any(arg.startswith("orders:") for arg in args) and not connection["logged_in"]:
                        await ws.send(json.dumps({"ack": request["id"], "error": "invalid key", "auth": True}))
                        continue
                    for arg in args:
                        if op == "unsubscribe":
                            active.discard(arg)
                            continue
                        active.add(arg)
                        channel, symbol = arg.split(":", 1)
                        if channel == "book":
                            sequence["n"] += 1
                            snapshot = {"t": "book", "s": symbol, "snap": True, "seq": sequence["n"], "b": [["99.0", "1"], ["98.0", "2"]], "a": [["101.0", "1"]]}
                            await ws.send(json.dumps({"ack": request["id"]}))
                            await ws.send(json.dumps(snapshot))
                            break
                    else:
                        await ws.send(json.dumps({"ack": request["id"]}))
        finally:
            pusher.cancel()


class _Message(msgspec.Struct, frozen=True):
    t: str = ""
    s: str = ""
    p: str = ""
    q: str = ""
    side: str = "buy"
    id: int | str = 0
    ack: int | None = None
    error: str | None = None
    auth: bool = False
    snap: bool = False
    seq: int = 0
    b: list[tuple[str, str]] = []
    a: list[tuple[str, str]] = []
    filled: str = "0"


_decode = msgspec.json.Decoder(_Message)


class ToyVenue(tickwire.PythonVenue):
    """The toy exchange's protocol with every behaviour left at its default."""

    name = "toyx"
    symbol_separator = "-"
    book_sync = "snapshot_then_next"
    private_channels = frozenset({"orders"})
    requests_per_second = 1000.0
    burst = 100
    confirm_timeout = 1.0
    retry_delay = 0.05
    max_attempts = 2

    def subscribe_request(self, request_id: int, subscriptions: list[tickwire.Subscription]) -> str:
        return json.dumps({"op": "subscribe", "id": request_id, "args": [f"{c}:{s}" for s, c in subscriptions]})

    def unsubscribe_request(self, request_id: int, subscriptions: list[tickwire.Subscription]) -> str:
        return json.dumps({"op": "unsubscribe", "id": request_id, "args": [f"{c}:{s}" for s, c in subscriptions]})

    def parse(self, message: str | bytes, receive_time_ns: int) -> Iterable[object]:
        m = _decode.decode(message)
        if m.ack is not None:
            return [tickwire.Ack(m.ack, m.error, auth_failed=m.auth)]
        if m.t == "trade":
            return [tickwire.Trade(self.name, m.s, m.p, m.q, m.side, str(m.id), 0, receive_time_ns)]
        if m.t == "book":
            return [tickwire.BookUpdate(self.name, m.s, m.snap, m.b, m.a, 0, receive_time_ns, last_sequence=m.seq)]
        if m.t == "order":
            filled = Decimal(m.filled)
            return [
                tickwire.Order(
                    venue=self.name, symbol=m.s, order_id=str(m.id), client_order_id="", side="buy", type="limit",
                    price=Decimal("100"), amount=Decimal("1"), filled=filled, left=1 - filled, status="open",
                    event="update", exchange_time_ns=0, receive_time_ns=receive_time_ns,
                )
            ]
        return []


class LogsIn(ToyVenue):
    """The toy venue with a login: its key, first on every private connection."""

    def authenticate(self) -> list[str | bytes]:
        assert self.credentials is not None
        return [json.dumps({"op": "login", "key": self.credentials.key})]


async def _until(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_the_defaults_stream_trades_through_the_rust_dispatch() -> None:
    exchange = ToyExchange()
    async with exchange.server as server:
        feed = tickwire.Feed(reconnect=FAST)
        trades: list[tickwire.Trade] = []
        routed: list[tickwire.Trade] = []
        feed.on_trade(trades.append)
        feed.subscribe(ToyVenue(url=server.url), ["BTC/USDT"], ["trades"])
        feed.on("trades", routed.append, venue="toyx", symbol="BTC/USDT")  # by market, in Rust
        async with feed:
            await _until(lambda: len(trades) >= 10)
            metrics = feed.metrics()["venues"]["toyx"]
    # The very classes the Rust venues produce, with the venue's own native spelling.
    assert type(trades[0]) is tickwire.Trade and trades[0].venue == "toyx" and trades[0].native_symbol == "BTC-USDT"
    assert trades[0].price == Decimal("100.5") and trades[0].side == "sell"
    assert routed[: len(trades)] == trades[: len(routed)] and len(routed) >= 10
    assert metrics["messages_processed"] >= 10 and metrics["messages_parsed"] > metrics["messages_processed"] - 1
    assert exchange.connections[0]["headers"].get("x-toy") is None  # no extra header by default


async def test_connection_behaviour_alone_headers_and_giving_up_on_a_revoked_key() -> None:
    class WithHeaders(ToyVenue):
        def headers(self) -> dict[str, str]:
            return {"X-Toy": "hello"}

    exchange = ToyExchange()
    async with exchange.server as server:
        feed = tickwire.Feed(reconnect=FAST)
        trades: list[tickwire.Trade] = []
        feed.on_trade(trades.append)
        feed.subscribe(WithHeaders(url=server.url), ["BTC/USDT"], ["trades"])
        async with feed:
            await _until(lambda: len(trades) >= 3)
    assert exchange.connections[0]["headers"]["x-toy"] == "hello"

    class GivesUp(ToyVenue):
        def should_reconnect(self, event: tickwire.SessionEvent) -> bool:
            return event.code != 4001

    for venue_class in (ToyVenue, GivesUp):
        revoking = ToyExchange(close_with=(4001, "key revoked"))
        async with revoking.server as server:
            feed = tickwire.Feed(reconnect=FAST)
            feed.add_venue(venue_class(url=server.url))
            async with feed:
                await asyncio.sleep(1.0)
                seen = len(revoking.connections)
                await asyncio.sleep(0.5)
                later = len(revoking.connections)
        if venue_class is ToyVenue:
            assert later > seen >= 3  # the default goes on reconnecting
        else:
            # Told not to: the session is closed. The first retry after a lost connection is
            # immediate and may already be under way when the venue is asked, so at most one
            # more connection, and none after.
            assert later == seen <= 2


async def test_authentication_behaviour_alone_logs_in_first_on_every_private_connection() -> None:
    exchange = ToyExchange()
    async with exchange.server as server:
        feed = tickwire.Feed(reconnect=FAST)
        orders: list[tickwire.Order] = []
        trades: list[tickwire.Trade] = []
        feed.on_order(orders.append)
        feed.on_trade(trades.append)
        venue = LogsIn(url=server.url, credentials=Credentials("GOOD-KEY", "s3cret"))
        feed.subscribe(venue, ["BTC/USDT"], ["orders", "trades"])
        async with feed:
            await _until(lambda: len(orders) >= 3 and len(trades) >= 3)
            # A new private connection (the old one dropped) logs in again before subscribing.
            feed._links["toyx#private"].session._core.reconnect("test")  # type: ignore[union-attr]  # noqa: SLF001
            await _until(lambda: len(exchange.connections) == 3 and exchange.connections[2]["logged_in"])
            before = len(orders)
            await _until(lambda: len(orders) > before + 2)
    private = [c for c in exchange.connections if any("orders:BTC/USDT" in r.get("args", []) for r in c["requests"])]
    public = [c for c in exchange.connections if c not in private]
    assert len(private) == 2 and len(public) == 1
    for connection in private:
        assert connection["requests"][0]["op"] == "login"
        assert all(r["op"] == "subscribe" for r in connection["requests"][1:])
    assert all(r["op"] == "subscribe" for r in public[0]["requests"])  # market data needs no login
    assert orders[0].filled == Decimal("0.5") and orders[0].left == Decimal("0.5") and orders[0].venue == "toyx"


async def test_a_refused_key_is_an_authentication_error_after_a_bounded_number_of_tries() -> None:
    exchange = ToyExchange()
    async with exchange.server as server:
        feed = tickwire.Feed(reconnect=FAST)
        errors: list[BaseException] = []
        feed.on_error(errors.append)
        feed.subscribe(LogsIn(url=server.url, credentials=Credentials("WRONG-KEY", "s3cret")), ["BTC/USDT"], ["orders"])
        async with feed:
            await _until(lambda: errors)
            await asyncio.sleep(0.5)  # no storm follows
    (error,) = errors
    assert isinstance(error, tickwire.AuthenticationError) and isinstance(error, tickwire.SubscriptionError)
    assert "invalid key" in str(error) and "WRONG-KEY" not in str(error) and "s3cret" not in str(error)
    subscribes = [r for r in exchange.connections[0]["requests"] if r["op"] == "subscribe"]
    assert len(subscribes) == ToyVenue.max_attempts and len(exchange.connections) == 1


async def test_subscription_behaviour_alone_batches_and_answer_counts() -> None:
    class OnePerMessage(ToyVenue):
        batch_size = 2

        def subscribe_request(self, request_id: int, subscriptions: list[tickwire.Subscription]) -> list[str | bytes]:
            return [json.dumps({"op": "subscribe", "id": request_id, "args": [f"{c}:{s}"]}) for s, c in subscriptions]

        def answers_expected(self, pairs: int, messages: int) -> int:
            return pairs

    exchange = ToyExchange()
    async with exchange.server as server:
        feed = tickwire.Feed(reconnect=FAST)
        venue = OnePerMessage(url=server.url)
        symbols = ["A/USDT", "B/USDT", "C/USDT", "D/USDT", "E/USDT"]
        feed.subscribe(venue, symbols, ["trades"])
        async with feed:
            await _until(lambda: len(feed.subscriptions(venue)) == 5)
    requests = exchange.connections[0]["requests"]
    assert all(len(r["args"]) == 1 for r in requests) and len(requests) == 5
    assert sorted({r["id"] for r in requests}) == [1, 2, 3]  # batches of two: 2 + 2 + 1


async def test_heartbeat_behaviour_alone_sends_the_venue_ping() -> None:
    class Pings(ToyVenue):
        app_ping_interval = 0.05

        def app_ping(self) -> str:
            return json.dumps({"op": "ping"})

    for venue_class, pings_wanted in ((ToyVenue, False), (Pings, True)):
        exchange = ToyExchange()
        async with exchange.server as server:
            feed = tickwire.Feed(reconnect=FAST)
            feed.add_venue(venue_class(url=server.url))
            async with feed:
                await asyncio.sleep(0.6)
        pings = [r for r in exchange.connections[0]["requests"] if r["op"] == "ping"]
        assert (len(pings) >= 3) if pings_wanted else pings == []


async def test_parsing_behaviour_books_are_proven_in_rust_and_resync_by_themselves() -> None:
    exchange = ToyExchange(gap_after=30)
    async with exchange.server as server:
        feed = tickwire.Feed(reconnect=FAST)
        invalid: list[tickwire.BookInvalid] = []
        updates: list[tickwire.BookUpdate] = []
        feed.on_book_invalid(invalid.append)
        feed.on_book(updates.append)
        feed.subscribe(ToyVenue(url=server.url), ["BTC/USDT"], ["book"])
        async with feed:
            await _until(lambda: invalid)
            book = feed.book("toyx", "BTC/USDT")
            await _until(lambda: book.is_valid and len(exchange.connections[0]["requests"]) >= 3)
            assert book.best_ask == (Decimal("101.0"), Decimal("1"))
            totals = feed.metrics()["venues"]["toyx"]["books"]
            (gap,) = invalid  # before the feed stops (which invalidates the book: disconnected)
    assert gap.reason == "gap" and gap.symbol == "BTC/USDT" and gap.venue == "toyx" and gap.resync == "resubscribe"
    ops = [r["op"] for r in exchange.connections[0]["requests"]]
    assert ops[:3] == ["subscribe", "unsubscribe", "subscribe"]  # resynced by resubscribing
    assert totals["gaps"] == 1 and totals["resyncs"] >= 1 and totals["valid"] == 1
    assert updates[0].is_snapshot and sum(u.is_snapshot for u in updates) == 2


async def test_a_registered_venue_works_by_name_in_feeds_and_parse() -> None:
    class Named(ToyVenue):
        name = "toynamed"

    register_venue("toynamed", Named)
    register_venue("toynamed", Named)  # again: nothing happens
    with pytest.raises(ValueError, match="already registered"):
        register_venue("toynamed", type("Other", (Named,), {}))
    with pytest.raises(ValueError, match="register it under that name"):
        register_venue("elsewhere", Named)
    with pytest.raises(TypeError):
        register_venue("toynamed", dict)  # type: ignore[arg-type]
    assert tickwire.registered_venues()["toynamed"] is Named
    (trade,) = tickwire.parse("toynamed", '{"t":"trade","s":"ETH/USDT","p":"2","q":"3","id":7}', receive_time_ns=5)
    assert isinstance(trade, tickwire.Trade) and trade.venue == "toynamed" and trade.receive_time_ns == 5
    with pytest.raises(tickwire.ParseError, match="toynamed: cannot parse"):
        tickwire.parse("toynamed", "{not json")
    exchange = ToyExchange()
    async with exchange.server as server:
        feed = tickwire.Feed(urls={"toynamed": server.url}, reconnect=FAST)
        trades: list[tickwire.Trade] = []
        feed.on_trade(trades.append)
        feed.subscribe("toynamed", ["ETH/USDT"], ["trades"])
        with pytest.raises(ValueError, match="has no private channel 'balances'"):
            feed.subscribe("toynamed", ["ETH/USDT"], ["balances"])
        async with feed:
            await _until(lambda: len(trades) >= 3)
    assert trades[0].venue == "toynamed" and trades[0].symbol == "ETH/USDT"


def test_private_channels_need_credentials_and_built_in_venues_have_none(monkeypatch: pytest.MonkeyPatch) -> None:
    feed = tickwire.Feed()
    monkeypatch.delenv("TICKWIRE_TOYX_API_KEY", raising=False)
    with pytest.raises(CredentialsError, match="TICKWIRE_TOYX_API_KEY"):
        feed.subscribe(ToyVenue(url="ws://127.0.0.1:1/"), ["BTC/USDT"], ["orders"])
    with pytest.raises(ValueError, match="built-in venue without private channels"):
        feed.subscribe("binance", ["BTC/USDT"], ["orders"])


def test_credentials_never_show_their_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKWIRE_GATEIO_API_KEY", "key-123456")
    monkeypatch.setenv("TICKWIRE_GATEIO_API_SECRET", "very-secret-value")
    credentials = Credentials.from_env("gateio")
    assert credentials.key == "key-123456" and credentials.secret_bytes() == b"very-secret-value"
    for text in (repr(credentials), str(credentials), f"{credentials}"):
        assert "very-secret" not in text and "key-123456" not in text and "3456" in text
    with pytest.raises(TypeError, match="not picklable"):
        import pickle

        pickle.dumps(credentials)
    file = tmp_path / "credentials.toml"
    file.write_text('[gateio]\napi_key = "file-key"\napi_secret = "file-secret"\n')
    os.chmod(file, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP)
    with pytest.raises(CredentialsError, match="readable by others"):
        Credentials.from_file("gateio", file)
    os.chmod(file, stat.S_IRUSR | stat.S_IWUSR)
    assert Credentials.from_file("gateio", file).key == "file-key"
    with pytest.raises(CredentialsError, match=r"no \[mexc\] table"):
        Credentials.from_file("mexc", file)
    with pytest.raises(CredentialsError, match="must both be non-empty"):
        Credentials("", "x")
