"""The exchange simulator from Python, against the ``websockets`` client as a real peer on
loopback: it starts, serves each venue's protocol, shows every fault, stops cleanly; the CLI
runs; a Feed works against it with nothing changed but the URLs."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

import tickwire
from tickwire.simulator import SimulatedBook

ALL_VENUES = ["binance", "bybit", "okx", "coinbase", "kraken"]
LIMIT = 10.0


async def _recv_json(ws: ClientConnection, timeout: float = LIMIT) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def _until(condition: Callable[[], bool], timeout: float = LIMIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def _binance_trades(ws: ClientConnection, count: int) -> list[int]:
    ids: list[int] = []
    while len(ids) < count:
        message = await _recv_json(ws)
        if message.get("stream") == "btcusdt@trade":
            ids.append(message["data"]["t"])
    return ids


async def _binance_depth_ids(ws: ClientConnection, count: int) -> list[tuple[int, int]]:
    ids: list[tuple[int, int]] = []
    while len(ids) < count:
        message = await _recv_json(ws)
        if message.get("stream") == "btcusdt@depth@100ms":
            ids.append((message["data"]["U"], message["data"]["u"]))
    return ids


async def _binance_depth_snapshot(sim: tickwire.Simulator) -> Any:
    port = sim.url("binance").split(":")[2].split("/")[0]
    url = f"http://127.0.0.1:{port}/api/v3/depth?symbol=BTCUSDT"
    return json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read()))


async def test_starts_serves_every_venue_and_stops_cleanly() -> None:
    sim = tickwire.Simulator(ALL_VENUES, ["BTC/USDT", "ETH/USDT-PERP"], rate=5_000)
    async with sim:
        urls = sim.urls()
        assert set(urls) == {*ALL_VENUES, "bybit-linear"}
        assert urls["binance"].endswith("/stream") and urls["bybit-linear"].endswith("/v5/public/linear")
        assert urls["okx"].endswith("/ws/v5/public") and urls["kraken"].endswith("/v2")
        assert ("BTC/USDT", "BTCUSDT") in sim.markets("binance")
        async with connect(urls["binance"] + "?streams=btcusdt@trade", ping_interval=None) as ws:
            ids = await _binance_trades(ws, 50)
            assert ids == list(range(ids[0], ids[0] + 50)), "trade ids are contiguous"
            await _until(lambda: sim.stats()["binance"]["clients_connected"] == 1)
        stats = sim.stats()
        assert stats["binance"]["frames_sent"] >= 50 and stats["okx"]["happenings"] > 0
        port = int(urls["okx"].split(":")[2].split("/")[0])
    assert not sim.running
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    await sim.close()  # idempotent


async def test_rest_depth_snapshot_then_contiguous_deltas() -> None:
    async with tickwire.Simulator(["binance"], ["BTC/USDT"], rate=5_000) as sim:
        async with connect(sim.url("binance") + "?streams=btcusdt@depth@100ms", ping_interval=None) as ws:
            await _binance_depth_ids(ws, 1)
            snapshot = await _binance_depth_snapshot(sim)
            assert snapshot["bids"] and snapshot["asks"]
            assert max(float(p) for p, _ in snapshot["bids"]) < min(float(p) for p, _ in snapshot["asks"])
            ids = await _binance_depth_ids(ws, 200)
            later = [(first, last) for first, last in ids if last > snapshot["lastUpdateId"]]
            assert later, "the snapshot is not ahead of the stream for long"
            assert later[0][0] <= snapshot["lastUpdateId"] + 1
            assert all(b[0] == a[1] + 1 for a, b in zip(later, later[1:])), "U = previous u + 1"


async def test_gap_drops_one_book_update() -> None:
    async with tickwire.Simulator(["binance"], ["BTC/USDT"], rate=3_000) as sim:
        async with connect(sim.url("binance") + "?streams=btcusdt@depth@100ms", ping_interval=None) as ws:
            ids = await _binance_depth_ids(ws, 5)
            assert sim.inject("binance", "gap", symbol="BTC/USDT") == 1
            # Updates written before the fault took effect may be queued ahead of it.
            while ids[-1][0] == ids[-2][1] + 1:
                ids += await _binance_depth_ids(ws, 1)
            ids += await _binance_depth_ids(ws, 100)
            breaks = [(a, b) for a, b in zip(ids, ids[1:]) if b[0] != a[1] + 1]
            assert len(breaks) == 1 and breaks[0][1][0] == breaks[0][0][1] + 2, breaks
        assert sim.stats()["binance"]["faults"]["gap"] == 1


def _okx_checksum(bids: dict[str, str], asks: dict[str, str]) -> int:
    best_bids = sorted(bids, key=float, reverse=True)[:25]
    best_asks = sorted(asks, key=float)[:25]
    parts: list[str] = []
    for i in range(max(len(best_bids), len(best_asks))):
        if i < len(best_bids):
            parts += [best_bids[i], bids[best_bids[i]]]
        if i < len(best_asks):
            parts += [best_asks[i], asks[best_asks[i]]]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


async def test_okx_checksums_hold_until_a_bad_one_is_injected() -> None:
    async with tickwire.Simulator(["okx"], ["BTC/USDT"], rate=3_000) as sim:
        async with connect(sim.url("okx"), ping_interval=None) as ws:
            await ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]}))
            bids: dict[str, str] = {}
            asks: dict[str, str] = {}
            results: list[bool] = []
            injected = False
            while len(results) < 100 or results.count(False) == 0 or len(results) < results.index(False) + 50:
                message = await _recv_json(ws)
                if message.get("arg", {}).get("channel") != "books" or "data" not in message:
                    continue
                for side, levels in (("bids", bids), ("asks", asks)):
                    if message["action"] == "snapshot":
                        levels.clear()
                    for price, qty, *_ in message["data"][0][side]:
                        if float(qty) == 0:
                            levels.pop(price, None)
                        else:
                            levels[price] = qty
                results.append(_okx_checksum(bids, asks) == message["data"][0]["checksum"])
                if len(results) == 100:
                    injected = sim.inject("okx", "bad_checksum") == 1
            assert injected
            assert all(results[:100]), "the simulator's checksums are OKX's"
            assert results.count(False) == 1, "exactly one bad checksum after the injection"


async def test_malformed_sends_broken_json() -> None:
    async with tickwire.Simulator(["binance"], ["BTC/USDT"], rate=2_000) as sim:
        async with connect(sim.url("binance") + "?streams=btcusdt@trade", ping_interval=None) as ws:
            await _binance_trades(ws, 1)
            sim.inject("binance", "malformed")
            for _ in range(10_000):
                text = await asyncio.wait_for(ws.recv(), LIMIT)
                try:
                    json.loads(text)
                except json.JSONDecodeError:
                    break
            else:
                pytest.fail("no malformed frame")
            await _binance_trades(ws, 5)  # and the stream goes on


async def test_disconnect_drops_the_connection_without_a_close_frame() -> None:
    async with tickwire.Simulator(["binance"], ["BTC/USDT"], rate=2_000) as sim:
        async with connect(sim.url("binance") + "?streams=btcusdt@trade", ping_interval=None) as ws:
            await _binance_trades(ws, 1)
            sim.inject("binance", "disconnect")
            with pytest.raises(ConnectionClosedError) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), LIMIT)
            assert closed.value.rcvd is None, "no close frame"


async def test_stall_keeps_the_connection_open_and_silent() -> None:
    async with tickwire.Simulator(["binance"], ["BTC/USDT"], rate=2_000) as sim:
        async with connect(sim.url("binance") + "?streams=btcusdt@trade", ping_interval=None, close_timeout=0.5) as ws:
            await _binance_trades(ws, 1)
            sim.inject("binance", "stall")
            await asyncio.sleep(0.2)
            while True:  # what was already on its way
                try:
                    await asyncio.wait_for(ws.recv(), 0.2)
                except TimeoutError:
                    break
            pong = await ws.ping()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(pong, 0.5)
            assert sim.stats()["binance"]["clients_connected"] == 1


async def test_slow_throttles_the_stream() -> None:
    async with tickwire.Simulator(["binance"], ["BTC/USDT"], rate=20_000) as sim:
        async with connect(sim.url("binance") + "?streams=btcusdt@trade", ping_interval=None, close_timeout=0.5) as ws:
            await _binance_trades(ws, 1)
            sim.inject("binance", "slow")
            await asyncio.sleep(0.3)
            before = sim.stats()["binance"]["bytes_sent"]
            await asyncio.sleep(1.0)
            sent = sim.stats()["binance"]["bytes_sent"] - before
            assert sent < 60_000, f"{sent} bytes in a second while slowed"


async def test_a_silent_client_is_dropped_where_the_venue_does() -> None:
    # OKX closes a connection that sends nothing for 30 s; scaled to 0.3 s.
    async with tickwire.Simulator(["okx"], ["BTC/USDT"], heartbeat_scale=0.01) as sim:
        async with connect(sim.url("okx"), ping_interval=None) as ws:
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), LIMIT)
        assert sim.stats()["okx"]["heartbeat_disconnects"] == 1


async def test_random_faults_at_a_rate() -> None:
    async with tickwire.Simulator(["binance"], ["BTC/USDT"], rate=1_000, faults=6_000) as sim:
        await asyncio.sleep(0.5)
        assert sum(sim.stats()["binance"]["faults"].values()) > 5


async def test_bad_options_and_names_are_value_errors() -> None:
    with pytest.raises(ValueError, match="nowhere"):
        tickwire.Simulator(["nowhere"]).start()
    with pytest.raises(ValueError, match="no market"):
        tickwire.Simulator(["binance"], ["NOT A SYMBOL"]).start()
    with pytest.raises(ValueError):
        tickwire.Simulator(rate=-1)
    async with tickwire.Simulator(["binance"], ["BTC/USDT"]) as sim:
        with pytest.raises(ValueError, match="unknown fault"):
            sim.inject("binance", "flood")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="not simulated"):
            sim.inject("okx", "gap")
        with pytest.raises(ValueError, match="DOGE"):
            sim.inject("binance", "gap", symbol="DOGE/USDT")
    with pytest.raises(RuntimeError):
        sim.url("binance")


async def test_a_feed_works_with_nothing_changed_but_the_urls() -> None:
    async with tickwire.Simulator(["binance", "okx"], ["BTC/USDT"], rate=2_000) as sim:
        feed = tickwire.Feed(urls=sim.urls())
        feed.subscribe("binance", ["BTC/USDT"], ["trades"])
        feed.subscribe("okx", ["BTC/USDT"], ["trades"])
        trades: list[tickwire.Trade] = []
        feed.on_trade(trades.append)
        errors: list[Exception] = []
        feed.on_error(errors.append)
        async with feed:
            await _until(lambda: {t.venue for t in trades} == {"binance", "okx"})
        assert errors == []
        binance = [int(t.trade_id) for t in trades if t.venue == "binance"]
        assert binance == list(range(binance[0], binance[0] + len(binance)))
        assert all(t.symbol == "BTC/USDT" for t in trades)


async def _still(sim: tickwire.Simulator, venue: str) -> int:
    """The venue's happenings once a batch in flight has gone out, checked unchanged for 0.2 s."""
    await asyncio.sleep(0.05)
    at_rest: int = sim.stats()[venue]["happenings"]
    await asyncio.sleep(0.2)
    assert sim.stats()[venue]["happenings"] == at_rest, f"{venue} generated while paused"
    return at_rest


