"""tickwire.Client against the real broadcast server, over loopback.

Connection losses are made by :class:`FlakyLink`, a TCP relay the test cuts: the server sees its
client vanish as on a real network and keeps its sequence numbers, which is what ``Resume`` is
for. A restart is a stopped server and a new one on the same port. Peers that must send what the
real server never would (messages not of the protocol), or in timings it seldom shows, are
scripted ``websockets`` servers from ``servers.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from servers import WsServer, refused_port
from tickwire import Server
from tickwire.exceptions import ConnectionClosed, HandshakeError
from tickwire.protocol import (
    Connected,
    MarketData,
    Pong,
    Resumed,
    ResyncRequired,
    ServerMessage,
    SubscriptionConfirmed,
    TradeExecuted,
)
from tickwire.server_client import Client, ClientGaveUp, ClientReconnectPolicy, ClientStateChange

pytestmark = pytest.mark.timeout(10)

HOST = "127.0.0.1"
#: Retries quick enough for tests, and slow enough that a test can act while the client is away.
QUICK = ClientReconnectPolicy(initial_delay=0.2, max_delay=0.5, max_attempts=20)


def trade(symbol: str, price: float) -> dict[str, Any]:
    """A ``TradeExecuted`` payload; tests tell trades apart by ``price``."""
    return {"symbol": symbol, "side": "BUY", "quantity": 1.0, "price": price, "timestamp": 1_700_000_000_000}


def ticker(symbol: str, price: float) -> dict[str, Any]:
    """A ``MarketData`` payload."""
    return {"symbol": symbol, "price": price, "timestamp": 1_700_000_000_000}


def publish_trade(server: Server, symbol: str, price: float) -> int:
    return server.publish("TradeExecuted", trade(symbol, price), symbol=symbol)


def publish_ticker(server: Server, symbol: str, price: float) -> int:
    return server.publish("MarketData", ticker(symbol, price), symbol=symbol)


def is_trade_at(price: float) -> Callable[[ServerMessage], bool]:
    return lambda message: isinstance(message, TradeExecuted) and message.data is not None and message.data.price == price


async def read_until(client: Client, last: Callable[[ServerMessage], bool], timeout: float = 5.0) -> list[ServerMessage]:
    """The messages the client yields, up to and including the first one ``last`` accepts."""
    received: list[ServerMessage] = []
    async with asyncio.timeout(timeout):
        async for message in client:
            received.append(message)
            if last(message):
                return received
    raise AssertionError(f"iteration ended before the expected message; received {received!r}")


def trade_prices(messages: list[ServerMessage]) -> list[float]:
    return [message.data.price for message in messages if isinstance(message, TradeExecuted) and message.data]


class FlakyLink:
    """A loopback TCP relay to ``port`` that fails as a network does: :meth:`cut` resets its
    connections (nothing is closed politely) and resets new ones until :meth:`restore`, so a
    test decides when a reconnecting client gets through."""

    def __init__(self, port: int) -> None:
        self._target_port = port
        self._listener: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._relays: set[asyncio.Task[Any]] = set()
        self._down = False
        self.port = 0

    @property
    def ws_url(self) -> str:
        """The server's WebSocket URL, through the relay."""
        return f"ws://{HOST}:{self.port}/ws"

    async def __aenter__(self) -> FlakyLink:
        self._listener = await asyncio.start_server(self._relay, HOST, 0)
        self.port = self._listener.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        assert self._listener is not None
        self._listener.close()
        self.cut()
        if self._relays:
            await asyncio.wait(self._relays)
        await self._listener.wait_closed()

    def cut(self) -> None:
        """Reset every connection relayed so far, and every new one until :meth:`restore`."""
        self._down = True
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        """Relay new connections again."""
        self._down = False

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._down:
            client_writer.transport.abort()
            return
        relay = asyncio.current_task()
        assert relay is not None
        self._relays.add(relay)
        try:
            server_reader, server_writer = await asyncio.open_connection(HOST, self._target_port)
        except OSError:
            client_writer.transport.abort()
            self._relays.discard(relay)
            return
        self._writers += [client_writer, server_writer]
        await asyncio.gather(_pump(client_reader, server_writer), _pump(server_reader, client_writer))
        self._relays.discard(relay)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65_536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with Server(host=HOST, port=0) as running:
        yield running


