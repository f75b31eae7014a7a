"""Normalized market data from the built-in venues, against the local simulator; type-checked
with ``mypy --strict`` in ``make lint``.

Starts a simulator of Binance and OKX, subscribes a feed to trades and best bid/offer, routes
one symbol's quotes to a handler of its own, and prints what arrived after two seconds.
"""

from __future__ import annotations

import asyncio
import collections
from decimal import Decimal

import tickwire


async def run(seconds: float) -> dict[str, int]:
    """Stream for ``seconds``; return the number of trades per venue."""
    trades: collections.Counter[str] = collections.Counter()
    last_quote: dict[str, tickwire.BBO] = {}
    notional = Decimal(0)

    async with tickwire.Simulator(["binance", "okx"], ["BTC/USDT", "ETH/USDT"], rate=2_000) as sim:
        feed = tickwire.Feed(urls=sim.urls())
        feed.subscribe("binance", ["BTC/USDT", "ETH/USDT"], ["trades", "bbo"])
        feed.subscribe("okx", ["BTC/USDT"], ["trades"])

        @feed.on_trade
        def on_trade(trade: tickwire.Trade) -> None:
            nonlocal notional
            trades[trade.venue] += 1
            notional += trade.price * trade.qty  # exact: decimal.Decimal

        def on_btc_quote(bbo: tickwire.BBO) -> None:
            last_quote[bbo.symbol] = bbo

        feed.on("bbo", on_btc_quote, venue="binance", symbol="BTC/USDT")

        @feed.on_error
        def on_error(error: Exception) -> None:
            print(f"feed error: {error}")

        async with feed:
            await asyncio.sleep(seconds)
        print(f"traded notional {notional}; last BTC/USDT quote {last_quote.get('BTC/USDT')!r}")
    return dict(trades)


if __name__ == "__main__":
    print(asyncio.run(run(2.0)))
