"""The simulator's MEXC spot v3 from Python, against the ``websockets`` client on loopback: JSON
requests and answers, binary protobuf pushes read with a wire-format reader written here (no
protobuf package), continuous trade ids and book versions, faults, and a book built the Binance
way (REST snapshot, then pushes) that equals the simulator's true book."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

import tickwire
from tickwire import _core

LIMIT = 10.0
DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
DEPTH = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"
TICKER = "spot@public.aggre.bookTicker.v3.api.pb@10ms@BTCUSDT"

# PushDataV3ApiWrapper's body fields (mexcdevelop/websocket-proto).
DEPTHS_BODY, DEALS_BODY, TICKER_BODY = 313, 314, 315


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> dict[int, list[int | bytes]]:
    """Protobuf wire format: field number → its values (varints as int, length-delimited as
    bytes), in order."""
    fields: dict[int, list[int | bytes]] = {}
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == 0:
            value, at = _varint(data, at)
        elif wire_type == 2:
            length, at = _varint(data, at)
            value, at = data[at : at + length], at + length
        elif wire_type in (1, 5):
            size = 8 if wire_type == 1 else 4
            value, at = int.from_bytes(data[at : at + size], "little"), at + size
        else:
            raise ValueError(f"wire type {wire_type}")
        fields.setdefault(number, []).append(value)
    return fields


def _text(fields: dict[int, list[int | bytes]], number: int) -> str:
    value = fields.get(number, [b""])[-1]
    assert isinstance(value, bytes)
    return value.decode()


def _number(fields: dict[int, list[int | bytes]], number: int) -> int:
    value = fields.get(number, [0])[-1]
    assert isinstance(value, int)
    return value


def _levels(items: list[int | bytes]) -> list[tuple[Decimal, Decimal]]:
    levels = []
    for item in items:
        assert isinstance(item, bytes)
        level = _fields(item)
        levels.append((Decimal(_text(level, 1)), Decimal(_text(level, 2))))
    return levels


@dataclass
class Push:
    """One decoded PushDataV3ApiWrapper."""

    channel: str
    symbol: str
    send_time: int
    kind: int
    body: dict[int, list[int | bytes]] = field(repr=False)


def _push(frame: bytes) -> Push:
    wrapper = _fields(frame)
    kinds = [number for number in (DEPTHS_BODY, DEALS_BODY, TICKER_BODY) if number in wrapper]
    assert len(kinds) == 1, wrapper.keys()
    body = wrapper[kinds[0]][0]
    assert isinstance(body, bytes)
    return Push(_text(wrapper, 1), _text(wrapper, 3), _number(wrapper, 6), kinds[0], _fields(body))


async def _next(ws: ClientConnection) -> str | Push:
    """The next frame: a text answer, or a push."""
    frame = await asyncio.wait_for(ws.recv(), LIMIT)
    return frame if isinstance(frame, str) else _push(frame)


async def _answer(ws: ClientConnection, request: dict[str, Any]) -> Any:
    await ws.send(json.dumps(request))
    while True:
        frame = await _next(ws)
        if isinstance(frame, str):
            return json.loads(frame)


async def _pushes(ws: ClientConnection, kind: int, count: int) -> list[Push]:
    pushes: list[Push] = []
    while len(pushes) < count:
        frame = await _next(ws)
        if isinstance(frame, Push) and frame.kind == kind:
            pushes.append(frame)
    return pushes


def _versions(push: Push) -> tuple[int, int]:
    return int(_text(push.body, 4)), int(_text(push.body, 5))


async def _snapshot(sim: tickwire.Simulator, limit: int = 1000) -> Any:
    url = sim.url("mexc").replace("ws://", "http://").replace("/ws", f"/api/v3/depth?symbol=BTCUSDT&limit={limit}")
    return json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read()))


async def _connected(sim: tickwire.Simulator, count: int) -> None:
    deadline = time.monotonic() + LIMIT
    while sim.stats()["mexc"]["clients_connected"] < count:
        assert time.monotonic() < deadline, "the client is not connected"
        await asyncio.sleep(0.01)


async def test_mexc_is_a_registered_venue_served_at_ws() -> None:
    async with tickwire.Simulator(["mexc"], ["BTC/USDT", "ETH/USDT"], rate=200) as sim:
        urls = sim.urls()
        assert list(urls) == ["mexc"] and urls["mexc"].startswith("ws://127.0.0.1:")
        assert urls["mexc"].endswith("/ws") and sim.url("mexc") == urls["mexc"]
        assert sim.markets("mexc") == [("BTC/USDT", "BTCUSDT"), ("ETH/USDT", "ETHUSDT")]
        # The Python venue registers the same traits: no conflict, the same venue.
        _core.register_venue("mexc", symbol_separator="", book_sync="rest_snapshot")
        with pytest.raises(ValueError, match="already registered"):
            _core.register_venue("mexc", symbol_separator="_", book_sync="rest_snapshot")
        book = sim.book("mexc", "BTC/USDT")
        assert book.bids and book.asks and book.bids[0][0] < book.asks[0][0]


async def test_requests_are_answered_as_mexc_does() -> None:
    async with tickwire.Simulator(["mexc"], ["BTC/USDT"], rate=200) as sim, connect(sim.url("mexc")) as ws:
        assert await _answer(ws, {"method": "PING"}) == {"id": 0, "code": 0, "msg": "PONG"}
        answer = await _answer(ws, {"method": "SUBSCRIPTION", "params": [DEALS, DEPTH]})
        assert answer == {"id": 0, "code": 0, "msg": f"{DEALS},{DEPTH}"}
        unknown = [DEPTH.replace("BTCUSDT", "DOGEUSDT")]
        answer = await _answer(ws, {"method": "SUBSCRIPTION", "params": unknown})
        assert answer == {"id": 0, "code": 0, "msg": f"Not Subscribed successfully! [{unknown[0]}].  Reason： Blocked! "}
        many = [f"spot@public.aggre.deals.v3.api.pb@10ms@C{n}USDT" for n in range(29)]
        answer = await _answer(ws, {"method": "SUBSCRIPTION", "params": many})
        assert answer["msg"].startswith("Not Subscribed successfully!"), "unknown symbols"
        answer = await _answer(ws, {"method": "UNSUBSCRIPTION", "params": [DEALS]})
        assert answer == {"id": 0, "code": 0, "msg": DEALS}
        answer = await _answer(ws, {"method": "SUBSCRIBE", "params": [], "id": 4})
        assert answer["id"] == 4 and answer["code"] == 1


async def test_more_than_thirty_topics_are_refused() -> None:
    symbols = [f"C{n}/USDT" for n in range(31)]
    async with tickwire.Simulator(["mexc"], symbols, rate=10) as sim, connect(sim.url("mexc")) as ws:
        topics = [f"spot@public.aggre.deals.v3.api.pb@100ms@C{n}USDT" for n in range(31)]
        answer = await _answer(ws, {"method": "SUBSCRIPTION", "params": topics[:30]})
        assert answer == {"id": 0, "code": 0, "msg": ",".join(topics[:30])}
        answer = await _answer(ws, {"method": "SUBSCRIPTION", "params": topics[30:]})
        assert answer == {"id": 0, "code": 0, "msg": f"Not Subscribed successfully! [{topics[30]}].  Reason： Blocked! "}


async def test_trade_ids_and_versions_are_continuous_and_the_ticker_is_the_top() -> None:
    async with tickwire.Simulator(["mexc"], ["BTC/USDT"], rate=2000) as sim, connect(sim.url("mexc")) as ws:
        await _answer(ws, {"method": "SUBSCRIPTION", "params": [DEALS, DEPTH, TICKER]})
        trade_ids: list[int] = []
        versions: list[tuple[int, int]] = []
        tickers = 0
        while len(trade_ids) < 100 or len(versions) < 100 or tickers < 5:
            frame = await _next(ws)
            assert isinstance(frame, Push) and frame.symbol == "BTCUSDT" and frame.send_time > 1.6e12
            if frame.kind == DEALS_BODY:
                assert frame.channel == DEALS and _text(frame.body, 2) == DEALS.removesuffix("@BTCUSDT")
                for raw in frame.body[1]:
                    assert isinstance(raw, bytes)
                    deal = _fields(raw)
                    assert _number(deal, 3) in (1, 2) and _number(deal, 4) > 1.6e12
                    assert Decimal(_text(deal, 1)) > 0 and Decimal(_text(deal, 2)) > 0
                    trade_ids.append(int(_text(deal, 5)))
            elif frame.kind == DEPTHS_BODY:
                assert frame.channel == DEPTH
                versions.append(_versions(frame))
            else:
                assert frame.channel == TICKER
                bid, ask = Decimal(_text(frame.body, 1)), Decimal(_text(frame.body, 3))
                assert bid < ask
                tickers += 1
        assert trade_ids == list(range(trade_ids[0], trade_ids[0] + len(trade_ids)))
        assert all(after[0] == before[1] + 1 for before, after in zip(versions, versions[1:]))


async def test_a_gap_skips_one_push_and_bad_checksum_changes_nothing() -> None:
    async with tickwire.Simulator(["mexc"], ["BTC/USDT"], rate=2000) as sim, connect(sim.url("mexc")) as ws:
        await _answer(ws, {"method": "SUBSCRIPTION", "params": [DEPTH]})
        # A push before the faults, so a gap at the next one still shows.
        before = await _pushes(ws, DEPTHS_BODY, 1)
        assert sim.inject("mexc", "bad_checksum") == 1, "accepted: MEXC has no checksum to spoil"
        assert sim.inject("mexc", "gap", symbol="BTC/USDT") == 1
        versions = [_versions(push) for push in before + await _pushes(ws, DEPTHS_BODY, 300)]
        steps = [after[0] - before[1] for before, after in zip(versions, versions[1:])]
        assert sorted(set(steps)) == [1, 2] and steps.count(2) == 1, "exactly one push skipped"


async def test_disconnect_and_malformed_faults_reach_the_client() -> None:
    async with tickwire.Simulator(["mexc"], ["BTC/USDT"], rate=200) as sim, connect(sim.url("mexc")) as ws:
        await _answer(ws, {"method": "SUBSCRIPTION", "params": [DEALS]})
        await _connected(sim, 1)
        sim.inject("mexc", "malformed")
        while True:
            frame = await _next(ws)
            if isinstance(frame, str):
                with pytest.raises(json.JSONDecodeError):
                    json.loads(frame)
                break
        sim.inject("mexc", "disconnect")
        with pytest.raises(ConnectionClosed):
            while True:
                await _next(ws)


async def test_a_book_from_the_rest_snapshot_and_pushes_is_the_true_book() -> None:
    async with tickwire.Simulator(["mexc"], ["BTC/USDT"], rate=2000) as sim, connect(sim.url("mexc")) as ws:
        await _answer(ws, {"method": "SUBSCRIPTION", "params": [DEPTH]})
        buffered = await _pushes(ws, DEPTHS_BODY, 5)
        snapshot = await _snapshot(sim)
        version = snapshot["lastUpdateId"]
        bids = {Decimal(p): Decimal(q) for p, q in snapshot["bids"]}
        asks = {Decimal(p): Decimal(q) for p, q in snapshot["asks"]}
        last = version

        def apply(push: Push) -> None:
            nonlocal last
            first, to = _versions(push)
            if to <= last:
                return  # the snapshot holds it already
            assert first == last + 1, f"{first} does not follow {last}"
            for side, number in ((asks, 1), (bids, 2)):
                for price, qty in _levels(push.body.get(number, [])):
                    if qty == 0:
                        side.pop(price, None)
                    else:
                        side[price] = qty
            last = to

        # The first push applied is the one whose range holds the snapshot's version + 1.
        for push in buffered:
            apply(push)
        for push in await _pushes(ws, DEPTHS_BODY, 200):
            apply(push)
        assert last > version, "the pushes went past the snapshot"
        sim.pause("mexc")
        try:
            # Take what was already sent: the stream is quiet once the pause has taken effect.
            while True:
                try:
                    frame = await asyncio.wait_for(ws.recv(), 0.3)
                except TimeoutError:
                    break
                assert isinstance(frame, bytes)
                push = _push(frame)
                if push.kind == DEPTHS_BODY:
                    apply(push)
            truth = sim.book("mexc", "BTC/USDT")
            assert truth.update_id == last
            assert sorted(bids.items(), reverse=True) == truth.bids
            assert sorted(asks.items()) == truth.asks
        finally:
            sim.resume("mexc")
