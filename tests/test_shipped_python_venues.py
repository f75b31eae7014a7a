"""Gate.io and MEXC, the venues written in Python that tickwire ships, end to end against the
simulator: every trade arrives once with the values the venue sent (checked against an
independent reader of the same stream), Gate.io's private channels deliver only after a valid
signature (fills that add up to their orders and whose fees are the balance changes) and a
wrong secret is an AuthenticationError without a retry storm, credentials come from the
environment, and Gate.io's tickers carry the values the simulator sent. Books across faults are in test_books.py, with the built-in venues.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import connect

import tickwire
from tickwire import Balance, Fill, Order, Ticker, Trade

from test_sim_mexc import DEALS_BODY, _fields, _push

LIMIT = 10.0


async def _raw_trades_gateio(url: str, count: int) -> list[dict[str, Any]]:
    """Gate.io trade pushes read by a plain ``websockets`` client and ``json``."""
    trades: list[dict[str, Any]] = []
    async with connect(url) as ws:
        await ws.send(json.dumps({"time": int(time.time()), "id": 1, "channel": "spot.trades", "event": "subscribe", "payload": ["BTC_USDT"]}))
        while len(trades) < count:
            message = json.loads(await asyncio.wait_for(ws.recv(), LIMIT))
            if message.get("event") == "update":
                trades.append(message["result"])
    return trades


async def _raw_trades_mexc(url: str, count: int) -> list[dict[str, Any]]:
    """MEXC deal pushes read by a plain client and the test's own protobuf reader."""
    trades: list[dict[str, Any]] = []
    async with connect(url) as ws:
        await ws.send(json.dumps({"method": "SUBSCRIPTION", "params": ["spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"]}))
        while len(trades) < count:
            frame = await asyncio.wait_for(ws.recv(), LIMIT)
            if isinstance(frame, str):
                continue
            push = _push(frame)
            if push.kind != DEALS_BODY:
                continue
            for item in push.body[1]:
                assert isinstance(item, bytes)
                deal = _fields(item)
                trades.append(
                    {
                        "price": deal[1][0].decode(),  # type: ignore[union-attr]
                        "quantity": deal[2][0].decode(),  # type: ignore[union-attr]
                        "side": "buy" if deal[3][0] == 1 else "sell",
                        "time": deal[4][0],
                        "id": deal[5][0].decode(),  # type: ignore[union-attr]
                    }
                )
    return trades


def _as_trade_fields(venue: str, raw: dict[str, Any]) -> tuple[str, str, str, str, int]:
    """(trade id, price, qty, side, exchange time ns) as the venue sent them."""
    if venue == "gateio":
        ms = Decimal(raw["create_time_ms"])
        return str(raw["id"]), raw["price"], raw["amount"], raw["side"], int(ms * 1_000_000)
    return raw["id"], raw["price"], raw["quantity"], raw["side"], int(raw["time"]) * 1_000_000


@pytest.mark.parametrize("venue", ["gateio", "mexc"])
async def test_every_trade_arrives_once_with_the_values_the_venue_sent(venue: str) -> None:
    async with tickwire.Simulator([venue], ["BTC/USDT"], rate=2_000) as sim:
        feed = tickwire.Feed(urls=sim.urls())
        trades: list[Trade] = []
        feed.on_trade(trades.append)
        feed.subscribe(venue, ["BTC/USDT"], ["trades"])
        async with feed:
            await asyncio.wait_for(_until_connected(feed, venue), LIMIT)
            reader = _raw_trades_gateio if venue == "gateio" else _raw_trades_mexc
            raw = await reader(sim.url(venue), 300)
            last_id = _as_trade_fields(venue, raw[-1])[0]
            await asyncio.wait_for(_until(lambda: any(t.trade_id == last_id for t in trades)), LIMIT)
    by_id = {t.trade_id: t for t in trades}
    assert len(by_id) == len(trades), "a trade arrived twice"
    for fields in (_as_trade_fields(venue, r) for r in raw):
        trade = by_id[fields[0]]  # every trade the independent reader saw, the feed got
        assert (trade.trade_id, str(trade.price), str(trade.qty), trade.side, trade.exchange_time_ns) == fields
        assert trade.venue == venue and trade.symbol == "BTC/USDT"
    assert trades[0].native_symbol == ("BTC_USDT" if venue == "gateio" else "BTCUSDT")
    # Per market, the venue's own count has no hole: Gate.io's id_market (the id's high bits),
    # MEXC's trade id.
    counts = [int(t.trade_id) >> 12 if venue == "gateio" else int(t.trade_id) for t in trades]
    assert counts == list(range(counts[0], counts[0] + len(counts)))


