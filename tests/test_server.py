"""The broadcast server against real WebSocket clients (the ``websockets`` library) and plain
HTTP requests: protocol, subscriptions, slow clients, Resume, limits and bad input.

Every message a client receives is decoded with :func:`tickwire.protocol.decode_server`, the
protocol's one definition: a message the server writes wrong fails the test that reads it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import socket
import ssl
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trustme
import websockets
from websockets.asyncio.client import ClientConnection

import tickwire
from tickwire import protocol

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def market_data(symbol: str, price: float) -> dict[str, Any]:
    return {"symbol": symbol, "price": price, "timestamp": 1}


def trade(symbol: str, quantity: float) -> dict[str, Any]:
    return {"symbol": symbol, "side": "BUY", "quantity": quantity, "price": 100.0, "timestamp": 1}


async def receive(ws: ClientConnection, timeout: float = 5.0) -> protocol.ServerMessage:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    return protocol.decode_server(raw)


async def connect(server: tickwire.Server, query: str = "", **kwargs: Any) -> ClientConnection:
    ws = await websockets.connect(server.ws_url + query, open_timeout=5, **kwargs)
    hello = await receive(ws)
    assert isinstance(hello, protocol.Connected), hello
    return ws


async def subscribe(ws: ClientConnection, channels: list[str] | None, symbols: list[str] | None) -> protocol.SubscriptionConfirmed:
    await ws.send(json.dumps({"type": "Subscribe", "data": {"channels": channels, "symbols": symbols}}))
    confirmed = await receive(ws)
    assert isinstance(confirmed, protocol.SubscriptionConfirmed), confirmed
    return confirmed


def http_get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, Message, bytes]:
    """Status, headers (case-insensitive) and body."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback test server
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


async def test_connected_first_then_published_messages_in_sequence() -> None:
    async with asyncio.timeout(20), tickwire.Server(port=0) as server:
        ws = await websockets.connect(server.ws_url, open_timeout=5)
        hello = await receive(ws)
        assert isinstance(hello, protocol.Connected) and hello.data is not None
        assert hello.message == "WebSocket connection established"
        assert (hello.data.server, hello.data.heartbeat_interval) == ("tickwire", 30.0)
        first = server.publish("MarketData", market_data("BTCUSDT", 50250.75))
        second = server.publish("TradeExecuted", trade("BTCUSDT", 0.5))
        got = [await receive(ws), await receive(ws)]
        assert [m.seq for m in got] == [first, second] and first > hello.seq
        assert isinstance(got[0], protocol.MarketData) and got[0].data is not None
        assert got[0].data.price == 50250.75
        assert got[0].timestamp.endswith("Z") and "T" in got[0].timestamp
        await ws.send(json.dumps({"type": "Ping", "timestamp": "2025-01-01T00:00:00Z"}))
        assert isinstance(await receive(ws), protocol.Pong)
        await ws.close()


async def test_a_hundred_clients_each_get_exactly_what_they_subscribed_to_in_order() -> None:
    rng = random.Random(7)
    channels = ["MarketData", "TradeExecuted", "PositionUpdate", "BotStatusUpdate"]
    async with asyncio.timeout(60), tickwire.Server(port=0) as server:
        clients = []
        for _ in range(100):
            ws = await connect(server)
            wanted_channels = rng.sample(channels, rng.randint(1, len(channels))) if rng.random() < 0.8 else None
            wanted_symbols = rng.sample(SYMBOLS, rng.randint(1, len(SYMBOLS))) if rng.random() < 0.8 else None
            await subscribe(ws, wanted_channels, wanted_symbols)
            clients.append((ws, wanted_channels, wanted_symbols))
        published: list[tuple[int, str, str | None]] = []
        for index in range(300):
            kind = channels[index % len(channels)]
            symbol = SYMBOLS[index % len(SYMBOLS)]
            if kind == "MarketData":
                seq = server.publish(kind, market_data(symbol, 100 + index))
            elif kind == "TradeExecuted":
                seq = server.publish(kind, trade(symbol, index))
            elif kind == "PositionUpdate":
                data = {"symbol": symbol, "side": "LONG", "pnl": 1.0, "current_price": 2.0, "unrealized_pnl": 3.0, "timestamp": 4}
                seq = server.publish(kind, data)
            else:
                seq = server.publish(kind, {"status": "running", "active_positions": 1, "total_pnl": 2.0, "total_trades": 3, "uptime": 4.0})
                symbol = None  # type: ignore[assignment]
            published.append((seq, kind, symbol if kind != "BotStatusUpdate" else None))

        async def check(ws: ClientConnection, wanted_channels: list[str] | None, wanted_symbols: list[str] | None) -> None:
            expected = [
                seq
                for seq, kind, symbol in published
                if (wanted_channels is None or kind in wanted_channels)
                and (symbol is None or wanted_symbols is None or symbol in wanted_symbols)
            ]
            got = [(await receive(ws, 10)).seq for _ in expected]
            assert got == expected
            # And nothing more: a Ping's Pong comes next.
            await ws.send(json.dumps({"type": "Ping"}))
            assert isinstance(await receive(ws), protocol.Pong)

        await asyncio.gather(*(check(*client) for client in clients))
        assert server.metrics()["connections_active"] == 100
        await asyncio.gather(*(ws.close() for ws, _, _ in clients))