async def test_pause_stops_the_markets_and_resume_restarts_them() -> None:
    async with tickwire.Simulator(["binance", "okx"], ["BTC/USDT"], rate=5_000) as sim:

        def happenings(venue: str) -> int:
            count: int = sim.stats()[venue]["happenings"]
            return count

        async with connect(sim.url("binance") + "?streams=btcusdt@trade", ping_interval=None) as ws:
            before = await _binance_trades(ws, 1)
            sim.pause("binance")
            okx = happenings("okx")
            binance = await _still(sim, "binance")
            await _until(lambda: happenings("okx") > okx)  # only the venue named
            sent = 0
            while True:  # what was generated before the pause
                try:
                    await asyncio.wait_for(ws.recv(), 0.2)
                    sent += 1
                except TimeoutError:
                    break
            assert sent < 1_000, f"{sent} frames after the pause"
            assert sim.stats()["binance"]["clients_connected"] == 1, "the connection stays open"
            sim.resume("binance")
            await _until(lambda: happenings("binance") > binance)
            after = await _binance_trades(ws, 5)
            assert after == list(range(after[0], after[0] + 5)) and after[0] > before[0]
        sim.pause()
        binance, okx = await asyncio.gather(_still(sim, "binance"), _still(sim, "okx"))
        sim.resume()
        await _until(lambda: happenings("binance") > binance and happenings("okx") > okx)