async def _until_connected(feed: tickwire.Feed, venue: str) -> None:
    while not (feed.is_connected(venue) and feed.subscriptions(venue)):
        await asyncio.sleep(0.01)


async def test_gateio_private_events_follow_a_valid_signature_with_credentials_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKWIRE_GATEIO_API_KEY", "key-1")
    monkeypatch.setenv("TICKWIRE_GATEIO_API_SECRET", "secret-1")
    async with tickwire.Simulator(["gateio"], ["BTC/USDT"], rate=2_000, credentials={"gateio": ("key-1", "secret-1")}) as sim:
        feed = tickwire.Feed(urls=sim.urls())
        orders: list[Order] = []
        balances: list[Balance] = []
        fills: list[Fill] = []
        errors: list[BaseException] = []
        feed.on_order(orders.append)
        feed.on_balance(balances.append)
        feed.on_fill(fills.append)
        feed.on_error(errors.append)
        # Balances first: the account trades from the first authenticated subscription, and the
        # opening balance is checked below.
        feed.subscribe("gateio", ["BTC/USDT"], ["balances", "orders", "fills"])

        def settled() -> list[Order]:
            """Finished orders whose put, both fills and the balance changes of both have arrived
            (the subscriptions start apart: the first fills may miss orders or fills)."""
            seen_put = {o.order_id for o in orders if o.event == "put"}
            balance_ms = {b.exchange_time_ns // 1_000_000 for b in balances}
            return [
                o
                for o in orders
                if o.event == "finish"
                and o.order_id in seen_put
                and sum(f.order_id == o.order_id and f.exchange_time_ns // 1_000_000 in balance_ms for f in fills) == 2
            ]

        async with feed:
            await asyncio.wait_for(_until(lambda: len(settled()) >= 2), LIMIT)
            finished = settled()
    assert errors == []
    assert {o.event for o in orders} >= {"put", "update", "finish"}
    assert all(o.status == "filled" and o.left == 0 for o in finished)
    assert all(o.venue == "gateio" and o.symbol == "BTC/USDT" for o in orders)
    # Each balance moved by exactly its change, from the account's opening 1,000,000.
    by_currency: dict[str, list[Balance]] = {}
    for balance in balances:
        by_currency.setdefault(balance.currency, []).append(balance)
    assert set(by_currency) == {"BTC", "USDT"}
    for history in by_currency.values():
        assert history[0].total - history[0].change == Decimal(1_000_000)
        for before, after in zip(history, history[1:]):
            assert after.total == before.total + after.change
    # Each fill adds up to its order, and moves the balances at its own time by what it received
    # less its fee.
    assert all(f.venue == "gateio" and f.symbol == "BTC/USDT" and f.role == "maker" for f in fills)
    changes: dict[tuple[int, str], list[Decimal]] = {}
    for balance in balances:
        changes.setdefault((balance.exchange_time_ns // 1_000_000, balance.currency), []).append(balance.change)
    for order in finished:
        own = [f for f in fills if f.order_id == order.order_id]
        assert len(own) == 2 and sum(f.qty for f in own) == order.filled == order.amount
        for fill in own:
            assert fill.side == order.side and fill.price == order.price
            if fill.side == "buy":
                expected = {"BTC": fill.qty - fill.fee, "USDT": -fill.qty * fill.price}
            else:
                expected = {"BTC": -fill.qty, "USDT": fill.qty * fill.price - fill.fee}
            assert fill.fee_currency == ("BTC" if fill.side == "buy" else "USDT")
            ms = fill.exchange_time_ns // 1_000_000
            assert all(change in changes[ms, currency] for currency, change in expected.items()), (fill, changes)


async def test_gateio_wrong_secret_is_an_authentication_error_and_no_storm() -> None:
    async with tickwire.Simulator(["gateio"], ["BTC/USDT"], rate=1_000, credentials={"gateio": ("key-1", "secret-1")}) as sim:
        venue = tickwire.registered_venues()["gateio"](url=sim.url("gateio"), credentials=tickwire.Credentials("key-1", "WRONG"))
        venue.retry_delay = 0.1  # an instance's own limits
        feed = tickwire.Feed()
        orders: list[Order] = []
        trades: list[Trade] = []
        errors: list[BaseException] = []
        feed.on_order(orders.append)
        feed.on_trade(trades.append)
        feed.on_error(errors.append)
        feed.subscribe(venue, ["BTC/USDT"], ["orders", "trades"])
        async with feed:
            await asyncio.wait_for(_until(lambda: errors), LIMIT)
            await asyncio.sleep(1.0)  # nothing more follows: no storm
    (error,) = errors
    assert isinstance(error, tickwire.AuthenticationError)
    assert error.attempts == venue.max_attempts and error.subscriptions == [("BTC/USDT", "orders")]
    assert "Gate.io error 4" in str(error) and "WRONG" not in str(error) and "key-1" not in str(error)
    assert orders == [] and len(trades) > 100  # the public channel is unaffected


async def test_mexc_refuses_a_ticker_and_gateio_offers_ticker_and_fills(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKWIRE_GATEIO_API_KEY", "key-1")
    monkeypatch.setenv("TICKWIRE_GATEIO_API_SECRET", "secret-1")
    feed = tickwire.Feed()
    with pytest.raises(ValueError, match="mexc has no 'ticker' channel"):
        feed.subscribe("mexc", ["BTC/USDT"], ["ticker"])
    feed.subscribe("gateio", ["BTC/USDT"], ["ticker", "fills"])


async def test_gateio_tickers_carry_the_simulators_values() -> None:
    async with tickwire.Simulator(["gateio"], ["BTC/USDT"], rate=2_000) as sim:
        feed = tickwire.Feed(urls=sim.urls())
        tickers: list[Ticker] = []
        feed.on_ticker(tickers.append)
        feed.subscribe("gateio", ["BTC/USDT"], ["ticker"])
        async with feed:
            await asyncio.wait_for(_until_connected(feed, "gateio"), LIMIT)
            raw: list[tuple[int, dict[str, Any]]] = []
            async with connect(sim.url("gateio")) as ws:
                await ws.send(json.dumps({"time": int(time.time()), "id": 1, "channel": "spot.tickers", "event": "subscribe", "payload": ["BTC_USDT"]}))
                while len(raw) < 20:
                    message = json.loads(await asyncio.wait_for(ws.recv(), LIMIT))
                    if message.get("event") == "update":
                        raw.append((message["time_ms"], message["result"]))
            last_time_ns = raw[-1][0] * 1_000_000
            await asyncio.wait_for(_until(lambda: any(t.exchange_time_ns >= last_time_ns for t in tickers)), LIMIT)
    got = {_ticker_fields(t) for t in tickers}
    for time_ms, ticker in raw:  # every ticker the independent reader saw, the feed got
        sent = (time_ms * 1_000_000, *(Decimal(ticker[f]) for f in ("last", "highest_bid", "lowest_ask", "high_24h", "low_24h", "base_volume", "quote_volume", "change_percentage")))
        assert sent in got, sent
    assert all(t.venue == "gateio" and t.symbol == "BTC/USDT" and t.open_24h is None and t.bid_qty is None for t in tickers)


def _ticker_fields(t: Ticker) -> tuple[Any, ...]:
    return (t.exchange_time_ns, t.last_price, t.bid_price, t.ask_price, t.high_24h, t.low_24h, t.volume_24h, t.quote_volume_24h, t.change_pct_24h)


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_a_python_venue_reaches_the_broadcast_server_and_the_command_line() -> None:
    async with tickwire.Simulator(["mexc"], ["BTC/USDT"], rate=1_000) as sim, await tickwire.Server(port=0).start() as server:
        feed = tickwire.Feed(urls=sim.urls())
        feed.subscribe("mexc", ["BTC/USDT"], ["trades", "book"])
        feed.broadcast(server)
        async with feed, connect(server.ws_url) as client:
            seen: dict[str, dict[str, Any]] = {}
            async with asyncio.timeout(LIMIT):
                while not {"MarketTrade", "BookTop"} <= seen.keys():
                    message = json.loads(await client.recv())
                    if message.get("data", {}).get("venue") == "mexc":
                        seen[message["type"]] = message["data"]
        assert seen["MarketTrade"]["symbol"] == "BTC/USDT" and seen["MarketTrade"]["price"] > 0
        streamed = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "tickwire", "stream", "mexc", "BTC/USDT", "--channels", "trades,bbo", "--url", sim.url("mexc"), "--json", "--duration", "2"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert streamed.returncode == 0, streamed.stderr
    events = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert {e["type"] for e in events} == {"trade", "bbo"} and all(e["venue"] == "mexc" for e in events)
    assert len(events) > 100


def test_gateio_parses_the_documented_messages() -> None:
    """Gate.io's documented examples (PROTOCOLS.md), through ``tickwire.parse``."""
    (trade,) = tickwire.parse(
        "gateio",
        '{"time":1606292218,"time_ms":1606292218231,"channel":"spot.trades","event":"update","result":{"id":309143071,'
        '"id_market":2390902,"create_time":1606292218,"create_time_ms":"1606292218213.4578","side":"sell",'
        '"currency_pair":"GT_USDT","amount":"16.4700000000","price":"0.4705000000","range":"2390902-2390902"}}',
    )
    assert isinstance(trade, Trade) and trade.symbol == "GT/USDT" and trade.native_symbol == "GT_USDT"
    assert (trade.trade_id, trade.side, str(trade.price), str(trade.qty)) == ("309143071", "sell", "0.4705000000", "16.4700000000")
    assert trade.exchange_time_ns == 1_606_292_218_213_457_800  # the sub-millisecond digits kept
    (book,) = tickwire.parse(
        "gateio",
        '{"time":1606294781,"time_ms":1606294781236,"channel":"spot.order_book_update","event":"update","result":{'
        '"t":1606294781123,"full":true,"l":"100","e":"depthUpdate","E":1606294781,"s":"BTC_USDT","U":48776301,'
        '"u":48776306,"b":[["19137.74","0.0001"],["19088.37","0"]],"a":[["19137.75","0.6135"]]}}',
    )
    assert book.is_snapshot and (book.first_sequence, book.last_sequence) == (48776301, 48776306)  # type: ignore[union-attr]
    assert book.bids[1] == (Decimal("19088.37"), Decimal("0")) and book.exchange_time_ns == 1_606_294_781_123_000_000  # type: ignore[union-attr]
    (ticker,) = tickwire.parse(
        "gateio",
        '{"time":1700000001,"time_ms":1700000001500,"channel":"spot.tickers","event":"update","result":{"currency_pair":'
        '"BTC_USDT","last":"103.666","lowest_ask":"","highest_bid":"101.4","change_percentage":"3.67","base_volume":"12.5",'
        '"quote_volume":"1262.5","high_24h":"102","low_24h":"99.25"}}',
    )
    assert ticker.ask_price is None and ticker.bid_price == Decimal("101.4")  # type: ignore[union-attr]  # "": none
    refusal = '{"time":1,"time_ms":1,"id":7,"channel":"spot.orders","event":"subscribe","error":{"code":4,"message":"bad sign"},"result":null}'
    assert tickwire.parse("gateio", refusal) == []  # answers are no events, as for the built-in venues


async def test_private_events_on_the_command_line_with_the_key_from_the_environment() -> None:
    env = os.environ | {"TICKWIRE_GATEIO_API_KEY": "cli-key", "TICKWIRE_GATEIO_API_SECRET": "cli-secret"}
    simulating = subprocess.Popen(
        [sys.executable, "-m", "tickwire", "simulate", "--venues", "gateio", "--rate", "2000", "--duration", "30", "--plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert simulating.stdout is not None
        url = ""
        async with asyncio.timeout(LIMIT):
            while not url.startswith("ws://"):
                line = await asyncio.to_thread(simulating.stdout.readline)
                assert line, "the simulator printed no URL"
                if line.startswith("gateio ") and "ws://" in line:
                    url = line.split()[-1]
        streamed = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "tickwire", "stream", "gateio", "BTC/USDT", "--channels", "balances,orders,fills",
             "--url", url, "--json", "--duration", "3"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )
    finally:
        simulating.send_signal(signal.SIGINT)
        try:
            simulating.communicate(timeout=15)  # reads the pipes to their end and closes them
        except subprocess.TimeoutExpired:
            simulating.kill()
            simulating.communicate()
    assert streamed.returncode == 0, streamed.stderr
    events = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert {e["type"] for e in events} == {"order", "balance", "fill"}, streamed.stdout[-500:]
    assert all(e["venue"] == "gateio" for e in events) and "cli-secret" not in streamed.stderr + streamed.stdout
    orders = [e for e in events if e["type"] == "order"]
    assert all(o["order_type"] == "limit" and Decimal(o["filled"]) + Decimal(o["left"]) == Decimal(o["amount"]) for o in orders)
