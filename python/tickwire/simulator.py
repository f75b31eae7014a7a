"""The exchange simulator: local WebSocket servers that speak each venue's protocol.

A :class:`Simulator` runs, on loopback, one server per venue over consistent synthetic markets
(random-walk trades, books whose deltas, sequence numbers and checksums are valid), with the
venue's subscribe acks and errors, its heartbeat rules and its REST depth snapshot where its
book sync needs one. Faults come on demand (:meth:`Simulator.inject`) or at random
(``faults=`` per minute). Point a client or a feed at :meth:`Simulator.url` instead of the
venue's URL; nothing else changes::

    async with tickwire.Simulator(venues=["binance"], symbols=["BTC/USDT"]) as sim:
        url = sim.url("binance")          # ws://127.0.0.1:PORT/stream
        sim.inject("binance", "gap", symbol="BTC/USDT")

To check a client's book against the truth, :meth:`Simulator.pause` the markets, let the client
take what was already sent, and compare its book with :meth:`Simulator.book`; then
:meth:`Simulator.resume`.

The servers run on the Rust core's I/O thread, not on the asyncio loop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal

from . import _core

__all__ = ["FAULTS", "Fault", "SimulatedBook", "Simulator"]

logger = logging.getLogger(__name__)

#: A fault the simulator injects.
Fault = Literal["gap", "bad_checksum", "disconnect", "stall", "slow", "malformed"]

#: Every fault, with what it does to each client of the venue it is injected into.
FAULTS: dict[str, str] = {
    "gap": "the next book update (of the symbol, or of any) is dropped: a sequence gap",
    "bad_checksum": "the next book update carries a wrong checksum (venues that send checksums; "
    "nothing on Binance and Gate.io, which send none)",
    "disconnect": "the TCP connection is reset, without a close frame",
    "stall": "the connection stays open and goes silent for good: nothing sent, nothing answered",
    "slow": "writes are throttled to about 20 KiB/s for 5 s; a client that falls ~1 s behind is dropped",
    "malformed": "one text frame of broken JSON",
}


@dataclass(frozen=True, slots=True)
class SimulatedBook:
    """A simulated market's true order book at one moment (see :meth:`Simulator.book`).

    Attributes:
        bids: (price, quantity) levels, best (highest price) first.
        asks: (price, quantity) levels, best (lowest price) first.
        update_id: The id of the last change applied to the book (0: none yet); a client that
            has applied every book update up to this id holds the same levels.
    """

    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]
    update_id: int


def _levels(side: list[tuple[str, str]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(price), Decimal(qty)) for price, qty in side]


class Simulator:
    """Local servers speaking each venue's protocol over synthetic markets.

    Use it as an async context manager (``async with Simulator(...) as sim``) or call
    :meth:`start` and :meth:`close`.

    Args:
        venues: Venue names (``"binance"``, ``"bybit"``, ``"okx"``, ``"coinbase"``,
            ``"kraken"``, and ``"gateio"`` and ``"mexc"``, which naming registers as venues of
            their own), each served on its own port. Default: Binance.
        symbols: Unified symbols (``"BTC/USDT"``, ``"ETH/USDT-PERP"``); each venue simulates
            those it can name and refuses to start if it can name none.
        rate: Market happenings (trades, book changes, tickers) per second per venue; ``0`` or
            ``"max"``: as fast as the clients take them (for benchmarks). Default 1000.
        faults: Random faults per minute per venue, of random kinds (default 0: none).
        seed: Seed of the markets' random walks and the random faults: a run is reproducible.
        depth: Levels a book side holds (default 20).
        host: The address the servers listen on (default loopback).
        port_base: The first venue listens on this port, the next on the one after; ``None``
            (default): ports the system chooses (see :meth:`url`).
        heartbeat_scale: Multiplies every heartbeat rule's duration (``0.05`` turns Binance's
            20 s ping interval into 1 s), for tests of a client's heartbeat handling.
        credentials: The API key and secret each venue accepts on its private channels, by venue
            name (``{"gateio": ("key", "secret")}``); only Gate.io has private channels in the
            simulator (``spot.orders``, ``spot.usertrades``, ``spot.balances``). A venue without a key refuses every
            private subscription, as a venue refuses an unknown key. Default: none.
    """

    def __init__(
        self,
        venues: Iterable[str] = ("binance",),
        symbols: Iterable[str] = ("BTC/USDT", "ETH/USDT"),
        *,
        rate: int | Literal["max"] = 1000,
        faults: float = 0.0,
        seed: int = 1,
        depth: int = 20,
        host: str = "127.0.0.1",
        port_base: int | None = None,
        heartbeat_scale: float = 1.0,
        credentials: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self.venues = [venue.lower() for venue in venues]
        self.symbols = list(symbols)
        if rate == "max":
            rate = 0
        if not isinstance(rate, int) or rate < 0:
            raise ValueError(f"rate must be a non-negative number of happenings per second or 'max', not {rate!r}")
        self.rate = rate
        self.faults = faults
        self.seed = seed
        self.depth = depth
        self.host = host
        self.port_base = port_base
        self.heartbeat_scale = heartbeat_scale
        self._credentials = [(venue.lower(), key, secret) for venue, (key, secret) in (credentials or {}).items()]
        self._core: _core.Simulator | None = None

    def start(self) -> Simulator:
        """Bind every venue's port and start its markets; returns the simulator.

        Raises:
            ValueError: An unknown venue, no symbol a venue can name, an option out of range.
            OSError: A port that cannot be bound.
            RuntimeError: Already started.
        """
        if self._core is not None:
            raise RuntimeError("the simulator is already started")
        self._core = _core.start_simulator(
            self.venues,
            self.symbols,
            self.rate,
            self.seed,
            self.depth,
            self.faults,
            self.host,
            self.port_base,
            self.heartbeat_scale,
            self._credentials,
        )
        logger.info("simulator started: %s", self.urls())
        return self

    @property
    def running(self) -> bool:
        """Whether the simulator is started and not closed."""
        return self._core is not None and not self._core.closed

    def _handle(self) -> _core.Simulator:
        if self._core is None or self._core.closed:
            raise RuntimeError("the simulator is not running: use 'async with' or start()")
        return self._core

    def url(self, venue: str, path: str | None = None) -> str:
        """The WebSocket URL of ``venue``: ``ws://127.0.0.1:PORT/stream`` for Binance,
        ``…/v5/public/spot`` for Bybit (``path="/v5/public/linear"`` for its perpetuals),
        ``…/ws/v5/public`` for OKX, ``…/`` for Coinbase, ``…/v2`` for Kraken, ``…/ws/v4/`` for
        Gate.io, ``…/ws`` for MEXC. The port also serves the venue's REST snapshot
        (``http://127.0.0.1:PORT/api/v3/depth`` for Binance and MEXC).

        Raises:
            ValueError: ``venue`` is not simulated here.
        """
        return self._handle().url(venue, path)

    def urls(self) -> dict[str, str]:
        """Every endpoint's URL by name, as :class:`~tickwire.Feed` takes them
        (``Feed(urls=sim.urls())``): each venue's :meth:`url`, and ``"bybit-linear"`` for
        Bybit's perpetuals."""
        return dict(self._handle().urls())

    def markets(self, venue: str) -> list[tuple[str, str]]:
        """The markets ``venue`` simulates, as (unified symbol, native symbol) pairs.

        Raises:
            ValueError: ``venue`` is not simulated here.
        """
        return self._handle().markets(venue)

    def inject(self, venue: str, fault: Fault, symbol: str | None = None) -> int:
        """Inject ``fault`` (see :data:`FAULTS`) into every client of ``venue`` connected now;
        ``symbol`` (unified or native) limits a ``gap`` or ``bad_checksum`` to that market.
        Returns how many clients it reached.

        Raises:
            ValueError: An unknown venue, fault or symbol.
        """
        return self._handle().inject(venue, fault, symbol)

    def pause(self, venue: str | None = None) -> None:
        """Stop generating market happenings (trades, book changes, tickers) on ``venue``, or on
        every venue if ``None``. It takes effect from the next batch: a batch being generated
        while this is called may still go out. Only the markets stop: connections stay open and
        heartbeats, pings, subscription answers and snapshots go on. Idempotent.

        Raises:
            ValueError: ``venue`` is not simulated here.
        """
        self._handle().pause(venue)

    def resume(self, venue: str | None = None) -> None:
        """Generate again on ``venue``, or on every venue if ``None``, at the configured rate from
        now on (the paused time is not made up with a burst). Idempotent.

        Raises:
            ValueError: ``venue`` is not simulated here.
        """
        self._handle().resume(venue)

    def book(self, venue: str, symbol: str) -> SimulatedBook:
        """The true order book of ``symbol`` (unified or native, any case) on ``venue`` now:
        what a client's book should equal once it has applied every update sent so far.
        :meth:`pause` the venue first to compare it with a client's book at rest.

        Raises:
            ValueError: ``venue`` or ``symbol`` is not simulated here.
        """
        bids, asks, update_id = self._handle().book(venue, symbol)
        return SimulatedBook(_levels(bids), _levels(asks), update_id)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Counters by venue: ``happenings`` generated, ``frames_sent``, ``bytes_sent``,
        ``clients_connected``, ``clients_total``, ``http_requests``, ``slow_disconnects``,
        ``heartbeat_disconnects`` and ``faults`` (injected, by kind)."""
        return self._handle().stats()

    async def close(self) -> None:
        """Stop every server and wait until its connections are closed. Idempotent."""
        if self._core is not None:
            self._core.close()  # a few milliseconds, without the GIL

    async def __aenter__(self) -> Simulator:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<tickwire.Simulator {state} venues={self.venues} symbols={self.symbols} rate={self.rate}>"
