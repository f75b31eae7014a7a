"""Gate.io and MEXC, the venues written in Python that tickwire ships, end to end against the
simulator: every trade arrives once with the values the venue sent (checked against an
independent reader of the same stream), Gate.io's private channels deliver only after a valid
signature and a wrong secret is an AuthenticationError without a retry storm, and credentials
come from the environment. Books across faults are in test_books.py, with the built-in venues.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import connect

import tickwire
from tickwire import Balance, Order, Trade

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
        errors: list[BaseException] = []
        feed.on_order(orders.append)
        feed.on_balance(balances.append)
        feed.on_error(errors.append)
        feed.subscribe("gateio", ["BTC/USDT"], ["balances", "orders", "trades"])
        async with feed:
            await asyncio.wait_for(_until(lambda: any(o.event == "finish" for o in orders) and len(balances) >= 4), LIMIT)
    assert errors == []
    assert {o.event for o in orders} >= {"put", "update", "finish"}
    finished = next(o for o in orders if o.event == "finish")
    assert finished.status == "filled" and finished.left == 0 and finished.filled == finished.amount
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


async def test_mexc_refuses_a_ticker_and_gateio_fills() -> None:
    feed = tickwire.Feed()
    with pytest.raises(ValueError, match="mexc has no 'ticker' channel"):
        feed.subscribe("mexc", ["BTC/USDT"], ["ticker"])
    with pytest.raises(ValueError, match="gateio has no private channel 'fills'"):
        feed.subscribe("gateio", ["BTC/USDT"], ["fills"])


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
