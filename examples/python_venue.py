"""A venue written in Python: Binance's trade stream over ``tickwire.PythonVenue``, in the dozen
lines a user writes for an exchange tickwire does not ship. The feed gives it the Rust
session, reconnection, subscription tracking and handler tables; its ``parse`` is msgspec.

Run against the simulator's Binance (``python examples/python_venue.py``); type-checked with
``mypy --strict`` in ``make lint``; the benchmark (``benches/compare.py``, client
``tickwire-pyvenue``) measures this very class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Literal

import msgspec

import tickwire


class _Trade(msgspec.Struct):
    s: str  # symbol, as Binance spells it
    t: int  # trade id
    p: str  # price
    q: str  # quantity
    T: int  # trade time, ms
    m: bool  # the buyer made the market: the taker sold


class _Combined(msgspec.Struct):
    data: _Trade | None = None
    id: int | None = None  # an answer to a request
    error: dict[str, object] | None = None


class BinanceTrades(tickwire.PythonVenue):
    """Binance spot trades (``<symbol>@trade``), raw or combined-stream frames."""

    name = "binance-py"
    url = "wss://stream.binance.com:9443/stream"
    _combined = msgspec.json.Decoder(_Combined).decode
    _raw = msgspec.json.Decoder(_Trade).decode

    def __init__(self, *, url: str | None = None) -> None:
        super().__init__(url=url)
        self.unified: dict[str, str] = {}  # "BTCUSDT" → "BTC/USDT", as subscribed

    def subscribe_request(self, request_id: int, subscriptions: list[tickwire.Subscription]) -> bytes:
        for symbol, _ in subscriptions:
            self.unified[symbol.replace("/", "")] = symbol
        streams = [f"{symbol.replace('/', '').lower()}@trade" for symbol, _ in subscriptions]
        return msgspec.json.encode({"method": "SUBSCRIBE", "params": streams, "id": request_id})

    def parse(self, message: str | bytes, receive_time_ns: int) -> Iterable[object]:
        if message[2:3] in ("e", b"e"):  # a raw frame: {"e":"trade",…}
            trade = self._raw(message)
        else:
            frame = self._combined(message)
            if frame.data is None:
                return [tickwire.Ack(frame.id, None if frame.error is None else str(frame.error))]
            trade = frame.data
        side: Literal["buy", "sell"] = "sell" if trade.m else "buy"
        return [tickwire.Trade(self.name, self.unified[trade.s], trade.p, trade.q, side, str(trade.t), trade.T * 1_000_000, receive_time_ns)]


async def run(seconds: float) -> list[tickwire.Trade]:
    """Stream BTC/USDT trades from the simulator's Binance for ``seconds``."""
    trades: list[tickwire.Trade] = []
    async with tickwire.Simulator(["binance"], ["BTC/USDT"], rate=1_000) as sim:
        feed = tickwire.Feed()
        feed.subscribe(BinanceTrades(url=sim.url("binance")), ["BTC/USDT"], ["trades"])
        feed.on_trade(trades.append)
        async with feed:
            await asyncio.sleep(seconds)
    return trades


if __name__ == "__main__":
    received = asyncio.run(run(2.0))
    print(f"{len(received)} trades; last {received[-1] if received else None}")
