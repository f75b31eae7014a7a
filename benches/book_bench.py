"""The ``book`` scenario of ``benches/compare.py``: order-book updates/s with the book read at each.

The server is tickwire's exchange simulator speaking Bybit's v5 public spot protocol at its
maximum rate (:func:`serve_in_process`, in its own pinned process). At that rate the simulator
writes as fast as its slowest client reads, so each client measures how fast it consumes. Every
client subscribes to ``orderbook.50.<SYMBOL>`` of a few markets and, for every update, does the
same work: decode it, apply it to that market's book, read the best bid and the best ask as
``(price, quantity)`` pairs of ``Decimal`` (of ``float`` for ``picows-float``), and count the
update (and whether the top of the book is crossed, which it never should be).

- ``tickwire-feed``: ``tickwire.Feed`` on its built-in Bybit venue. Frames are parsed and applied
  to the book in Rust on the I/O thread; the ``on_book`` callback reads ``best_bid`` and
  ``best_ask`` from the market's live ``BookView``.
- ``picows``: what a Python user writes with picows and msgspec: each frame decoded into typed
  ``msgspec.Struct`` objects with ``Decimal`` prices and quantities (exact, as tickwire keeps
  them), applied to a :class:`PythonBook` (a ``sortedcontainers.SortedDict`` per side, update-id
  continuity checked), best bid and ask read with ``peekitem``.
- ``picows-float``: the same with ``float`` prices and quantities: less exact, cheaper to parse.

:func:`client_process` is the entry point of a client process. The clock runs for a fixed time
after a warm-up (the first snapshots and the loop settling are not measured); the result holds
updates/s, the process's CPU time per update (every thread included) and the server process's
CPU share over the same window. A run whose books saw a sequence gap or a crossed top of the
book fails: it would not have measured the work described here.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

import msgspec
from sortedcontainers import SortedDict  # type: ignore[import-untyped]

from bench_clients import BenchError, PicowsClient, cpu_ns, guard, import_tickwire, loop_factory
from firehose import new_event_loop, pin_to_cpu

#: The markets the simulator runs and every client subscribes to.
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT")
#: Levels a side holds: Bybit's ``orderbook.50`` topic, the one tickwire's ``book`` channel uses.
DEPTH = 50
SEED = 7
_OPEN_TIMEOUT_S = 10.0
_CLOSE_TIMEOUT_S = 5.0
_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


# -- the server -----------------------------------------------------------------------------------


async def _serve(conn: Any, symbols: list[str], seed: int, lifetime_s: float) -> None:
    tickwire = import_tickwire()
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def on_parent() -> None:
        loop.remove_reader(conn.fileno())
        if not stop.done():
            stop.set_result(None)

    async with tickwire.Simulator(venues=["bybit"], symbols=symbols, rate="max", seed=seed, depth=DEPTH) as sim:
        conn.send(("ready", {"url": sim.url("bybit"), "markets": sim.markets("bybit")}))
        loop.add_reader(conn.fileno(), on_parent)
        try:
            await asyncio.wait_for(stop, lifetime_s)
        except asyncio.TimeoutError:
            pass


def serve_in_process(conn: Any, cpu: int, symbols: list[str], seed: int = SEED, lifetime_s: float = 3600.0) -> None:
    """Entry point of the simulator's process: pins itself (the simulator's Rust threads, started
    afterwards, inherit the pinning) and reports ``("ready", {"url", "markets"})`` on ``conn``.

    It stops when anything arrives on ``conn``, when ``conn`` is closed (the parent died), or
    after ``lifetime_s``, so an orphaned server cannot linger.
    """
    pin_to_cpu(cpu)
    loop = new_event_loop()
    try:
        loop.run_until_complete(_serve(conn, symbols, seed, lifetime_s))
    finally:
        loop.close()


def process_cpu_ns(pid: int) -> int:
    """User+system CPU time of another process (every thread), in ns, at clock-tick resolution."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        # Fields 14 and 15 (utime, stime) counted after the command name, which may hold spaces.
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // _CLOCK_TICKS_PER_S


