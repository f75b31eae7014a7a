"""The simulator's Gate.io v4 spot protocol against the ``websockets`` client on loopback: the
registered venue's URLs, the public channels (trade ids, book deltas and the book they build
against the simulator's true book), the authenticated channels with Python's ``hmac``
computing the signature, and the faults."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

import tickwire
from tickwire import _core

LIMIT = 10.0
KEY, SECRET = "sim-key", "sim-secret"


async def _recv_json(ws: ClientConnection, timeout: float = LIMIT) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def _sign(secret: str, channel: str, event: str, when: int) -> str:
    message = f"channel={channel}&event={event}&time={when}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha512).hexdigest()


def _request(channel: str, payload: list[str], *, event: str = "subscribe", request_id: int = 1) -> dict[str, Any]:
    return {"time": int(time.time()), "id": request_id, "channel": channel, "event": event, "payload": payload}


def _signed(
    channel: str, payload: list[str], *, key: str = KEY, secret: str = SECRET, when: int | None = None
) -> dict[str, Any]:
    request = _request(channel, payload)
    if when is not None:
        request["time"] = when
    request["auth"] = {"method": "api_key", "KEY": key, "SIGN": _sign(secret, channel, "subscribe", request["time"])}
    return request


async def _ask(ws: ClientConnection, request: dict[str, Any]) -> Any:
    """Sends ``request`` and returns its answer (pushes that come first are skipped)."""
    await ws.send(json.dumps(request))
    while True:
        message = await _recv_json(ws)
        if message.get("event") in ("subscribe", "unsubscribe", "") and message["channel"] in (
            request["channel"],
            "spot.pong",
        ):
            return message


async def _drain(ws: ClientConnection, quiet: float = 0.5) -> list[Any]:
    """Everything sent until the stream has been quiet for ``quiet`` seconds."""
    messages = []
    while True:
        try:
            messages.append(await _recv_json(ws, quiet))
        except TimeoutError:
            return messages


def _apply(book: dict[str, dict[Decimal, Decimal]], result: dict[str, Any]) -> None:
    if result.get("full"):
        book["b"].clear()
        book["a"].clear()
    for side in ("b", "a"):
        for price, qty in result[side]:
            book[side].pop(Decimal(price), None)
            if Decimal(qty) != 0:
                book[side][Decimal(price)] = Decimal(qty)


async def test_the_registered_venue_is_served_on_its_path() -> None:
    _core.register_venue("gateio", symbol_separator="_", book_sync="snapshot_then_range")
    async with tickwire.Simulator(["gateio"], ["BTC/USDT"]) as sim:
        url = sim.url("gateio")
        assert url.startswith("ws://127.0.0.1:") and url.endswith("/ws/v4/")
        assert sim.urls() == {"gateio": url}
        assert sim.markets("gateio") == [("BTC/USDT", "BTC_USDT")]
        assert sim.book("gateio", "btc_usdt").bids, "native names in any case"
        async with connect(url, open_timeout=LIMIT) as ws:
            pong = await _ask(ws, {"time": int(time.time()), "id": 9, "channel": "spot.ping"})
            assert pong["channel"] == "spot.pong" and pong["id"] == 9 and pong["error"] is None
    with pytest.raises(ValueError, match="already registered"):
        _core.register_venue("gateio", symbol_separator="-", book_sync="snapshot_then_range")
    with pytest.raises(ValueError, match="binance has no private channels"):
        tickwire.Simulator(["binance"], credentials={"binance": ("k", "s")}).start()


async def test_public_channels_build_the_true_book() -> None:
    async with tickwire.Simulator(["gateio"], ["BTC/USDT", "ETH/USDT"], rate=3_000) as sim:
        async with connect(sim.url("gateio"), open_timeout=LIMIT, max_size=None) as ws:
            for channel, payload in [
                ("spot.trades", ["BTC_USDT"]),
                ("spot.book_ticker", ["BTC_USDT"]),
                ("spot.order_book_update", ["BTC_USDT", "100ms"]),
            ]:
                answer = await _ask(ws, _request(channel, payload))
                assert answer["error"] is None and answer["result"] == {"status": "success"}, answer
            book: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}
            trade_ids: list[int] = []
            last_u: int | None = None
            deltas = 0
            started = time.monotonic()
            while deltas < 300 or len(trade_ids) < 50:
                assert time.monotonic() - started < LIMIT, "the streams flow"
                message = await _recv_json(ws)
                result = message["result"]
                if message["channel"] == "spot.trades":
                    assert result["currency_pair"] == "BTC_USDT" and result["side"] in ("buy", "sell")
                    assert result["range"] == f"{result['id_market']}-{result['id_market']}"
                    assert Decimal(result["price"]) > 0 and Decimal(result["amount"]) > 0
                    trade_ids.append(result["id_market"])
                elif message["channel"] == "spot.order_book_update":
                    if last_u is None:
                        assert result["full"] is True and result["l"] == "100"
                    else:
                        assert "full" not in result
                        assert result["U"] == last_u + 1, "deltas are continuous"
                        deltas += 1
                    last_u = result["u"]
                    _apply(book, result)
                elif message["channel"] == "spot.book_ticker":
                    assert Decimal(result["b"]) < Decimal(result["a"])
            assert trade_ids == list(range(trade_ids[0], trade_ids[0] + len(trade_ids))), "id_market continuous"
            sim.pause("gateio")
            assert last_u is not None
            for message in await _drain(ws):
                if message["channel"] == "spot.order_book_update":
                    assert message["result"]["U"] == last_u + 1
                    last_u = message["result"]["u"]
                    _apply(book, message["result"])
            truth = sim.book("gateio", "BTC/USDT")
            assert truth.update_id == last_u
            assert sorted(book["b"].items(), reverse=True) == truth.bids
            assert sorted(book["a"].items()) == truth.asks


async def test_refusals_and_the_auth_paths() -> None:
    credentials = {"gateio": (KEY, SECRET)}
    async with tickwire.Simulator(["gateio"], ["BTC/USDT"], credentials=credentials) as sim:
        async with connect(sim.url("gateio"), open_timeout=LIMIT) as ws:
            unknown = await _ask(ws, _request("spot.trades", ["DOGE_USDT"]))
            assert unknown["error"] == {"code": 2, "message": "unknown currency pair DOGE_USDT"}
            assert (await _ask(ws, _request("spot.trades", ["BTC_USDT"])))["error"] is None
            duplicate = await _ask(ws, _request("spot.trades", ["BTC_USDT"]))
            assert duplicate["error"]["code"] == 2
            for refused in [
                _request("spot.balances", []),  # no auth
                _signed("spot.balances", [], key="wrong-key"),
                _signed("spot.balances", [], secret="wrong-secret"),
                _signed("spot.balances", [], when=int(time.time()) - 120),  # stale
            ]:
                answer = await _ask(ws, refused)
                assert answer["error"]["code"] == 4, answer
                assert answer["error"]["message"].startswith("Authentication fail")
            good = await _ask(ws, _signed("spot.balances", []))
            assert good["error"] is None and good["result"] == {"status": "success"}
    async with tickwire.Simulator(["gateio"], ["BTC/USDT"]) as sim:
        async with connect(sim.url("gateio"), open_timeout=LIMIT) as ws:
            answer = await _ask(ws, _signed("spot.orders", ["!all"]))
            assert answer["error"]["code"] == 4, "no key configured: every private subscription is refused"


async def test_private_events_follow_the_fills_and_balances_stay_consistent() -> None:
    credentials = {"gateio": (KEY, SECRET)}
    async with tickwire.Simulator(["gateio"], ["BTC/USDT"], rate=5_000, credentials=credentials) as sim:
        async with connect(sim.url("gateio"), open_timeout=LIMIT, max_size=None) as ws:
            # Balances first: the account trades from its first authenticated subscription, and
            # none of its fills may go by before balances are pushed.
            assert (await _ask(ws, _signed("spot.balances", [])))["error"] is None
            assert (await _ask(ws, _signed("spot.orders", ["!all"])))["error"] is None
            totals: dict[str, Decimal] = {}
            events: dict[str, list[dict[str, Any]]] = {}
            fills = 0
            started = time.monotonic()
            while fills < 6:
                assert time.monotonic() - started < LIMIT, "fills come"
                message = await _recv_json(ws)
                if message["channel"] == "spot.orders":
                    for order in message["result"]:
                        events.setdefault(order["id"], []).append(order)
                elif message["channel"] == "spot.balances":
                    fills += 1
                    for balance in message["result"]:
                        total, change = Decimal(balance["total"]), Decimal(balance["change"])
                        before = totals.get(balance["currency"], Decimal(1_000_000))
                        assert before + change == total, "totals move by exactly the change"
                        assert balance["available"] == balance["total"]
                        totals[balance["currency"]] = total
            assert set(totals) == {"BTC", "USDT"}
            finished = [history for history in events.values() if history[-1]["event"] == "finish"]
            assert finished, events
            # An order put before spot.orders was subscribed shows only its finish.
            for history in (history for history in events.values() if history[0]["event"] == "put"):
                kinds = [order["event"] for order in history]
                assert kinds in (["put", "update"], ["put", "update", "finish"]), kinds
                put, update = history[0], history[1]
                assert put["left"] == put["amount"] and put["finish_as"] == "open"
                assert Decimal(update["left"]) * 2 == Decimal(put["amount"])
                assert put["currency_pair"] == "BTC_USDT" and put["type"] == "limit"
                if len(history) == 3:
                    finish = history[2]
                    assert Decimal(finish["left"]) == 0 and finish["finish_as"] == "filled"
                    assert Decimal(finish["filled_total"]) == Decimal(put["amount"]) * Decimal(put["price"])


async def test_faults_on_the_order_book_stream() -> None:
    async with tickwire.Simulator(["gateio"], ["BTC/USDT"], rate=3_000) as sim:
        async with connect(sim.url("gateio"), open_timeout=LIMIT, max_size=None) as ws:
            await _ask(ws, _request("spot.order_book_update", ["BTC_USDT", "100ms"]))
            last_u = (await _recv_json(ws))["result"]["u"]
            breaks = []
            for n in range(300):
                if n == 50:
                    # Gate sends no checksum: a bad checksum changes nothing on this venue.
                    assert sim.inject("gateio", "bad_checksum") == 1
                if n == 150:
                    assert sim.inject("gateio", "gap", "BTC/USDT") == 1
                result = (await _recv_json(ws))["result"]
                if result["U"] != last_u + 1:
                    breaks.append((last_u, result["U"]))
                last_u = result["u"]
            assert len(breaks) == 1 and breaks[0][1] == breaks[0][0] + 2, breaks
            assert sim.inject("gateio", "malformed") == 1
            while True:
                text = await asyncio.wait_for(ws.recv(), LIMIT)
                try:
                    json.loads(text)
                except json.JSONDecodeError:
                    break
            assert sim.inject("gateio", "disconnect") == 1
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), LIMIT)


async def test_user_trades_need_a_signature_and_are_the_fills_behind_orders_and_balances() -> None:
    credentials = {"gateio": (KEY, SECRET)}
    async with tickwire.Simulator(["gateio"], ["BTC/USDT"], rate=5_000, credentials=credentials) as sim:
        async with connect(sim.url("gateio"), open_timeout=LIMIT, max_size=None) as ws:
            unsigned = await _ask(ws, _request("spot.usertrades", ["BTC_USDT"]))
            assert unsigned["error"]["code"] == 4, unsigned
            # Fills first: the account trades from its first authenticated subscription.
            for channel, payload in [("spot.usertrades", ["BTC_USDT"]), ("spot.orders", ["!all"]), ("spot.balances", [])]:
                assert (await _ask(ws, _signed(channel, payload)))["error"] is None
            fills: list[dict[str, Any]] = []
            finished: list[dict[str, Any]] = []
            pending: dict[str, Any] | None = None
            started = time.monotonic()
            while len(finished) < 3:
                assert time.monotonic() - started < LIMIT, "fills come"
                message = await _recv_json(ws)
                if message["channel"] == "spot.usertrades":
                    (pending,) = message["result"]
                    fills.append(pending)
                elif message["channel"] == "spot.balances":
                    assert pending is not None, "a balance push follows its fill"
                    changes = {balance["currency"]: Decimal(balance["change"]) for balance in message["result"]}
                    amount, price, fee = Decimal(pending["amount"]), Decimal(pending["price"]), Decimal(pending["fee"])
                    if pending["side"] == "buy":
                        expected = {"BTC": amount - fee, "USDT": -amount * price}
                        assert pending["fee_currency"] == "BTC"
                    else:
                        expected = {"BTC": -amount, "USDT": amount * price - fee}
                        assert pending["fee_currency"] == "USDT"
                    assert changes == expected, (pending, message)
                    pending = None
                elif message["channel"] == "spot.orders":
                    finished += [order for order in message["result"] if order["event"] == "finish"]
            for fill in fills:
                assert fill["currency_pair"] == "BTC_USDT" and fill["role"] == "maker" and fill["user_id"] > 0
                assert Decimal(fill["create_time_ms"]) // 1000 == fill["create_time"]
            for order in finished:
                own = [fill for fill in fills if fill["order_id"] == order["id"]]
                if len(own) == 2:  # an order put before the subscription shows one fill
                    assert sum(Decimal(fill["amount"]) for fill in own) == Decimal(order["filled_amount"])
                    assert sum(Decimal(fill["fee"]) for fill in own) == Decimal(order["fee"])


async def test_tickers_carry_gates_fields() -> None:
    async with tickwire.Simulator(["gateio"], ["BTC/USDT", "ETH/USDT"], rate=3_000) as sim:
        async with connect(sim.url("gateio"), open_timeout=LIMIT) as ws:
            answer = await _ask(ws, _request("spot.tickers", ["BTC_USDT"]))
            assert answer["error"] is None and answer["result"] == {"status": "success"}
            fields = {"currency_pair", "last", "lowest_ask", "highest_bid", "change_percentage", "base_volume", "quote_volume", "high_24h", "low_24h"}
            for _ in range(20):
                message = await _recv_json(ws)
                assert message["channel"] == "spot.tickers" and message["event"] == "update"
                ticker = message["result"]
                assert set(ticker) == fields and ticker["currency_pair"] == "BTC_USDT"
                assert Decimal(ticker["low_24h"]) <= Decimal(ticker["last"]) <= Decimal(ticker["high_24h"])
                assert Decimal(ticker["highest_bid"]) < Decimal(ticker["lowest_ask"])
                assert Decimal(ticker["change_percentage"]).as_tuple().exponent == -2
                assert Decimal(ticker["quote_volume"]) >= 0 and Decimal(ticker["base_volume"]) >= 0
            assert (await _ask(ws, _request("spot.tickers", ["BTC_USDT"], event="unsubscribe")))["error"] is None
            assert await _drain(ws) == [], "nothing after the answer to the unsubscribe"
