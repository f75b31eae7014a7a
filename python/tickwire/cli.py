"""The ``tickwire`` command line.

``tickwire demo`` starts a local WebSocket server that streams Binance-shaped trades, connects
to it through tickwire, and shows live counts: messages per second, wire-to-callback latency
and the connection's counters. It needs no network beyond loopback.

``tickwire simulate`` runs the exchange simulator (:class:`~tickwire.Simulator`): it prints each
venue's URL, then live counters once a second, until Ctrl-C or ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from collections.abc import Sequence

from .client import Connection, connect
from .simulator import Simulator

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = argparse.ArgumentParser(prog="tickwire", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="stream from a local server and show live counts")
    demo.add_argument("--rate", type=int, default=20_000, help="messages per second the server sends")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
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
        else:
            if args.rate <= 0:
                parser.error("--rate must be positive")
            asyncio.run(_demo(args.rate, args.duration))
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


class _TradeServer:
    """A WebSocket server on a thread of its own that sends trades at a fixed rate, each
    carrying the ``time.monotonic_ns()`` at which it was sent."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="tickwire-demo-server", daemon=True)

    def __enter__(self) -> _TradeServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the demo server did not start within 10 s")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        from websockets.asyncio.server import ServerConnection, serve

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        async def stream_trades(ws: ServerConnection) -> None:
            trade_id = 0
            started = time.monotonic()
            with contextlib.suppress(Exception):
                while True:
                    due = int((time.monotonic() - started) * self.rate)
                    while trade_id < due:
                        trade_id += 1
                        await ws.send(_trade(trade_id))
                    await asyncio.sleep(0.001)

        async with serve(stream_trades, "127.0.0.1", 0, compression=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()


def _trade(trade_id: int) -> str:
    price = 50_000 + (trade_id % 1000) / 100
    return (
        f'{{"e":"trade","E":{time.time_ns() // 1_000_000},"s":"BTCUSDT","t":{trade_id},'
        f'"p":"{price:.2f}","q":"0.00100000","T":{time.time_ns() // 1_000_000},"m":false,'
        f'"sent_ns":{time.monotonic_ns()}}}'
    )


class _Tally:
    """Counts and wire-to-callback latencies of one reporting interval."""

    def __init__(self) -> None:
        self.total = 0
        self.interval = 0
        self.latencies_us: list[float] = []

    def on_message(self, message: str | bytes) -> None:
        received_ns = time.monotonic_ns()
        trade = json.loads(message)
        self.latencies_us.append((received_ns - trade["sent_ns"]) / 1000)
        self.total += 1
        self.interval += 1

    def take_line(self, connection: Connection, seconds: float) -> str:
        latencies = sorted(self.latencies_us)
        p50 = latencies[len(latencies) // 2] if latencies else float("nan")
        p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
        stats = connection.stats()
        line = (
            f"{connection.state.value:<9} {self.interval / seconds:>9,.0f} msg/s  "
            f"latency p50 {p50:>7.1f} µs  p99 {p99:>7.1f} µs  total {self.total:>10,}  "
            f"batches {stats['batches_delivered']:>8,}  lag events {stats['queue_full_events']}"
        )
        self.interval = 0
        self.latencies_us.clear()
        return line


async def _demo(rate: int, duration: float | None) -> None:
    """Stream until ``duration`` seconds have passed or Ctrl-C; the summary prints either way."""
    tally = _Tally()
    started = time.monotonic()
    deadline = None if duration is None else started + duration
    try:
        with _TradeServer(rate) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            print(f"tickwire demo: {rate:,} trades/s from a local server at {url}; Ctrl-C to stop")
            async with await connect(url) as connection:
                connection.on_message(tally.on_message)
                last = time.monotonic()
                while deadline is None or last < deadline:
                    await asyncio.sleep(1.0 if deadline is None else min(1.0, deadline - last))
                    now = time.monotonic()
                    print(tally.take_line(connection, now - last), flush=True)
                    last = now
    finally:
        elapsed = time.monotonic() - started
        print(f"received {tally.total:,} messages in {elapsed:.1f} s ({tally.total / elapsed:,.0f} msg/s)")


if __name__ == "__main__":
    sys.exit(main())