# -- the pure-Python book -------------------------------------------------------------------------

Number = TypeVar("Number", Decimal, float)


class BookData(msgspec.Struct, Generic[Number]):
    """The ``data`` of a Bybit ``orderbook`` message: levels as (price, size); size 0 deletes."""

    symbol: str = msgspec.field(name="s")
    bids: list[tuple[Number, Number]] = msgspec.field(name="b")
    asks: list[tuple[Number, Number]] = msgspec.field(name="a")
    update_id: int = msgspec.field(name="u")


class BybitMessage(msgspec.Struct, Generic[Number]):
    """A Bybit public message. Subscribe acks and pongs carry no ``data``, so they decode too."""

    topic: str = ""
    type: str = ""
    data: BookData[Number] | None = None


class PythonBook(Generic[Number]):
    """One market's L2 book as a Python user keeps it: a ``SortedDict`` per side, keyed by price."""

    __slots__ = ("bids", "asks", "update_id")

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.update_id = 0

    def apply(self, data: BookData[Number], is_snapshot: bool) -> bool:
        """Apply one update; returns whether it continued the book (``u`` one above the last),
        which a snapshot always does."""
        in_sequence = is_snapshot or data.update_id == self.update_id + 1
        self.update_id = data.update_id
        if is_snapshot:
            self.bids.clear()
            self.asks.clear()
        for side, levels in ((self.bids, data.bids), (self.asks, data.asks)):
            for price, size in levels:
                if size:
                    side[price] = size
                else:
                    side.pop(price, None)
        return in_sequence

    def best_bid(self) -> tuple[Number, Number] | None:
        return self.bids.peekitem(-1) if self.bids else None

    def best_ask(self) -> tuple[Number, Number] | None:
        return self.asks.peekitem(0) if self.asks else None


# -- measurement ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    """The counters at one end of the measured window."""

    updates: int
    wall_ns: int
    cpu_ns: int
    server_cpu_ns: int

    @classmethod
    def take(cls, updates: int, server_pid: int) -> Mark:
        return cls(updates, time.perf_counter_ns(), cpu_ns(), process_cpu_ns(server_pid))


async def measure(updates: Callable[[], int], p: dict[str, Any], ended: Callable[[], Awaitable[None]] | None) -> dict[str, Any]:
    """Let the updates flow for the warm-up, then for the measured seconds; the rates over the
    second span. ``ended()``, if given, completes when the connection goes away."""

    async def wait(seconds: float) -> None:
        # The limit only has to catch a run that creeps along without quite stalling.
        await guard(asyncio.sleep(seconds), updates, stall_s=p["stall_s"], limit_s=seconds + p["stall_s"], ended=None if ended is None else ended())

    await wait(p["book_warmup_s"])
    start = Mark.take(updates(), p["server_pid"])
    await wait(p["book_seconds"])
    end = Mark.take(updates(), p["server_pid"])
    count, wall_ns = end.updates - start.updates, end.wall_ns - start.wall_ns
    if count <= 0:
        raise BenchError("no book updates in the measured window")
    return {
        "updates": count,
        "seconds": wall_ns / 1e9,
        "updates_per_s": count / (wall_ns / 1e9),
        "cpu_us_per_update": (end.cpu_ns - start.cpu_ns) / 1000 / count,
        "cpu_share": (end.cpu_ns - start.cpu_ns) / wall_ns,
        "server_cpu_share": (end.server_cpu_ns - start.server_cpu_ns) / wall_ns,
    }


def check_books(gaps: int, crossed: int) -> None:
    if gaps or crossed:
        raise BenchError(f"invalid books: {gaps} sequence gaps, {crossed} updates with a crossed top of the book")


# -- clients --------------------------------------------------------------------------------------


