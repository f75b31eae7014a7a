"""The ``tickwire`` command line.

``tickwire demo`` runs the exchange simulator for all five venues and a :class:`~tickwire.Feed`
subscribed to every channel of two symbols on each, and shows a line per venue every second:
connection state, events per second, the latency from reading the frame to the callback, books
valid (proven by the venue's sequence numbers and checksums) and resynced, reconnects and
errors. It needs no network beyond loopback.

The demo also runs the broadcast server with its dashboard (the URL is printed first), fed by
the same feed.

``tickwire serve`` runs the broadcast server and its dashboard, fed by a :class:`~tickwire.Feed`
on the simulator (default) or on the venues' production endpoints (``--source live``), and
prints its counters once a second.

``tickwire simulate`` runs the exchange simulator (:class:`~tickwire.Simulator`): it prints each
venue's URL, then live counters once a second, until Ctrl-C or ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Sequence

from ._core import BBO, BookUpdate, Ticker, Trade
from .events import CHANNELS
from .feed import Feed
from .server import Server
from .simulator import Simulator

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = argparse.ArgumentParser(prog="tickwire", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="stream every venue from the simulator and show live counts")
    demo.add_argument("--rate", type=int, default=2_000, help="happenings per second per venue")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    demo.add_argument("--faults", type=float, default=0.0, help="random faults per minute per venue")
    demo.add_argument("--port", type=int, default=8080, help="the dashboard's port (0: any free one)")
    serve = commands.add_parser("serve", help="run the broadcast server and dashboard, fed by a feed")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    serve.add_argument("--port", type=int, default=8080, help="port (0: any free one)")
    serve.add_argument("--token", default=None, help="token clients must give (default: $TICKWIRE_SERVER_TOKEN or none)")
    serve.add_argument("--origins", default=None, help="comma-separated origins whose pages may connect ('*': any)")
    serve.add_argument("--tls-cert", default=None, help="PEM certificate chain: serve https and wss")
    serve.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")
    serve.add_argument("--source", choices=("simulator", "live"), default="simulator", help="where the feed reads")
    serve.add_argument("--venues", default=",".join(DEMO_SYMBOLS), help="comma-separated venues")
    serve.add_argument("--symbols", default=None, help="comma-separated unified symbols (default: two per venue)")
    serve.add_argument("--rate", type=int, default=2_000, help="simulated happenings per second per venue")
    serve.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    simulate = commands.add_parser("simulate", help="run the exchange simulator and show live counters")
    simulate.add_argument("--venues", default="binance", help="comma-separated venues (default: binance)")
    simulate.add_argument("--symbols", default="BTC/USDT,ETH/USDT", help="comma-separated unified symbols")
    simulate.add_argument("--rate", default="1000", help="happenings per second per venue, or 'max'")
    simulate.add_argument("--port-base", type=int, default=None, help="first venue's port (default: any free)")
    simulate.add_argument("--faults", type=float, default=0.0, help="random faults per minute per venue")
    simulate.add_argument("--seed", type=int, default=1, help="seed of the markets and faults")
    simulate.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    args = parser.parse_args(argv)
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be positive")
    try:
        if args.command == "simulate":
            rate = 0 if args.rate == "max" else int(args.rate) if args.rate.isdigit() else -1
            if rate < 0:
                parser.error("--rate must be a non-negative integer or 'max'")
            simulator = Simulator(
                _split(args.venues),
                _split(args.symbols),
                rate=rate,
                faults=args.faults,
                seed=args.seed,
                port_base=args.port_base,
            )
            asyncio.run(_simulate(simulator, args.duration))
        elif args.command == "serve":
            if args.rate <= 0:
                parser.error("--rate must be positive")
            venues = _split(args.venues)
            unknown = [venue for venue in venues if venue not in DEMO_SYMBOLS]
            if unknown or not venues:
                parser.error(f"--venues: unknown {unknown}; expected some of {list(DEMO_SYMBOLS)}")
            symbols = {venue: _split(args.symbols) if args.symbols else DEMO_SYMBOLS[venue] for venue in venues}
            server = Server(
                args.host,
                args.port,
                token=args.token,
                allowed_origins=_split(args.origins) if args.origins else None,
                tls_cert=args.tls_cert,
                tls_key=args.tls_key,
            )
            asyncio.run(_serve(server, symbols, args.source, args.rate, args.duration))
        else:
            if args.rate <= 0:
                parser.error("--rate must be positive")
            asyncio.run(_demo(args.rate, args.duration, args.faults, args.port))
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError) as error:
        print(f"tickwire {args.command}: {error}", file=sys.stderr)
        return 2
    return 0


def _split(names: str) -> list[str]:
    return [name.strip() for name in names.split(",") if name.strip()]


async def _simulate(simulator: Simulator, duration: float | None) -> None:
    """Serve until ``duration`` seconds have passed or Ctrl-C, printing counters every second."""
    async with simulator:
        for venue in simulator.venues:
            markets = ", ".join(unified for unified, _ in simulator.markets(venue))
            print(f"{venue:<9} markets {markets}", flush=True)
        for endpoint, url in simulator.urls().items():
            print(f"{endpoint:<13} {url}", flush=True)
        started = time.monotonic()
        deadline = None if duration is None else started + duration
        last = started
        previous = {venue: stats["frames_sent"] for venue, stats in simulator.stats().items()}
        while deadline is None or last < deadline:
            await asyncio.sleep(1.0 if deadline is None else max(0.0, min(1.0, deadline - last)))
            now = time.monotonic()
            for venue, stats in simulator.stats().items():
                faults = sum(stats["faults"].values())
                rate = (stats["frames_sent"] - previous[venue]) / max(now - last, 1e-9)
                previous[venue] = stats["frames_sent"]
                print(
                    f"{venue:<9} clients {stats['clients_connected']:>3}  {rate:>11,.0f} frames/s  "
                    f"sent {stats['frames_sent']:>12,}  happenings {stats['happenings']:>12,}  "
                    f"faults {faults:>4}  dropped slow {stats['slow_disconnects']} "
                    f"heartbeat {stats['heartbeat_disconnects']}",
                    flush=True,
                )
            last = now


async def _start_server(server: Server) -> Server:
    """Starts ``server``; on a port in use, on any free one instead (said on stderr)."""
    try:
        return await server.start()
    except OSError as error:
        if server._port == 0:  # noqa: SLF001 - the CLI owns this server
            raise
        print(f"port {server._port} is not free ({error}); using any free port", file=sys.stderr)  # noqa: SLF001
        server._port = 0  # noqa: SLF001
        return await server.start()


async def _serve(server: Server, symbols: dict[str, list[str]], source: str, rate: int, duration: float | None) -> None:
    """The server fed by a feed (on the simulator or live) until ``duration`` or Ctrl-C."""
    async with contextlib.AsyncExitStack() as stack:
        urls: dict[str, str] = {}
        if source == "simulator":
            all_symbols = sorted({symbol for venue_symbols in symbols.values() for symbol in venue_symbols})
            sim = await stack.enter_async_context(Simulator(list(symbols), all_symbols, rate=rate))
            urls = sim.urls()
        await _start_server(server)
        stack.push_async_callback(server.stop)
        feed = Feed(urls=urls)
        for venue, venue_symbols in symbols.items():
            feed.subscribe(venue, venue_symbols, CHANNELS)
        feed.broadcast(server)
        await stack.enter_async_context(feed)
        print(f"dashboard {server.url}  websocket {server.ws_url}  ({source}: {', '.join(symbols)})", flush=True)
        started = time.monotonic()
        while duration is None or time.monotonic() - started < duration:
            await asyncio.sleep(1.0 if duration is None else max(0.0, min(1.0, duration - (time.monotonic() - started))))
            metrics = server.metrics()
            print(
                f"clients {metrics['connections_active']:>4}  published {metrics['messages_published']:>10,}  "
                f"sent {metrics['messages_sent']:>10,}  conflated {metrics['conflated_messages']:>8,}  "
                f"lagged {metrics['lagged_clients']}  refused {metrics['connections_refused']}",
                flush=True,
            )


#: What the demo subscribes to on each venue (every channel of each).
DEMO_SYMBOLS: dict[str, list[str]] = {
    "binance": ["BTC/USDT", "ETH/USDT"],
    "bybit": ["BTC/USDT", "BTC/USDT-PERP"],
    "okx": ["BTC/USDT", "ETH/USDT-PERP"],
    "coinbase": ["BTC/USD", "ETH/USD"],
    "kraken": ["BTC/USD", "ETH/USD"],
}


class _VenueTally:
    """One venue's events and read-to-callback latencies, in total and for the interval."""

    def __init__(self) -> None:
        self.total = 0
        self.interval = 0
        self.latencies_us: list[float] = []
        self.errors = 0

    def on_event(self, event: Trade | BBO | BookUpdate | Ticker) -> None:
        self.latencies_us.append((time.monotonic_ns() - event.receive_time_ns) / 1000)
        self.total += 1
        self.interval += 1

    def take(self, seconds: float) -> tuple[float, float, float]:
        """Events/s, p50 and p99 µs of the interval; starts the next one."""
        latencies = sorted(self.latencies_us)
        p50 = latencies[len(latencies) // 2] if latencies else float("nan")
        p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
        rate = self.interval / seconds
        self.interval = 0
        self.latencies_us.clear()
        return rate, p50, p99


async def _demo(rate: int, duration: float | None, faults: float, port: int) -> None:
    """The simulator for all five venues and a feed on every channel of two symbols each;
    a line per venue every second until ``duration`` or Ctrl-C, then a summary."""
    symbols = sorted({symbol for venue_symbols in DEMO_SYMBOLS.values() for symbol in venue_symbols})
    tallies = {venue: _VenueTally() for venue in DEMO_SYMBOLS}
    started = time.monotonic()
    deadline = None if duration is None else started + duration
    async with Simulator(list(DEMO_SYMBOLS), symbols, rate=rate, faults=faults) as sim, await _start_server(Server(port=port)) as server:
        # Loopback answers in microseconds: short heartbeat and close limits show recovery from a
        # stalled or dropped connection within seconds.
        feed = Feed(urls=sim.urls(), ping_interval=1.0, stale_timeout=3.0, close_timeout=1.0)
        for venue, venue_symbols in DEMO_SYMBOLS.items():
            feed.subscribe(venue, venue_symbols, CHANNELS)

        def on_event(event: Trade | BBO | BookUpdate | Ticker) -> None:
            tallies[event.venue].on_event(event)

        def on_error(error: BaseException) -> None:
            venue = getattr(error, "venue", None)
            if isinstance(venue, str) and venue in tallies:
                tallies[venue].errors += 1

        for register in (feed.on_trade, feed.on_bbo, feed.on_book, feed.on_ticker):
            register(on_event)
        feed.on_error(on_error)
        feed.broadcast(server)
        print(f"dashboard {server.url}", flush=True)
        print(f"tickwire demo: simulated {', '.join(DEMO_SYMBOLS)} at {rate:,} happenings/s each"
              f"{f', {faults:g} faults/min' if faults else ''}; Ctrl-C to stop", flush=True)
        try:
            async with feed:
                last = time.monotonic()
                while deadline is None or last < deadline:
                    await asyncio.sleep(1.0 if deadline is None else max(0.0, min(1.0, deadline - last)))
                    now = time.monotonic()
                    metrics = feed.metrics()["venues"]
                    for venue, tally in tallies.items():
                        events_per_s, p50, p99 = tally.take(now - last)
                        links = [m for name, m in metrics.items() if name.split("-")[0].split("#")[0] == venue]
                        connected = all(m["connected"] for m in links) and bool(links)
                        reconnects = sum(m["reconnection_count"] for m in links)
                        books = [m["books"] for m in links if "books" in m]
                        valid, kept = sum(b["valid"] for b in books), sum(b["books"] for b in books)
                        resyncs = sum(b["resyncs"] for b in books)
                        print(
                            f"{venue:<9} {'connected' if connected else 'DOWN':<9} {events_per_s:>9,.0f} events/s  "
                            f"read→callback p50 {p50:>7.1f} µs  p99 {p99:>8.1f} µs  total {tally.total:>9,}  "
                            f"books {valid}/{kept} valid, {resyncs} resynced  reconnects {reconnects}  errors {tally.errors}",
                            flush=True,
                        )
                    last = now
        finally:
            elapsed = time.monotonic() - started
            total = sum(t.total for t in tallies.values())
            print(f"received {total:,} events in {elapsed:.1f} s ({total / elapsed:,.0f}/s): "
                  + ", ".join(f"{venue} {tally.total:,}" for venue, tally in tallies.items()), flush=True)


if __name__ == "__main__":
    sys.exit(main())
