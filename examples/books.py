"""Order books that are never silently wrong, against the local simulator; type-checked with
``mypy --strict`` in ``make lint``.

Keeps Binance's and Kraken's BTC/USD(T) books, reads each one inside ``on_book`` (the book as
it stands after that update), drops an update on purpose, and shows the ``BookInvalid`` that
reports it and the resync that follows.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import tickwire

BOOKS = {"binance": "BTC/USDT", "kraken": "BTC/USD"}


async def run(seconds: float) -> tuple[dict[str, Decimal], list[tickwire.BookInvalid]]:
    """Stream for ``seconds`` with one dropped update per venue halfway; return each book's
    last mid price and the invalidations seen."""
    mids: dict[str, Decimal] = {}
    invalid: list[tickwire.BookInvalid] = []

    async with tickwire.Simulator(list(BOOKS), sorted(set(BOOKS.values())), rate=2_000) as sim:
        feed = tickwire.Feed(urls=sim.urls())
        for venue, symbol in BOOKS.items():
            feed.subscribe(venue, [symbol], ["book"])
        views = {venue: feed.book(venue, symbol) for venue, symbol in BOOKS.items()}

        @feed.on_book
        def on_book(update: tickwire.BookUpdate) -> None:
            view = views[update.venue]
            mid = view.mid
            if view.is_valid and mid is not None:
                mids[update.venue] = mid

        @feed.on_book_invalid
        def on_invalid(event: tickwire.BookInvalid) -> None:
            invalid.append(event)
            print(f"{event.venue} {event.symbol}: {event.message}; resync: {event.resync}")

        async with feed:
            await asyncio.sleep(seconds / 2)
            for venue, symbol in BOOKS.items():
                sim.inject(venue, "gap", symbol=symbol)
            await asyncio.sleep(seconds / 2)
            for venue, view in views.items():
                print(f"{view!r}: mid {view.mid}, spread {view.spread}, top 3 {view.levels(3)}")
    return mids, invalid


if __name__ == "__main__":
    asyncio.run(run(2.0))