# ---- the reconnect policy ------------------------------------------------------------------


def test_default_policy_is_the_dashboards() -> None:
    policy = ClientReconnectPolicy()
    assert [policy.delay(attempt) for attempt in range(1, 7)] == [5.0, 10.0, 20.0, 30.0, 30.0, 30.0]
    assert policy.allows(10)
    assert not policy.allows(11)


def test_policy_delay_never_overflows() -> None:
    policy = ClientReconnectPolicy(backoff_factor=10.0, max_attempts=None)
    assert policy.delay(100_000) == 30.0
    assert policy.allows(100_000)


@pytest.mark.parametrize(
    "options",
    [{"initial_delay": -1.0}, {"max_delay": -1.0}, {"backoff_factor": 0.5}, {"max_attempts": -1}],
)
def test_policy_refuses_nonsense(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ClientReconnectPolicy(**options)


def test_channels_are_checked_before_any_connection() -> None:
    with pytest.raises(TypeError, match="not a string"):
        Client("ws://127.0.0.1:1/ws", channels="TradeExecuted")
    with pytest.raises(ValueError, match="unknown channel.*Trades"):
        Client("ws://127.0.0.1:1/ws", channels=["TradeExecuted", "Trades"])


# ---- receiving -----------------------------------------------------------------------------


async def test_receives_typed_messages_in_order(server: Server) -> None:
    states: list[str] = []
    client = Client(server.ws_url)
    client.on_state(lambda change: states.append(change.state))
    async with client:
        assert client.state == "connected"
        published = [
            publish_ticker(server, "BTCUSDT", 50_000.0),
            publish_trade(server, "BTCUSDT", 50_001.0),
            publish_ticker(server, "ETHUSDT", 3_000.0),
            publish_trade(server, "ETHUSDT", 3_001.0),
        ]
        received = await read_until(client, is_trade_at(3_001.0))

    assert isinstance(received[0], Connected)
    data = [message for message in received if isinstance(message, (MarketData, TradeExecuted))]
    assert [type(message) for message in data] == [MarketData, TradeExecuted, MarketData, TradeExecuted]
    assert [message.seq for message in data] == published
    assert isinstance(data[0], MarketData) and data[0].data is not None
    assert (data[0].data.symbol, data[0].data.price) == ("BTCUSDT", 50_000.0)
    assert client.last_seq == published[-1]
    assert states == ["connecting", "connected", "disconnected"]


async def test_subscription_filters_by_channel_and_symbol(server: Server) -> None:
    async with Client(server.ws_url, channels=["TradeExecuted"], symbols=["BTCUSDT"]) as client:
        assert client.subscription is not None
        assert client.subscription.channels == ["TradeExecuted"]
        assert client.subscription.symbols == ["BTCUSDT"]
        publish_ticker(server, "BTCUSDT", 1.0)
        publish_trade(server, "ETHUSDT", 2.0)
        publish_trade(server, "BTCUSDT", 3.0)
        received = await read_until(client, is_trade_at(3.0))
        assert [type(message) for message in received] == [Connected, SubscriptionConfirmed, TradeExecuted]

        confirmed = await client.subscribe(channels=["MarketData"], timeout=5.0)
        assert confirmed.data is not None
        assert sorted(confirmed.data.channels) == ["MarketData", "TradeExecuted"]
        publish_ticker(server, "ETHUSDT", 4.0)
        publish_ticker(server, "BTCUSDT", 5.0)
        received = await read_until(client, lambda message: isinstance(message, MarketData))
        market = [message for message in received if isinstance(message, MarketData)]
        assert market[0].data is not None and market[0].data.price == 5.0

        await client.unsubscribe(channels=["TradeExecuted"], timeout=5.0)
        publish_trade(server, "BTCUSDT", 6.0)
        publish_ticker(server, "BTCUSDT", 7.0)
        received = await read_until(client, lambda message: isinstance(message, MarketData))
        assert trade_prices(received) == []


async def test_nothing_is_dropped_when_the_reader_falls_behind(server: Server) -> None:
    async with Client(server.ws_url, channels=["TradeExecuted"], max_queue=4) as client:
        prices = [float(price) for price in range(200)]
        for price in prices:
            publish_trade(server, "BTCUSDT", price)
        await asyncio.sleep(0.2)  # the client's queue fills and it stops reading meanwhile
        received = await read_until(client, is_trade_at(prices[-1]))
    assert trade_prices(received) == prices


async def test_ping_measures_the_round_trip(server: Server) -> None:
    async with Client(server.ws_url) as client:
        round_trips = [await client.ping(timeout=5.0) for _ in range(3)]
        publish_trade(server, "BTCUSDT", 1.0)
        received = await read_until(client, is_trade_at(1.0))
    assert all(0.0 < seconds < 1.0 for seconds in round_trips)
    assert not any(isinstance(message, Pong) for message in received)


async def test_requests_need_a_connection(server: Server) -> None:
    client = Client(server.ws_url)
    with pytest.raises(ConnectionClosed):
        await client.ping()
    with pytest.raises(RuntimeError, match="connect"):
        await anext(client)
    await client.connect()
    await client.close()
    with pytest.raises(ConnectionClosed):
        await client.subscribe(channels=["MarketData"])
    with pytest.raises(RuntimeError, match="once"):
        await client.connect()


async def test_close_ends_iteration(server: Server) -> None:
    client = Client(server.ws_url)
    await client.connect()
    received: list[ServerMessage] = []

    async def read_all() -> None:
        async for message in client:
            received.append(message)

    reader = asyncio.create_task(read_all())
    await asyncio.sleep(0.1)
    await client.close()
    await asyncio.wait_for(reader, 2.0)
    assert isinstance(received[0], Connected)


# ---- losing the connection -----------------------------------------------------------------


async def test_resumes_with_exactly_the_critical_messages_missed(server: Server) -> None:
    async with FlakyLink(server.port) as link:
        states: list[ClientStateChange] = []
        away = asyncio.Event()

        def on_state(change: ClientStateChange) -> None:
            states.append(change)
            if change.state == "reconnecting":
                away.set()

        client = Client(link.ws_url, channels=["TradeExecuted", "MarketData"], reconnect=QUICK)
        client.on_state(on_state)
        async with client:
            publish_trade(server, "BTCUSDT", 1.0)
            before = await read_until(client, is_trade_at(1.0))
            link.cut()
            await asyncio.wait_for(away.wait(), 2.0)
            missed = [publish_trade(server, "BTCUSDT", 2.0), publish_trade(server, "ETHUSDT", 3.0)]
            publish_ticker(server, "BTCUSDT", 100.0)  # market data is not replayed
            link.restore()
            after = await read_until(client, lambda message: isinstance(message, Resumed))
            publish_trade(server, "BTCUSDT", 4.0)
            after += await read_until(client, is_trade_at(4.0))

    assert trade_prices(before) == [1.0]
    assert trade_prices(after) == [2.0, 3.0, 4.0]
    replayed = [message.seq for message in after if isinstance(message, TradeExecuted)][:2]
    assert replayed == missed
    assert not any(isinstance(message, MarketData) for message in after)
    resumed = next(message for message in after if isinstance(message, Resumed))
    assert resumed.data is not None and resumed.data.replayed == 2
    assert sum(isinstance(message, Connected) for message in after) == 1
    names = [change.state for change in states]
    assert names[:3] == ["connecting", "connected", "reconnecting"]
    assert names[-2:] == ["connected", "disconnected"] and names.count("connected") == 2
    assert states[2].attempt == 1 and states[2].delay == QUICK.initial_delay
    assert isinstance(states[2].error, ConnectionClosed)
    assert not client.resync_required


async def test_reports_a_resync_when_the_history_no_longer_reaches_back() -> None:
    async with Server(host=HOST, port=0, history=2) as small, FlakyLink(small.port) as link:
        away = asyncio.Event()
        client = Client(link.ws_url, reconnect=QUICK)
        client.on_state(lambda change: away.set() if change.state == "reconnecting" else None)
        async with client:
            publish_trade(small, "BTCUSDT", 1.0)
            await read_until(client, is_trade_at(1.0))
            link.cut()
            await asyncio.wait_for(away.wait(), 2.0)
            for price in (2.0, 3.0, 4.0, 5.0):
                publish_trade(small, "BTCUSDT", price)
            link.restore()
            received = await read_until(client, lambda message: isinstance(message, (ResyncRequired, Resumed)))
    assert isinstance(received[-1], ResyncRequired)
    assert client.resync_required


async def test_a_restarted_server_requires_a_resync() -> None:
    first = await Server(host=HOST, port=0).start()
    port = first.port
    away = asyncio.Event()
    client = Client(first.ws_url, reconnect=QUICK)
    client.on_state(lambda change: away.set() if change.state == "reconnecting" else None)
    async with client:
        try:
            last_before = [publish_trade(first, "BTCUSDT", price) for price in (1.0, 2.0, 3.0)][-1]
            await read_until(client, is_trade_at(3.0))
        finally:
            await first.stop()
        await asyncio.wait_for(away.wait(), 2.0)
        async with Server(host=HOST, port=port) as second:
            received = await read_until(client, lambda message: isinstance(message, (ResyncRequired, Resumed)))
            assert client.state == "connected"
            latest = publish_trade(second, "BTCUSDT", 11.0)
            received += await read_until(client, is_trade_at(11.0))
    assert isinstance(received[0], Connected)
    resync = received[-2]
    assert isinstance(resync, ResyncRequired) and resync.data is not None
    assert resync.data.last_seq == last_before
    assert trade_prices(received) == [11.0]
    assert client.resync_required
    assert client.last_seq == latest


async def test_gives_up_after_max_attempts(server: Server) -> None:
    states: list[ClientStateChange] = []
    policy = ClientReconnectPolicy(initial_delay=0.01, max_delay=0.02, max_attempts=3)
    url = server.ws_url
    client = Client(url, reconnect=policy)
    client.on_state(states.append)
    async with client:
        await server.stop()
        with pytest.raises(ClientGaveUp) as gave_up:
            async with asyncio.timeout(5.0):
                async for _message in client:
                    pass
        assert client.state == "disconnected"
    assert gave_up.value.attempts == 3
    assert gave_up.value.url == url
    retries = [change.attempt for change in states if change.state == "reconnecting"]
    assert retries == [1, 2, 3]
    assert states[-1].state == "disconnected" and states[-1].error is gave_up.value


async def test_connect_gives_up_on_an_unreachable_server() -> None:
    with refused_port() as port:
        client = Client(f"ws://{HOST}:{port}/ws", reconnect=ClientReconnectPolicy(initial_delay=0.01, max_attempts=2))
        with pytest.raises(ClientGaveUp) as gave_up:
            await client.connect()
    assert gave_up.value.attempts == 2
    assert isinstance(gave_up.value.__cause__, ConnectionError)
    assert client.state == "disconnected"


async def test_token_is_sent_and_kept_out_of_sight() -> None:
    async with Server(host=HOST, port=0, token="s3cret") as guarded:
        async with Client(guarded.ws_url, token="s3cret") as client:
            assert client.state == "connected"
            assert "s3cret" not in repr(client) and "s3cret" not in client.url
        # A refused token is final: no retry would change the answer.
        refused = Client(guarded.ws_url, token="wrong", reconnect=QUICK)
        with pytest.raises(ClientGaveUp) as gave_up:
            await refused.connect()
    assert gave_up.value.attempts == 0
    assert isinstance(gave_up.value.__cause__, HandshakeError)
    assert "wrong" not in str(gave_up.value)


# ---- scripted peers: timings the real server rarely shows, and what it never sends ----------

STAMP = "2026-01-01T00:00:00Z"


def connected_frame(seq: int) -> str:
    """The ``Connected`` of a server whose last number before the client joined is ``seq - 1``."""
    data = {"server": "peer", "version": "0", "client_id": 1, "heartbeat_interval": 30.0, "last_seq": seq - 1}
    return json.dumps({"type": "Connected", "seq": seq, "timestamp": STAMP, "data": data})


def trade_frame(seq: int) -> str:
    """A ``TradeExecuted`` whose price is its sequence number."""
    return json.dumps({"type": "TradeExecuted", "seq": seq, "timestamp": STAMP, "data": trade("BTCUSDT", float(seq))})


def ticker_frame(seq: int) -> str:
    return json.dumps({"type": "MarketData", "seq": seq, "timestamp": STAMP, "data": ticker("ETHUSDT", float(seq))})


async def test_resume_starts_from_the_last_critical_message_and_drops_repeats() -> None:
    """The first connection ends after market data that overtook critical message 3 (conflated in
    the server's queue); the second ends after a live critical message and part of the replay,
    before ``Resumed``; the third replays all of it again."""
    resume_points: list[int] = []
    connections = 0

    async def peer(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:
            for frame in (connected_frame(1), trade_frame(2), ticker_frame(4)):
                await ws.send(frame)
            ws.transport.abort()
            return
        await ws.send(connected_frame(6 if connections == 2 else 9))
        resume_points.append(json.loads(await ws.recv())["data"]["last_seq"])
        if connections == 2:
            for frame in (trade_frame(7), trade_frame(3)):
                await ws.send(frame)
            ws.transport.abort()
            return
        resumed = {"type": "Resumed", "seq": 10, "timestamp": STAMP, "data": {"from_seq": 2, "replayed": 2}}
        for frame in (trade_frame(3), trade_frame(7), json.dumps(resumed), trade_frame(11)):
            await ws.send(frame)
        await ws.wait_closed()

    quick = ClientReconnectPolicy(initial_delay=0.01, max_attempts=3)
    async with WsServer(peer) as peer_server, Client(peer_server.url, reconnect=quick) as client:
        received = await read_until(client, is_trade_at(11.0))
    assert resume_points == [2, 2]
    assert trade_prices(received) == [2.0, 7.0, 3.0, 11.0]
    assert client.last_seq == 11


async def test_nothing_outside_the_subscription_slips_in_before_it_is_confirmed() -> None:
    async def peer(ws: ServerConnection) -> None:
        await ws.send(connected_frame(1))
        request = json.loads(await ws.recv())
        assert request == {"type": "Subscribe", "timestamp": None, "data": {"channels": ["TradeExecuted"], "symbols": None}}
        await ws.send(ticker_frame(2))  # sent under the default subscription, before the request
        confirmed = {"channels": ["TradeExecuted"], "symbols": None, "except_symbols": []}
        await ws.send(json.dumps({"type": "SubscriptionConfirmed", "seq": 3, "timestamp": STAMP, "data": confirmed}))
        await ws.send(trade_frame(4))
        await ws.wait_closed()

    async with WsServer(peer) as peer_server, Client(peer_server.url, channels=["TradeExecuted"]) as client:
        received = await read_until(client, is_trade_at(4.0))
    assert [type(message) for message in received] == [Connected, SubscriptionConfirmed, TradeExecuted]


async def test_an_unanswered_request_does_not_take_the_next_ones_answer() -> None:
    async def peer(ws: ServerConnection) -> None:
        await ws.send(connected_frame(1))
        pings = 0
        async for _request in ws:
            pings += 1
            if pings > 1:  # the first is dropped, as a rate limit would
                await ws.send(json.dumps({"type": "Pong", "seq": 1 + pings, "timestamp": STAMP}))

    async with WsServer(peer) as peer_server, Client(peer_server.url) as client:
        with pytest.raises(TimeoutError):
            await client.ping(timeout=0.2)
        assert await client.ping(timeout=2.0) < 1.0
        assert await client.ping(timeout=2.0) < 1.0


async def test_messages_not_of_the_protocol_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    valid_trade = {"type": "TradeExecuted", "seq": 3, "timestamp": STAMP, "data": trade("BTCUSDT", 1.0)}

    async def peer(ws: ServerConnection) -> None:
        await ws.send(connected_frame(1))
        await ws.send("not json")
        await ws.send(json.dumps({"type": "NoSuchType", "seq": 2, "timestamp": STAMP}))
        await ws.send(json.dumps({**valid_trade, "data": {"symbol": "BTCUSDT"}}))
        await ws.send(json.dumps({"type": "MarketData", "timestamp": STAMP}))
        await ws.send(json.dumps(valid_trade))
        await ws.wait_closed()

    with caplog.at_level(logging.WARNING, logger="tickwire.server_client"):
        async with WsServer(peer) as peer_server, Client(peer_server.url) as client:
            received = await read_until(client, is_trade_at(1.0))
    assert [type(message) for message in received] == [Connected, TradeExecuted]
    assert client.invalid_messages == 4
    assert client.last_seq == 3
    assert len([record for record in caplog.records if "not of the protocol" in record.message]) == 4
