"""The README's quick start: a strategy with callbacks, on the local simulator.

Prints each trade with the book's spread while the book is proven valid, and says so when the
book cannot be trusted (it then resyncs by itself). Type-checked with ``mypy --strict``.
"""

import asyncio

import tickwire


class Spread(tickwire.Strategy):
    def on_start(self, feed: tickwire.Feed) -> None:
        self.book = feed.book("binance", "BTC/USDT")

    def on_trade(self, trade: tickwire.Trade) -> None:
        if self.book.is_valid:  # proven by the venue's sequence numbers
            print(trade.side, trade.qty, "@", trade.price, "spread", self.book.spread)

    def on_book_invalid(self, event: tickwire.BookInvalid) -> None:
        print("book not trustworthy:", event.message, "- resyncing")


async def main(seconds: float = 3.0) -> None:
    async with tickwire.Simulator(["binance"]) as sim:  # no exchange needed
        feed = tickwire.Feed(urls=sim.urls())  # drop urls= for production
        feed.subscribe("binance", ["BTC/USDT"], ["trades", "book"])
        feed.add_strategy(Spread())
        async with feed:
            await asyncio.sleep(seconds)


if __name__ == "__main__":
    asyncio.run(main())
