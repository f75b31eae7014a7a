"""Soak: the whole system for minutes with faults, watching for loss and growth.

Runs what ``tickwire demo --faults`` runs — the simulator for all five venues with random
faults (disconnects, stalls, gaps, wrong checksums, slow writes, malformed frames), a ``Feed``
on every channel of two symbols per venue, books, and the broadcast server with a client
reading everything — and reports, every ``--every`` seconds and at the end: messages, trades
with a gap in their ids, reconnects, books valid and resynced, the server's deliveries, and
the process's resident memory, first and last.

Nothing lost means: every trade id the simulator generated for a market arrived at the
feed's callback, except across a reconnect (a venue does not replay trades missed while
disconnected), and every book ends valid. No growth means: resident memory at the end is
within a few MiB of where it was after the warm-up.

Run: ``.venv/bin/python benches/soak.py --duration 600 --faults 6`` (not in CI: it takes the
time it says).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
from pathlib import Path
from typing import Any

import tickwire
from tickwire import protocol
from tickwire.cli import DEMO_SYMBOLS

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import rss_kib  # noqa: E402


def rss_mib() -> float:
    return rss_kib() / 1024


class Tally:
    """Trades per market, with the gaps in their ids that no reconnect explains."""

    def __init__(self) -> None:
        self.trades = 0
        self.last_id: dict[tuple[str, str], int] = {}
        # Per venue, how many connections it has had; per market, the count at its last trade.
        self.connections: collections.Counter[str] = collections.Counter()
        self.seen_at: dict[tuple[str, str], int] = {}
        self.gaps = 0
        self.gaps_at_reconnect = 0

    def on_trade(self, trade: tickwire.Trade) -> None:
        self.trades += 1
        key = (trade.venue, trade.symbol)
        try:
            trade_id = int(trade.trade_id)
        except ValueError:
            return  # a venue with non-numeric ids
        last = self.last_id.get(key)
        if last is not None and trade_id != last + 1:
            # A venue does not replay the trades of a disconnect: a gap right after a new
            # connection is explained.
            if self.seen_at.get(key) != self.connections[trade.venue]:
                self.gaps_at_reconnect += 1
            else:
                self.gaps += 1
        self.last_id[key] = trade_id
        self.seen_at[key] = self.connections[trade.venue]

    def on_state(self, name: str, event: tickwire.SessionEvent) -> None:
        if event.event == "connected":
            self.connections[name.split("-")[0].split("#")[0]] += 1


async def soak(duration: float, faults: float, rate: int, every: float) -> dict[str, Any]:
    symbols = sorted({s for venue_symbols in DEMO_SYMBOLS.values() for s in venue_symbols})
    tally = Tally()
    deliveries = 0
    async with tickwire.Simulator(list(DEMO_SYMBOLS), symbols, rate=rate, faults=faults) as sim, tickwire.Server(port=0, dashboard=False) as server:
        # As the demo: a connection up for 5 s resets the backoff (the default 30 s never does
        # when faults come every few seconds, and venues then stay down for up to a minute).
        feed = tickwire.Feed(
            urls=sim.urls(),
            reconnect=tickwire.ReconnectPolicy(stable_after=5.0),
            ping_interval=1.0,
            stale_timeout=3.0,
            close_timeout=1.0,
        )
        for venue, venue_symbols in DEMO_SYMBOLS.items():
            feed.subscribe(venue, venue_symbols, tickwire.CHANNELS)
        feed.on_trade(tally.on_trade)
        feed.on_state(tally.on_state)
        feed.on_error(lambda error: None)  # counted in metrics(); faults make some on purpose
        feed.broadcast(server)

        async def read() -> None:
            nonlocal deliveries
            async with tickwire.Client(server.ws_url, reconnect=tickwire.ClientReconnectPolicy(initial_delay=0.1)) as client:
                async for message in client:
                    if not isinstance(message, protocol.Connected):
                        deliveries += 1

        reader = asyncio.create_task(read())
        async with feed:
            await asyncio.sleep(min(10.0, duration / 10))
            warm_rss = rss_mib()
            started = time.monotonic()
            report: dict[str, Any] = {}
            while (elapsed := time.monotonic() - started) < duration:
                await asyncio.sleep(min(every, duration - elapsed))
                metrics = feed.metrics()["total"]
                books = metrics["books"]
                report = {
                    "elapsed_s": round(time.monotonic() - started, 1),
                    "events": metrics["messages_processed"],
                    "trades": tally.trades,
                    "trade_gaps_unexplained": tally.gaps,
                    "trade_gaps_at_reconnect": tally.gaps_at_reconnect,
                    "reconnects": metrics["reconnection_count"],
                    "errors": metrics["error_count"],
                    "books_valid": f"{books.get('valid', 0)}/{books.get('books', 0)}",
                    "books_resynced": books.get("resyncs", 0),
                    "book_gaps": books.get("gaps", 0),
                    "checksum_failures": books.get("checksum_failures", 0),
                    "server_deliveries": deliveries,
                    "faults_injected": sum(sum(v["faults"].values()) for v in sim.stats().values()),
                    "rss_mib_after_warmup": round(warm_rss, 1),
                    "rss_mib_now": round(rss_mib(), 1),
                }
                print(json.dumps(report), flush=True)
            # Faults stop; the books must all come back.
            await asyncio.sleep(5)
            books = feed.metrics()["total"]["books"]
            report["books_valid_at_end"] = f"{books.get('valid', 0)}/{books.get('books', 0)}"
        reader.cancel()
        return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds to run (default 600)")
    parser.add_argument("--faults", type=float, default=6.0, help="random faults per minute per venue")
    parser.add_argument("--rate", type=int, default=2_000, help="happenings per second per venue")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between report lines")
    args = parser.parse_args()
    report = asyncio.run(soak(args.duration, args.faults, args.rate, args.every))
    print("final:", json.dumps(report, indent=2))
    print("nothing lost without a reconnect to explain it:", report.get("trade_gaps_unexplained") == 0)


if __name__ == "__main__":
    main()