async def test_book_is_the_true_book_best_first() -> None:
    async with tickwire.Simulator(["binance"], ["BTC/USDT", "ETH/USDT"], rate=5_000) as sim:
        await _until(lambda: sim.stats()["binance"]["happenings"] > 1_000)
        sim.pause()
        await _still(sim, "binance")
        book = sim.book("binance", "BTC/USDT")
        assert isinstance(book, SimulatedBook) and book.update_id > 0
        assert book.bids and book.asks
        assert all(isinstance(n, Decimal) for level in book.bids + book.asks for n in level)
        bid_prices = [price for price, _ in book.bids]
        ask_prices = [price for price, _ in book.asks]
        assert bid_prices == sorted(bid_prices, reverse=True) and ask_prices == sorted(ask_prices)
        assert bid_prices[0] < ask_prices[0], "uncrossed"
        assert all(qty > 0 for _, qty in book.bids + book.asks)
        assert sim.book("binance", "btcusdt") == book, "native names in any case, and at rest"
        snapshot = await _binance_depth_snapshot(sim)
        assert snapshot["lastUpdateId"] == book.update_id, "what the venue serves is the same book"
        assert [(Decimal(p), Decimal(q)) for p, q in snapshot["bids"]] == book.bids
        assert [(Decimal(p), Decimal(q)) for p, q in snapshot["asks"]] == book.asks
        with pytest.raises(ValueError, match="nowhere"):
            sim.book("nowhere", "BTC/USDT")
        with pytest.raises(ValueError, match="not simulated"):
            sim.book("okx", "BTC/USDT")
        with pytest.raises(ValueError, match=r"DOGE/USDT.*not simulated.*BTC/USDT"):
            sim.book("binance", "DOGE/USDT")
        with pytest.raises(ValueError, match="not simulated"):
            sim.pause("okx")
        with pytest.raises(ValueError, match="not simulated"):
            sim.resume("okx")
    with pytest.raises(RuntimeError):
        sim.book("binance", "BTC/USDT")