async def test_unsubscribe_and_symbol_exclusion() -> None:
    async with asyncio.timeout(20), tickwire.Server(port=0) as server:
        ws = await connect(server)
        await ws.send(json.dumps({"type": "Unsubscribe", "data": {"symbols": ["ETHUSDT"], "channels": ["BotStatusUpdate"]}}))
        confirmed = await receive(ws)
        assert isinstance(confirmed, protocol.SubscriptionConfirmed) and confirmed.data is not None
        assert confirmed.data.symbols is None and confirmed.data.except_symbols == ["ETHUSDT"]
        assert "BotStatusUpdate" not in confirmed.data.channels and "MarketData" in confirmed.data.channels
        server.publish("MarketData", market_data("ETHUSDT", 1))
        kept = server.publish("MarketData", market_data("BTCUSDT", 1))
        assert (await receive(ws)).seq == kept
        await ws.send(json.dumps({"type": "Subscribe", "data": {"channels": ["Nope"]}}))
        error = await receive(ws)
        assert isinstance(error, protocol.Error) and error.data is not None and error.data.code == "INVALID_CHANNEL"
        await ws.close()


async def test_bad_input_gets_a_clear_reply_and_the_connection_stays() -> None:
    async with asyncio.timeout(20), tickwire.Server(port=0) as server:
        ws = await connect(server)
        other = await connect(server)
        await ws.send("{not json")
        error = await receive(ws)
        assert isinstance(error, protocol.Error) and error.data is not None and error.data.code == "INVALID_JSON"
        await ws.send(json.dumps({"type": "Resume", "data": {"last_seq": "x"}}))
        error = await receive(ws)
        assert isinstance(error, protocol.Error) and error.data is not None and error.data.code == "INVALID_MESSAGE"
        await ws.send(json.dumps({"type": "SomethingNew", "data": {}}))  # ignored, with a warning in the log
        await ws.send(json.dumps({"type": "Ping"}))
        assert isinstance(await receive(ws), protocol.Pong), "the unknown type got no reply, the connection stays"
        seq = server.publish("MarketData", market_data("BTCUSDT", 1))
        assert (await receive(other)).seq == seq, "other clients unaffected"
        assert server.metrics()["parse_errors"] == 2
        await asyncio.gather(ws.close(), other.close())


async def test_an_oversized_message_closes_with_1009_and_a_flood_is_rate_limited() -> None:
    async with asyncio.timeout(20), tickwire.Server(port=0, max_message_size=1024, client_rate=5, client_burst=5) as server:
        ws = await connect(server, max_size=None)
        await ws.send(json.dumps({"type": "Ping", "pad": "x" * 2000}))
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await receive(ws)
        assert ws.close_code == 1009
        flooder = await connect(server)
        for _ in range(20):
            await flooder.send(json.dumps({"type": "Ping"}))
        replies = []
        with pytest.raises(TimeoutError):
            while True:
                replies.append(await receive(flooder, 0.5))
        pongs = sum(isinstance(m, protocol.Pong) for m in replies)
        limited = [m for m in replies if isinstance(m, protocol.Error) and m.data is not None and m.data.code == "RATE_LIMITED"]
        assert pongs <= 6 and len(limited) == 1, replies
        assert server.metrics()["rate_limited"] >= 14
        await flooder.close()