async def run_tickwire_feed(url: str, markets: list[tuple[str, str]], p: dict[str, Any]) -> dict[str, Any]:
    tickwire = import_tickwire()
    symbols = [unified for unified, _ in markets]
    feed = tickwire.Feed(urls={"bybit": url})
    feed.subscribe("bybit", symbols, ["book"])
    views = {symbol: feed.book("bybit", symbol) for symbol in symbols}
    count = crossed = 0

    def on_book(update: Any) -> None:
        nonlocal count, crossed
        view = views[update.symbol]
        bid, ask = view.best_bid, view.best_ask
        if bid is not None and ask is not None and bid[0] >= ask[0]:
            crossed += 1
        count += 1

    feed.on_book(on_book)
    await asyncio.wait_for(feed.start(), _OPEN_TIMEOUT_S)
    try:
        result = await measure(lambda: count, p, None)
        invalid = [symbol for symbol, view in views.items() if not view.is_valid]
        totals = feed.metrics()["total"]
    finally:
        await asyncio.wait_for(feed.stop(), _CLOSE_TIMEOUT_S)
    books = totals["books"]
    if totals["reconnection_count"]:
        raise BenchError(f"the feed reconnected {totals['reconnection_count']} times")
    if invalid:
        raise BenchError(f"books invalid at the end: {invalid}")
    check_books(books["gaps"] + books["checksum_failures"], crossed + books["crossed"])
    result["details"] = {k: books[k] for k in ("updates_applied", "gaps", "checksum_failures", "crossed", "resyncs")}
    result["version"] = tickwire.__version__
    return result


async def run_picows(url: str, markets: list[tuple[str, str]], p: dict[str, Any], number: type[Decimal] | type[float]) -> dict[str, Any]:
    # A float from a JSON string needs msgspec's lax mode; a Decimal is decoded from one as is.
    decode = msgspec.json.Decoder(BybitMessage[number], strict=number is Decimal).decode  # type: ignore[valid-type]
    books: dict[str, PythonBook[Any]] = {native: PythonBook() for _, native in markets}
    count = crossed = gaps = 0

    def on_message(message: str | bytes) -> None:
        nonlocal count, crossed, gaps
        decoded = decode(message)
        data = decoded.data
        if data is None:
            return  # the subscribe ack
        book = books[data.symbol]
        if not book.apply(data, decoded.type == "snapshot"):
            gaps += 1
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None and bid[0] >= ask[0]:
            crossed += 1
        count += 1

    client = PicowsClient()
    await asyncio.wait_for(client.open(url, on_message), _OPEN_TIMEOUT_S + 5)
    try:
        topics = [f"orderbook.{DEPTH}.{native}" for native in books]
        await client.send(msgspec.json.encode({"op": "subscribe", "req_id": "1", "args": topics}).decode())
        result = await measure(lambda: count, p, client.wait_closed)
    finally:
        await asyncio.wait_for(client.close(), _CLOSE_TIMEOUT_S)
    check_books(gaps, crossed)
    result["details"] = {"gaps": gaps, "crossed": crossed}
    result["version"] = f"picows {importlib.metadata.version('picows')}, msgspec {msgspec.__version__}, sortedcontainers {importlib.metadata.version('sortedcontainers')}"
    return result


ClientRun = Callable[[str, list[tuple[str, str]], dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]

#: name -> the run. Every client runs on uvloop.
CLIENTS: dict[str, ClientRun] = {
    "tickwire-feed": run_tickwire_feed,
    "picows": lambda url, markets, p: run_picows(url, markets, p, Decimal),
    "picows-float": lambda url, markets, p: run_picows(url, markets, p, float),
}


def client_process(conn: Any, name: str, url: str, markets: list[tuple[str, str]], params: dict[str, Any], cpu: int) -> None:
    """Entry point of a client process; sends ``{"ok": True, ...}`` or ``{"ok": False, "error"}``."""
    try:
        pin_to_cpu(cpu)
        with asyncio.Runner(loop_factory=loop_factory("uvloop")) as runner:
            result = runner.run(CLIENTS[name](url, markets, params))
        conn.send({"ok": True, "loop": "uvloop", **result})
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent as text
        conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
    finally:
        conn.close()