def test_cli_simulate_runs_for_its_duration() -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "tickwire", "simulate", "--venues", "binance,okx", "--duration", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "ws://127.0.0.1:" in result.stdout and "frames/s" in result.stdout
    assert time.monotonic() - started < 20
    bad = subprocess.run(
        [sys.executable, "-m", "tickwire", "simulate", "--venues", "nowhere", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2 and "nowhere" in bad.stderr


@pytest.mark.parametrize("channel", ["trades", "book", "bbo", "ticker"])
async def test_a_feed_gets_every_channel_from_every_venue(channel: str) -> None:
    symbols = {"BTC/USDT": ["binance", "bybit", "okx", "coinbase", "kraken"], "BTC/USDT-PERP": ["bybit"]}
    async with tickwire.Simulator(ALL_VENUES, list(symbols), rate=2_000) as sim:
        feed = tickwire.Feed(urls=sim.urls())
        for symbol, venues in symbols.items():
            for venue in venues:
                feed.subscribe(venue, [symbol], [channel])  # type: ignore[list-item]
        seen: set[tuple[str, str]] = set()
        handler = {"trades": feed.on_trade, "book": feed.on_book, "bbo": feed.on_bbo, "ticker": feed.on_ticker}
        handler[channel](lambda event: seen.add((event.venue, event.symbol)))
        errors: list[Exception] = []
        feed.on_error(errors.append)
        wanted = {(venue, symbol) for symbol, venues in symbols.items() for venue in venues}
        async with feed:
            try:
                await _until(lambda: seen >= wanted)
            finally:
                assert errors == []
                assert seen >= wanted, f"missing {wanted - seen}"