async def test_invalid_utf8_closes_with_1007() -> None:
    async with asyncio.timeout(20), tickwire.Server(port=0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        payload = b"\xff\xfe"
        mask = os.urandom(4)
        writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        await writer.drain()
        data = await asyncio.wait_for(reader.read(65536), 5)
        while not data.endswith(b"") or b"\x88" not in data:
            more = await asyncio.wait_for(reader.read(65536), 5)
            if not more:
                break
            data += more
        close = data[data.index(b"\x88") :]
        assert int.from_bytes(close[2:4], "big") == 1007, close
        writer.close()


async def test_token_origin_and_connection_limit_are_checked_before_the_upgrade() -> None:
    async with asyncio.timeout(20), tickwire.Server(port=0, token="s3cret", max_connections=2) as server:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(server.ws_url, open_timeout=5)
        assert refused.value.response.status_code == 401
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(server.ws_url + "?token=wrong", open_timeout=5)
        assert refused.value.response.status_code == 401
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(server.ws_url + "?token=s3cret", origin="https://evil.example", open_timeout=5)  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        page = await connect(server, "?token=s3cret", origin=f"http://127.0.0.1:{server.port}")  # type: ignore[arg-type]
        bearer = await connect(server, additional_headers={"Authorization": "Bearer s3cret"})
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(server.ws_url + "?token=s3cret", open_timeout=5)
        assert refused.value.response.status_code == 503
        assert b"too many connections" in refused.value.response.body  # type: ignore[operator]
        assert server.metrics()["connections_refused"] == 4
        await asyncio.gather(page.close(), bearer.close())


async def test_http_routes_health_metrics_config_and_cors() -> None:
    async with asyncio.timeout(20), tickwire.Server(port=0) as server:
        status, headers, body = await asyncio.to_thread(http_get, server.url + "/health")
        health = json.loads(body)
        assert status == 200 and health["status"] == "ok" and health["connections"] == 0
        server.publish("MarketData", market_data("BTCUSDT", 1))
        status, headers, body = await asyncio.to_thread(http_get, server.url + "/metrics")
        assert status == 200 and headers.get("Content-Type", "").startswith("application/openmetrics-text")
        text = body.decode()
        for name in ("tickwire_server_connections_active", "tickwire_server_messages_published_total", "tickwire_server_broadcast_latency_seconds_bucket", "tickwire_server_message_size_bytes_count"):
            assert name in text, name
        assert "tickwire_server_messages_published_total 1" in text
        status, _, body = await asyncio.to_thread(http_get, server.url + "/config.json")
        assert json.loads(body) == {"ws_url": f"ws://127.0.0.1:{server.port}/ws", "realtime": True}
        origin = f"http://localhost:{server.port}"
        status, headers, _ = await asyncio.to_thread(http_get, server.url + "/health", {"Origin": origin})
        assert headers.get("Access-Control-Allow-Origin") == origin
        status, headers, _ = await asyncio.to_thread(http_get, server.url + "/health", {"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in headers
        status, headers, _ = await asyncio.to_thread(http_get, server.url + "/ws", {"Origin": origin}, "OPTIONS")
        assert status == 204 and "GET" in headers.get("Access-Control-Allow-Methods", "")
        status, _, _ = await asyncio.to_thread(http_get, server.url + "/nope")
        assert status == 404
        status, _, _ = await asyncio.to_thread(http_get, server.url + "/ws")
        assert status == 400, "a plain GET of /ws is no upgrade"


async def test_a_reconnecting_client_gets_exactly_the_critical_messages_it_missed() -> None:
    async with asyncio.timeout(20), tickwire.Server(port=0) as server:
        ws = await connect(server)
        server.publish("TradeExecuted", trade("BTCUSDT", 1))
        last = (await receive(ws)).seq
        await ws.close()
        missed = [server.publish("TradeExecuted", trade("BTCUSDT", q)) for q in (2, 3)]
        server.publish("MarketData", market_data("BTCUSDT", 1))  # market data is not replayed
        missed.append(server.publish("PositionUpdate", {"symbol": "ETHUSDT", "side": "LONG", "pnl": 1.0, "current_price": 2.0, "unrealized_pnl": 3.0, "timestamp": 4}))
        # In order, through the URL: replay, Resumed, then live messages.
        back = await connect(server, f"?resume={last}")
        replayed = [await receive(back) for _ in missed]
        assert [m.seq for m in replayed] == missed
        resumed = await receive(back)
        assert isinstance(resumed, protocol.Resumed) and resumed.data is not None
        assert (resumed.data.from_seq, resumed.data.replayed) == (last, 3)
        live = server.publish("TradeExecuted", trade("BTCUSDT", 4))
        assert (await receive(back)).seq == live, "no duplicate, nothing missing"
        # The Resume message on an open connection replays what came before it connected.
        again = await connect(server)
        await again.send(json.dumps({"type": "Resume", "data": {"last_seq": last}}))
        replay = [await receive(again) for _ in range(len(missed) + 2)]
        assert [m.seq for m in replay[:-1]] == [*missed, live]
        assert isinstance(replay[-1], protocol.Resumed)
        await asyncio.gather(back.close(), again.close())


async def test_a_client_whose_missed_messages_are_gone_is_told_to_resync() -> None:
    async with asyncio.timeout(20), tickwire.Server(port=0, history=2) as server:
        for quantity in range(5):
            server.publish("TradeExecuted", trade("BTCUSDT", quantity))
        ws = await connect(server, "?resume=1")
        notice = await receive(ws)
        assert isinstance(notice, protocol.ResyncRequired) and notice.data is not None
        assert (notice.data.last_seq, notice.data.oldest_seq) == (1, 4)
        future = await connect(server, "?resume=999")
        assert isinstance(await receive(future), protocol.ResyncRequired), "a seq from another server instance"
        await asyncio.gather(ws.close(), future.close())


async def test_a_slow_client_is_conflated_then_lagged_and_never_slows_the_fast_one() -> None:
    options = {"queue_soft_limit": 8, "critical_limit": 16}
    async with asyncio.timeout(60), tickwire.Server(port=0, **options) as server:  # type: ignore[arg-type]
        # The slow client never reads: its socket buffers fill, then its queue.
        slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", server.port)
        key = base64.b64encode(os.urandom(16)).decode()
        slow_writer.write(
            f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await slow_reader.readuntil(b"\r\n\r\n")
        sock = slow_writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        fast = await connect(server, max_size=None)
        received = 0

        async def read_fast() -> None:
            nonlocal received
            while True:
                await receive(fast, 10)
                received += 1

        reader = asyncio.create_task(read_fast())
        # ~10 MB in all, more than the socket buffers between the server and the slow client.
        pad = "x" * 8000
        published = 0
        for round_ in range(400):
            for symbol in SYMBOLS:
                server.publish("MarketData", {**market_data(symbol, round_), "venue": pad})
                published += 1
            # The fast client keeps up round by round while the slow one lags: it is not held
            # back by it (its queue never reaches the conflation limit, so it gets every one).
            await asyncio.wait_for(_until(lambda: received >= published), 10)
        assert received == published, "the fast client got every message"
        assert server.metrics()["conflated_messages"] > 0, "the slow client's market data was conflated"
        # Critical messages beyond its limit: the slow client is told and dropped.
        for quantity in range(100):
            server.publish("TradeExecuted", trade("BTCUSDT", quantity))
            published += 1
            await asyncio.wait_for(_until(lambda: received >= published), 10)
        await asyncio.wait_for(_until(lambda: server.metrics()["lagged_clients"] == 1), 10)
        await asyncio.wait_for(_until(lambda: server.connections() == 1), 10)
        assert received == published
        await _stop(reader, fast)
        slow_writer.close()
        await fast.close()


async def _stop(task: asyncio.Task[None], ws: ClientConnection) -> None:
    """Ends a task reading ``ws`` and collects its end, whichever way it ended. The socket is
    closed first: Python 3.11's ``wait_for`` can lose a cancellation that meets a message."""
    await ws.close()
    task.cancel()
    # Python 3.11's wait_for can turn the cancellation of a pending receive into TimeoutError.
    with contextlib.suppress(asyncio.CancelledError, TimeoutError, websockets.ConnectionClosed):
        await task


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_stop_closes_every_client_with_1001() -> None:
    async with asyncio.timeout(20):
        server = await tickwire.Server(port=0).start()
        ws = await connect(server)
        await server.stop()
        with pytest.raises(websockets.ConnectionClosed):
            await receive(ws)
        assert ws.close_code == 1001 and ws.close_reason == "server shutting down"
        assert not server.running


async def test_publish_checks_the_type_and_data_against_the_protocol() -> None:
    async with asyncio.timeout(20), tickwire.Server(port=0) as server:
        with pytest.raises(ValueError, match="cannot be published"):
            server.publish("Pong")
        with pytest.raises(ValueError, match="does not match the protocol"):
            server.publish("TradeExecuted", {"symbol": "BTCUSDT"})
        seq = server.publish("TradeExecuted", protocol.TradeExecutedData(symbol="X", side="BUY", quantity=1.0, price=2.0, timestamp=3))
        assert seq == server.last_seq()
    with pytest.raises(RuntimeError, match="not running"):
        server.publish("MarketData", market_data("BTCUSDT", 1))
    with pytest.raises(ValueError, match="heartbeat_interval"):
        await tickwire.Server(port=0, heartbeat_interval=0).start()


def test_the_published_json_schema_is_generated_from_the_protocol_definition() -> None:
    path = os.path.join(os.path.dirname(protocol.__file__), "protocol.schema.json")
    with open(path, encoding="utf-8") as file:
        published = json.load(file)
    assert published == json.loads(json.dumps(protocol.json_schema())), "regenerate: python -m tickwire.protocol"
    assert {"server", "client"} <= set(published["properties"])
    with pytest.raises(msgspec.ValidationError):
        protocol.decode_server(b'{"type":"Pong"}')


async def test_a_feed_broadcasts_every_trade_tickers_candles_and_book_tops_converted_in_rust() -> None:
    # The test's reader shares the event loop with the feed, so it falls behind in bursts: a
    # queue limit far above them keeps every message (conflation is tested on its own above).
    server_options = {"queue_soft_limit": 1_000_000}
    async with asyncio.timeout(40), tickwire.Simulator(["binance", "okx"], ["BTC/USDT"], rate=2000) as sim, tickwire.Server(port=0, **server_options) as server:
        feed = tickwire.Feed(urls=sim.urls())
        for venue in ("binance", "okx"):
            feed.subscribe(venue, ["BTC/USDT"], ["trades", "ticker", "book"])
        trades: list[tuple[str, float]] = []
        feed.on_trade(lambda t: trades.append((t.venue, t.price_float)))
        feed.broadcast(server)
        ws = await connect(server, max_size=None)
        got: list[protocol.ServerMessage] = []

        async def read() -> None:
            while True:
                got.append(await receive(ws, 10))

        reader = asyncio.create_task(read())
        async with feed:
            await _until(lambda: len(trades) > 200 and feed.book("okx", "BTC/USDT").is_valid)
            await asyncio.sleep(0.5)
            sim.pause()
            await asyncio.sleep(0.5)
            count = len(trades)
            await _until(lambda: sum(isinstance(m, protocol.MarketTrade) for m in got) >= count)
        await _stop(reader, ws)
        assert server.metrics()["conflated_messages"] == 0
        market_trades = [(m.data.venue, m.data.price) for m in got if isinstance(m, protocol.MarketTrade) and m.data]
        assert market_trades == trades, "every trade the feed delivered, once, in order, with its price"
        kinds = {type(m) for m in got}
        assert {protocol.MarketData, protocol.ChartUpdate, protocol.BookTop} <= kinds, kinds
        for chart in (m for m in got if isinstance(m, protocol.ChartUpdate) and m.data):
            c = chart.data.candle
            assert c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high and c.volume > 0
        tops = [m.data for m in got if isinstance(m, protocol.BookTop) and m.data]
        assert {t.venue for t in tops if t.is_valid} == {"binance", "okx"}
        assert all(t.reason for t in tops if not t.is_valid), "an invalid book says why (the feed's stop)"
        assert all(t.bids[0][0] < t.asks[0][0] for t in tops if t.is_valid and t.bids and t.asks)
        seqs = [m.seq for m in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        await ws.close()
        sim.resume()


async def test_tls_serves_wss_and_https_with_the_given_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.private_key_pem.write_to_path(key)
    leaf.cert_chain_pems[0].write_to_path(cert)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with asyncio.timeout(20), tickwire.Server(port=0, tls_cert=cert, tls_key=key) as server:
        assert server.ws_url.startswith("wss://") and server.url.startswith("https://")
        ws = await connect(server, ssl=context)
        seq = server.publish("MarketData", market_data("BTCUSDT", 1))
        assert (await receive(ws)).seq == seq
        await ws.close()

        def get_health() -> bytes:
            with urllib.request.urlopen(server.url + "/health", context=context, timeout=5) as response:  # noqa: S310
                body: bytes = response.read()
                return body

        assert json.loads(await asyncio.to_thread(get_health))["status"] == "ok"
        # A client that does not trust the CA is refused by its own TLS check; the server goes on.
        with pytest.raises(ssl.SSLCertVerificationError):
            await websockets.connect(server.ws_url, open_timeout=5)
        await asyncio.wait_for(_until(lambda: server.metrics()["connection_errors"] == 1), 5)
    with pytest.raises(OSError, match="TLS certificate"):
        await tickwire.Server(port=0, tls_cert=key, tls_key=key).start()
