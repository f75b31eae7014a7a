"""Order books end to end: simulator → feed → books, with injected faults.

Each built-in venue's books are built from the simulator's stream, broken on purpose (a dropped
update, a wrong checksum, a lost connection, silence), and must be reported, resynced by
themselves, and end equal to the simulator's true book. A mirror built in Python from nothing
but the ``on_book`` / ``on_book_invalid`` stream must agree too: whoever follows the stream
never applies a delta to a book that could not be vouched for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import tickwire
from tickwire import BookInvalid, BookUpdate, BookView

#: The built-in venues, then the venues written in Python that tickwire ships.
VENUES = ["binance", "bybit", "okx", "coinbase", "kraken", "gateio", "mexc"]
#: The venues whose books start from a REST snapshot.
REST_SNAPSHOT_VENUES = ("binance", "mexc")
#: Levels compared with the simulator's book: Kraken's subscription keeps the top 10.
TOP = 10
#: Each venue's book depth window in the mirror (Kraken does not delete levels leaving it).
MIRROR_DEPTH = {"kraken": 10}
#: The reason a dropped update shows as: no sequence numbers at Kraken, only the checksum.
GAP_REASON = {"kraken": "checksum_mismatch"}
CHECKSUM_VENUES = ["okx", "kraken"]

Level = tuple[Decimal, Decimal]


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


class Mirror:
    """A book per symbol rebuilt from the feed's stream alone, checking the stream's promise:
    after a BookInvalid, nothing but a snapshot comes next."""

    def __init__(self, venue: str) -> None:
        self.depth = MIRROR_DEPTH.get(venue)
        self.bids: dict[str, dict[Decimal, Decimal]] = {}
        self.asks: dict[str, dict[Decimal, Decimal]] = {}
        self.valid: dict[str, bool] = {}
        self.invalid: list[BookInvalid] = []
        self.deltas_while_invalid = 0
        self.crossed_after_update = 0
        self.snapshots: dict[str, int] = {}

    def on_book(self, update: BookUpdate) -> None:
        symbol = update.symbol
        if update.is_snapshot:
            self.bids[symbol], self.asks[symbol] = {}, {}
            self.valid[symbol] = True
            self.snapshots[symbol] = self.snapshots.get(symbol, 0) + 1
        elif not self.valid.get(symbol):
            self.deltas_while_invalid += 1
            return
        for side, levels in ((self.bids[symbol], update.bids), (self.asks[symbol], update.asks)):
            for price, qty in levels:
                if qty == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        if self.depth is not None:
            for side, best_first in ((self.bids[symbol], True), (self.asks[symbol], False)):
                for price in sorted(side, reverse=best_first)[self.depth :]:
                    del side[price]
        bid, ask = self.top(symbol, 1)
        if bid and ask and bid[0][0] >= ask[0][0]:
            self.crossed_after_update += 1

    def on_invalid(self, invalid: BookInvalid) -> None:
        self.invalid.append(invalid)
        self.valid[invalid.symbol] = False

    def top(self, symbol: str, n: int) -> tuple[list[Level], list[Level]]:
        bids = sorted(self.bids.get(symbol, {}).items(), reverse=True)[:n]
        asks = sorted(self.asks.get(symbol, {}).items())[:n]
        return bids, asks


def view_top(view: BookView, n: int) -> tuple[list[Level], list[Level]]:
    bids, asks = view.levels(n)
    return list(bids), list(asks)


def truth_top(sim: tickwire.Simulator, venue: str, symbol: str, n: int) -> tuple[list[Level], list[Level]]:
    book = sim.book(venue, symbol)
    return list(book.bids[:n]), list(book.asks[:n])


class Rig:
    """A simulator of one venue, a feed on the books of two of its symbols, and a mirror."""

    def __init__(self, venue: str, **feed_options: Any) -> None:
        self.venue = venue
        self.sim = tickwire.Simulator(venues=[venue], rate=2000, seed=11)
        self.feed_options = feed_options
        self.mirror = Mirror(venue)
        self.errors: list[BaseException] = []

    async def __aenter__(self) -> Rig:
        await self.sim.__aenter__()
        self.symbols = [unified for unified, _ in self.sim.markets(self.venue)][:2]
        self.feed = tickwire.Feed(urls=self.sim.urls(), **self.feed_options)
        self.feed.subscribe(self.venue, self.symbols, ["book"])
        self.feed.on_book(self.mirror.on_book)
        self.feed.on_book_invalid(self.mirror.on_invalid)
        self.feed.on_error(self.errors.append)
        await self.feed.start()
        await self.all_valid("the first snapshots")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.feed.stop()
        await self.sim.close()

    def view(self, symbol: str) -> BookView:
        return self.feed.book(self.venue, symbol)

    async def all_valid(self, what: str, timeout: float = 10.0) -> None:
        await wait_for(lambda: all(self.view(s).is_valid for s in self.symbols), timeout, f"{self.venue} {what}")

    async def invalid_for(self, symbol: str, reason: str, timeout: float = 10.0) -> BookInvalid:
        def found() -> bool:
            return any(i.symbol == symbol and i.reason == reason for i in self.mirror.invalid)

        await wait_for(found, timeout, f"a {reason} BookInvalid of {self.venue} {symbol}")
        return next(i for i in self.mirror.invalid if i.symbol == symbol and i.reason == reason)

    async def break_by(self, symbol: str, fault: tickwire.Fault, reason: str) -> BookInvalid:
        """Injects ``fault`` until the book reports ``reason``. A dropped Kraken update can be
        harmless: a later update of the same level carries its absolute quantity and heals the
        book before any checksum differs. Each try that is not reported must have left the book
        true, so nothing wrong goes unnoticed either way."""
        for _ in range(5):
            self.sim.inject(self.venue, fault, symbol=symbol)
            try:
                return await self.invalid_for(symbol, reason, timeout=3.0)
            except AssertionError:
                await self.settle_and_compare()
        raise AssertionError(f"five {fault} faults and not one {reason} of {self.venue} {symbol}")

    async def settle_and_compare(self) -> None:
        """Pauses the market, waits until every book equals the simulator's, checks the mirror
        agrees, resumes."""
        self.sim.pause()
        try:
            for symbol in self.symbols:
                truth = truth_top(self.sim, self.venue, symbol, TOP)

                def caught_up(symbol: str = symbol, truth: Any = truth) -> bool:
                    return self.view(symbol).is_valid and view_top(self.view(symbol), TOP) == truth

                try:
                    await wait_for(caught_up, 5.0, f"{self.venue} {symbol} to equal the simulator's book")
                except AssertionError:
                    assert view_top(self.view(symbol), TOP) == truth  # shows the difference
                    raise
                assert self.mirror.top(symbol, TOP) == truth, "the stream's mirror differs"
        finally:
            self.sim.resume()


@pytest.mark.parametrize("venue", VENUES)
async def test_a_dropped_update_is_reported_resynced_and_the_book_ends_true(venue: str) -> None:
    async with asyncio.timeout(60), Rig(venue) as rig:
        await rig.settle_and_compare()
        target = rig.symbols[0]
        snapshots_before = rig.mirror.snapshots[target]
        invalid = await rig.break_by(target, "gap", GAP_REASON.get(venue, "gap"))
        assert invalid.venue == venue
        assert invalid.resync == ("fetch_snapshot" if venue in REST_SNAPSHOT_VENUES else "resubscribe")
        if invalid.reason == "gap":
            assert invalid.expected is not None and invalid.got is not None
            assert invalid.got > invalid.expected, invalid
        await rig.all_valid("resync after the gap")
        assert rig.mirror.snapshots[target] > snapshots_before, "a fresh snapshot follows"
        await rig.settle_and_compare()
        assert rig.mirror.deltas_while_invalid == 0
        assert rig.mirror.crossed_after_update == 0, "books never cross in normal operation"
        books = rig.feed.metrics()["venues"][venue]["books"]
        assert books["gaps"] + books["checksum_failures"] >= 1
        assert books["resyncs"] >= 1 and books["valid"] == 2
        assert not rig.errors, rig.errors


@pytest.mark.parametrize("venue", CHECKSUM_VENUES)
async def test_a_wrong_checksum_is_reported_and_resynced(venue: str) -> None:
    async with asyncio.timeout(60), Rig(venue) as rig:
        target = rig.symbols[1]
        invalid = await rig.break_by(target, "bad_checksum", "checksum_mismatch")
        assert invalid.expected != invalid.got
        assert "checksum mismatch" in invalid.message
        await rig.all_valid("resync after the wrong checksum")
        await rig.settle_and_compare()
        assert rig.feed.metrics()["venues"][venue]["books"]["checksum_failures"] >= 1
        assert rig.mirror.deltas_while_invalid == 0


@pytest.mark.parametrize("venue", ["binance", "coinbase", "gateio", "mexc"])
async def test_a_lost_connection_invalidates_the_books_until_the_new_snapshots(venue: str) -> None:
    async with asyncio.timeout(60), Rig(venue) as rig:
        rig.sim.inject(venue, "disconnect")
        invalid = await rig.invalid_for(rig.symbols[0], "disconnected")
        assert invalid.resync is None, "the reconnect brings the snapshots"
        await rig.all_valid("the snapshots after the reconnect")
        await rig.settle_and_compare()
        assert rig.mirror.deltas_while_invalid == 0


async def test_a_silent_book_goes_stale_and_resubscribes() -> None:
    async with asyncio.timeout(60), Rig("bybit", book_stale_after=0.5) as rig:
        target = rig.symbols[0]
        rig.sim.pause()
        invalid = await rig.invalid_for(target, "stale")
        view = rig.view(target)
        # Invalid, and says so, until the resubscription's snapshot (sent while paused too).
        assert "stale" in invalid.message
        await wait_for(lambda: rig.mirror.snapshots[target] >= 2, 10, "the resubscription's snapshot")
        rig.sim.resume()
        await rig.all_valid("after the stale resync")
        assert view.is_valid
        assert rig.feed.metrics()["venues"]["bybit"]["books"]["stale"] >= 1


async def test_binance_snapshot_failures_are_reported_and_the_breaker_holds_fetches_back() -> None:
    async with asyncio.timeout(30), tickwire.Simulator(venues=["binance"], rate=2000) as sim:
        errors: list[BaseException] = []
        # Nothing listens on port 9 of loopback: every fetch is refused.
        feed = tickwire.Feed(
            urls=sim.urls(),
            snapshot_urls={"binance": "http://127.0.0.1:9"},
            resync_max=2,
            resync_window=60,
        )
        feed.on_error(errors.append)
        feed.subscribe("binance", ["BTC/USDT"], ["book"])
        updates: list[BookUpdate] = []
        feed.on_book(updates.append)
        async with feed:
            await wait_for(lambda: len(errors) >= 2, 10, "two failed fetches")
            await asyncio.sleep(1.0)
            assert len(errors) == 2, "the breaker holds the third fetch back"
            assert all(isinstance(e, tickwire.BookSnapshotError) for e in errors), errors
            first = errors[0]
            assert isinstance(first, tickwire.BookSnapshotError)
            assert (first.venue, first.symbol) == ("binance", "BTC/USDT")
            assert "127.0.0.1:9" in str(first)
            view = feed.book("binance", "BTC/USDT")
            assert not view.is_valid and view.state == "pending" and view.message == "no snapshot yet"
            assert updates == [], "no delta of a book without a snapshot reaches anyone"
            books = feed.metrics()["venues"]["binance"]["books"]
            assert books["resyncs_held"] >= 1 and books["valid"] == 0


async def test_book_view_reads_the_book_inside_on_book_as_of_that_update() -> None:
    async with asyncio.timeout(30), Rig("okx") as rig:
        seen: list[tuple[int | None, int | None]] = []
        target = rig.symbols[0]
        view = rig.view(target)

        def check(update: BookUpdate) -> None:
            if update.symbol == target:
                seen.append((update.last_sequence, view.last_sequence))

        rig.feed.on_book(check)
        await wait_for(lambda: len(seen) >= 50, 10, "50 updates")
        assert all(got == expected for expected, got in seen), "the view shows the book after that update"
        bid, ask = view.best_bid, view.best_ask
        assert bid is not None and ask is not None
        assert isinstance(bid[0], Decimal) and bid[0] < ask[0]
        assert view.spread == ask[0] - bid[0]
        assert view.mid == (bid[0] + ask[0]) / 2
        bids, asks = view.levels(5)
        assert len(bids) == len(asks) == 5
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        assert view.depth[0] >= 5 and view.state == "valid" and view.reason is None
        assert "valid" in repr(view) and target in repr(view)
        with pytest.raises(ValueError, match="not subscribed to the book"):
            rig.feed.book("okx", rig.symbols[1].replace("BTC", "DOGE").replace("ETH", "DOGE"))


async def test_book_view_numpy_arrays_hold_the_top_levels() -> None:
    np = pytest.importorskip("numpy")
    async with asyncio.timeout(30), Rig("bybit") as rig:
        rig.sim.pause()
        await asyncio.sleep(0.2)
        view = rig.view(rig.symbols[0])
        bids, asks = view.to_numpy(3)
        assert bids.shape == (3, 2) and bids.dtype == np.float64
        levels_bids, levels_asks = view.levels(3)
        assert [tuple(row) for row in bids.tolist()] == [(float(p), float(q)) for p, q in levels_bids]
        assert [tuple(row) for row in asks.tolist()] == [(float(p), float(q)) for p, q in levels_asks]
        assert not bids.flags.writeable, "a read-only view"
        rig.sim.resume()


def test_feed_refuses_bad_book_settings() -> None:
    with pytest.raises(ValueError, match="book_depth"):
        tickwire.Feed(book_depth=0)
    with pytest.raises(ValueError, match="book_stale_after"):
        tickwire.Feed(book_stale_after=0)
    with pytest.raises(ValueError, match="resync_max"):
        tickwire.Feed(resync_max=0)


async def test_stopping_the_feed_ends_its_books_without_book_invalid_callbacks() -> None:
    """A feed's own stop is no lost connection: no BookInvalid reaches the handlers, yet a
    view read afterwards no longer claims a book that nobody maintains."""
    async with tickwire.Simulator(["binance", "gateio"], ["BTC/USDT"], rate=1_000) as sim:
        feed = tickwire.Feed(urls=sim.urls())
        invalid: list[BookInvalid] = []
        feed.on_book_invalid(invalid.append)
        feed.subscribe("binance", ["BTC/USDT"], ["book"])
        feed.subscribe("gateio", ["BTC/USDT"], ["book"])
        views = [feed.book("binance", "BTC/USDT"), feed.book("gateio", "BTC/USDT")]
        async with feed:
            await wait_for(lambda: all(view.is_valid for view in views), 10.0, "both books valid")
        await wait_for(lambda: [view.reason for view in views] == ["disconnected"] * 2, 5.0, "the books ended")
        assert invalid == []
        # Started again, a lost connection is reported as ever.
        async with feed:
            await wait_for(lambda: all(view.is_valid for view in views), 10.0, "both books valid again")
            sim.inject("gateio", "disconnect")
            await wait_for(lambda: any(i.venue == "gateio" for i in invalid), 10.0, "the lost connection reported")
