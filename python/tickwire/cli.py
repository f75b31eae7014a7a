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

``tickwire stream VENUE SYMBOL...`` prints a venue's live events (production by default,
``--url`` for another endpoint such as a simulator's): a readable line per event, or JSON lines
with ``--json``. Connection failures are reported on stderr as they happen; with no connection
within ``--connect-timeout`` seconds it gives up.

``tickwire record VENUE SYMBOL... -o FILE`` writes the raw frames of one venue endpoint, with
their receive times, to a capture log (see :mod:`tickwire.recording`) until Ctrl-C or
``--duration``; ``tickwire replay FILE`` prints the log's events again through the venue's
parser, at the recorded pace (``--speed 1``, the default), faster (``--speed 10``) or as fast as
possible (``--speed max``). A log cut short by a crash replays up to its last whole record, with
a warning on stderr, and exits 0. ``tickwire replay FILE --serve`` serves the log as a local
venue instead (:class:`~tickwire.ReplayServer`): it prints the URL, and a feed (or ``tickwire
stream --url``) connecting there gets the recorded frames; it exits once the log has been
played.

Exit status: 0 success; 2 bad input (arguments, an unknown venue, symbol or channel, a file that
is no capture log or is damaged); 1 a failure at run time (a host that cannot be reached, a
subscription the venue refuses); 130 interrupted (Ctrl-C; a recording is flushed and closed
first).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from . import _core
from ._core import BBO, BookUpdate, Ticker, Trade
from .cli_view import Column, StatusView, ViewMode, view_mode
from .events import CHANNELS, Balance, Channel, Fill, Order
from .exceptions import SubscriptionError
from .feed import Feed, _channels
from .recording import Recorder, RecordingError, endpoint_of, event_fields, replay
from .server import Server
from .session import ReconnectPolicy, SessionEvent
from .simulator import Simulator
from .venues import Credentials, CredentialsError, registered_venues

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
    for command in (demo, serve, simulate):
        command.add_argument("--json", action="store_true", help="a JSON object per second and a JSON summary, for scripts")
        command.add_argument("--quiet", action="store_true", help="only the summary at the end")
        command.add_argument("--plain", action="store_true", help="text lines even on a terminal (default there: a live table)")
    _add_live_commands(commands)
    args = parser.parse_args(argv)
    if getattr(args, "duration", None) is not None and args.duration <= 0:
        parser.error("--duration must be positive")
    if args.command in ("stream", "record", "replay"):
        return _run_live_command(parser, args)
    try:
        if args.command == "simulate":
            rate = 0 if args.rate == "max" else int(args.rate) if args.rate.isdigit() else -1
            if rate < 0:
                parser.error("--rate must be a non-negative integer or 'max'")
            venues = _split(args.venues)
            simulator = Simulator(
                venues,
                _split(args.symbols),
                rate=rate,
                faults=args.faults,
                seed=args.seed,
                port_base=args.port_base,
                credentials=_simulated_keys(venues),
            )
            asyncio.run(_simulate(simulator, args.duration, _mode(args)))
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
            asyncio.run(_serve(server, symbols, args.source, args.rate, args.duration, _mode(args)))
        else:
            if args.rate <= 0:
                parser.error("--rate must be positive")
            asyncio.run(_demo(args.rate, args.duration, args.faults, args.port, _mode(args)))
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError) as error:
        print(f"tickwire {args.command}: {error}", file=sys.stderr)
        return 2
    return 0


def _simulated_keys(venues: list[str]) -> dict[str, tuple[str, str]]:
    """The key each simulated venue with private channels accepts: the one a feed would use,
    from the environment (``TICKWIRE_<VENUE>_API_KEY`` and ``…_SECRET``), where it is set."""
    keys = {}
    for venue in venues:
        venue_class = registered_venues().get(venue)
        if venue_class is None or not venue_class.private_channels:
            continue
        try:
            credentials = Credentials.from_env(venue)
        except CredentialsError:
            continue
        keys[venue] = (credentials.key, credentials.secret_bytes().decode())
        print(f"{venue}: private channels accept the key in $TICKWIRE_{venue.upper()}_API_KEY", file=sys.stderr)
    return keys


def _mode(args: argparse.Namespace) -> ViewMode:
    return view_mode(as_json=args.json, quiet=args.quiet, plain=args.plain)


def _split(names: str) -> list[str]:
    return [name.strip() for name in names.split(",") if name.strip()]


# ---- stream, record, replay ---------------------------------------------------------------

#: Exit status of a failure at run time (an unreachable host, a refused subscription).
EXIT_FAILURE = 1
#: Exit status of bad input (arguments, unknown names, a damaged capture log).
EXIT_BAD_INPUT = 2
#: Exit status after Ctrl-C.
EXIT_INTERRUPTED = 130


def _add_live_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stream = commands.add_parser("stream", help="print a venue's live events, a line (or a JSON line) each")
    record = commands.add_parser("record", help="write a venue's raw frames to a compressed capture log")
    for command in (stream, record):
        command.add_argument("venue", help="binance, bybit, okx, coinbase, kraken, or a registered venue (gateio …)")
        command.add_argument("symbols", nargs="+", metavar="SYMBOL", help="unified symbols (BTC/USDT, BTC/USDT-PERP)")
        command.add_argument("--channels", default="trades", help=f"comma-separated, of {','.join(CHANNELS)} (default: trades)")
        command.add_argument("--url", default=None, help="WebSocket URL instead of production (a simulator's, say)")
        command.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
        command.add_argument("--connect-timeout", type=float, default=10.0, help="give up unless connected within this many seconds (default 10)")
        command.add_argument("--quiet", action="store_true", help="no status lines on stderr, only errors")
    stream.add_argument("--json", action="store_true", help="one JSON object per line")
    record.add_argument("-o", "--output", required=True, metavar="FILE", help="the capture log to write (replaced if it exists)")
    replay_command = commands.add_parser("replay", help="print the events of a capture log again")
    replay_command.add_argument("file", metavar="FILE", help="a capture log written by 'tickwire record'")
    replay_command.add_argument("--speed", default="1", help="1: the recorded pace (default); 10: ten times faster; max: as fast as possible")
    replay_command.add_argument("--json", action="store_true", help="one JSON object per line")
    replay_command.add_argument("--quiet", action="store_true", help="no header line on stderr, only warnings and errors")
    replay_command.add_argument("--serve", action="store_true", help="serve the log as a local venue for a feed, instead of printing it")
    replay_command.add_argument("--host", default="127.0.0.1", help="with --serve: the address to listen on (default: loopback)")
    replay_command.add_argument("--port", type=int, default=0, help="with --serve: the port (default: any free one)")
    replay_command.add_argument("--duration", type=float, default=None, help="with --serve: stop after this many seconds (default: once played)")


def _run_live_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``stream``, ``record`` or ``replay``; returns the exit status."""
    logging.basicConfig(level=logging.WARNING, format=f"tickwire {args.command}: %(message)s")
    try:
        if args.command == "replay":
            speed = None if args.speed == "max" else _positive(args.speed)
            if speed is False:
                parser.error("--speed must be a positive number or 'max'")
            if args.serve:
                return asyncio.run(_serve_replay(args, speed or None))
            return _replay(args.file, speed or None, as_json=args.json, quiet=args.quiet)
        try:
            channels = _channels(_split(args.channels))
        except ValueError as error:
            parser.error(f"--channels: {error}")
        if not channels:
            parser.error("--channels: none given")
        if not args.connect_timeout > 0:
            parser.error("--connect-timeout must be positive")
        run = _stream if args.command == "stream" else _record
        return asyncio.run(run(args, channels))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush must not fail
        return 0  # the reader went away (| head): nothing more to do
    except (ValueError, OSError) as error:  # RecordingError is a ValueError
        print(f"tickwire {args.command}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _positive(text: str) -> float | bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return value if value > 0 else False


def _printer(as_json: bool) -> Callable[[Trade | BBO | BookUpdate | Ticker | Order | Balance | Fill], object]:
    write = sys.stdout.write
    if as_json:
        return lambda event: write(json.dumps(event_fields(event)) + "\n")
    return lambda event: write(event_line(event) + "\n")


def event_line(event: Trade | BBO | BookUpdate | Ticker | Order | Balance | Fill) -> str:
    """A readable line for ``event``: exchange time (UTC), venue, symbol, kind, the numbers."""
    if isinstance(event, Balance):
        return f"{_stamp(event.exchange_time_ns)} {event.venue:<8} {event.currency:<14} balance total {event.total}  available {event.available}  change {event.change}"
    if isinstance(event, Order):
        return (
            f"{_stamp(event.exchange_time_ns)} {event.venue:<8} {event.symbol:<14} order  {event.order_id} {event.event:<6} "
            f"{event.side:<4} {event.amount} @ {event.price}  filled {event.filled}  left {event.left}  {event.status}"
        )
    if isinstance(event, Fill):
        return (
            f"{_stamp(event.exchange_time_ns)} {event.venue:<8} {event.symbol:<14} fill   {event.side:<4} {event.qty} @ {event.price}  "
            f"order {event.order_id}  {event.role}  fee {event.fee} {event.fee_currency}"
        )
    stamp = _stamp(event.exchange_time_ns)
    where = f"{stamp} {event.venue:<8} {event.symbol:<14}"
    if isinstance(event, Trade):
        return f"{where} trade  {event.side:<4} {event.qty} @ {event.price}  id {event.trade_id}"
    if isinstance(event, BBO):
        return f"{where} bbo    {event.bid_qty} @ {event.bid_price}  /  {event.ask_price} x {event.ask_qty}"
    if isinstance(event, BookUpdate):
        kind = "snapshot" if event.is_snapshot else "delta"
        best_bid = f"{event.bids[0][1]} @ {event.bids[0][0]}" if event.bids else "-"
        best_ask = f"{event.asks[0][0]} x {event.asks[0][1]}" if event.asks else "-"
        sequence = f"  seq {event.last_sequence}" if event.last_sequence is not None else ""
        return f"{where} book   {kind:<8} {len(event.bids)} bids {len(event.asks)} asks  first {best_bid}  /  {best_ask}{sequence}"
    return (
        f"{where} ticker last {event.last_price}  bid {event.bid_price}  ask {event.ask_price}  "
        f"24h volume {event.volume_24h}"
    )


def _stamp(exchange_time_ns: int) -> str:
    """The exchange time as ``HH:MM:SS.mmm`` (UTC), or dashes when the venue sends none."""
    if not exchange_time_ns:
        return "--:--:--.---"
    return datetime.datetime.fromtimestamp(exchange_time_ns / 1e9, datetime.UTC).strftime("%H:%M:%S.%f")[:-3]


class _Connection:
    """What ``stream`` and ``record`` learn of their connections: the first success, and the
    reason of each failure (on stderr as it happens)."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.connected = asyncio.Event()
        self.last_failure: str | None = None
        self.fatal: str | None = None
        self.done = asyncio.Event()

    def on_state(self, name: str, event: SessionEvent) -> None:
        if event.event == "connected":
            self.connected.set()
        elif event.event in ("connect_failed", "disconnected", "gave_up", "circuit_open"):
            if event.event != "disconnected" or not self.done.is_set():
                print(f"tickwire {self.command}: {name}: {event.message}", file=sys.stderr, flush=True)
            if event.event == "connect_failed":
                self.last_failure = event.message
            elif event.event == "gave_up":
                self.fail(event.message)

    def reader_gone(self) -> None:
        """Stdout's reader went away (``| head``): stop quietly, success."""
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush must not fail
        self.done.set()

    def fail(self, reason: str) -> None:
        self.fatal = reason
        self.done.set()

    async def wait_connected(self, url: str, timeout: float) -> int | None:
        """None once connected; the exit status when the connection never came."""
        waiter = asyncio.ensure_future(self.connected.wait())
        ender = asyncio.ensure_future(self.done.wait())
        try:
            await asyncio.wait((waiter, ender), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            ender.cancel()
        if self.connected.is_set():
            return None
        reason = self.fatal or self.last_failure or "no answer"
        print(f"tickwire {self.command}: could not connect to {url} within {timeout:g} s: {reason}", file=sys.stderr, flush=True)
        return EXIT_FAILURE

    async def run_for(self, duration: float | None) -> int:
        """Until ``duration`` seconds pass or a fatal failure; flushes stdout every second."""
        deadline = None if duration is None else time.monotonic() + duration
        while not self.done.is_set():
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), min(1.0, left))
            sys.stdout.flush()
        self.done.set()
        sys.stdout.flush()
        if self.fatal is not None:
            print(f"tickwire {self.command}: {self.fatal}", file=sys.stderr, flush=True)
            return EXIT_FAILURE
        return 0


#: Retries of ``stream`` and ``record``: soon after a failure, never more than 5 s apart.
_CLI_RECONNECT = ReconnectPolicy(initial_delay=0.5, max_delay=5.0)


async def _stream(args: argparse.Namespace, channels: list[Channel]) -> int:
    """A feed on the venue, printing each event; the exit status."""
    endpoint = args.venue if args.venue in registered_venues() else endpoint_of(args.venue, args.symbols)
    urls = {endpoint: args.url} if args.url else None
    feed = Feed(urls=urls, reconnect=_CLI_RECONNECT)
    feed.subscribe(args.venue, args.symbols, channels)
    connection = _Connection("stream")
    feed.on_state(connection.on_state)
    printer = _printer(args.json)
    for register in (feed.on_trade, feed.on_bbo, feed.on_book, feed.on_ticker, feed.on_order, feed.on_balance, feed.on_fill):
        register(printer)

    @feed.on_error
    def on_error(error: BaseException) -> None:
        if isinstance(error, BrokenPipeError):
            connection.reader_gone()
        elif isinstance(error, SubscriptionError):
            connection.fail(str(error))
        else:
            print(f"tickwire stream: {error}", file=sys.stderr, flush=True)

    url = args.url or "the venue"
    async with feed:
        if not args.quiet:
            print(f"tickwire stream: {args.venue} {', '.join(args.symbols)} ({', '.join(channels)}) from {url}", file=sys.stderr, flush=True)
        failed = await connection.wait_connected(url, args.connect_timeout)
        if failed is not None:
            return failed
        return await connection.run_for(args.duration)


async def _record(args: argparse.Namespace, channels: list[Channel]) -> int:
    """A recorder writing ``args.output``; the exit status."""
    recorder = Recorder(args.output, args.venue, args.symbols, channels, url=args.url, reconnect=_CLI_RECONNECT)
    connection = _Connection("record")
    recorder.on_state(lambda event: connection.on_state(recorder.endpoint, event))
    async with recorder:
        if not args.quiet:
            print(f"tickwire record: {args.venue} {', '.join(args.symbols)} ({', '.join(channels)}) from {recorder.url} to {args.output}", file=sys.stderr, flush=True)
        try:
            failed = await connection.wait_connected(recorder.url, args.connect_timeout)
            status = failed if failed is not None else await connection.run_for(args.duration)
        finally:
            connection.done.set()
    if not args.quiet:
        print(f"tickwire record: wrote {recorder.records:,} frames to {args.output}", file=sys.stderr, flush=True)
    return status


def _replay(path: str, speed: float | None, *, as_json: bool, quiet: bool) -> int:
    """Prints the events of the capture log at ``path``; the exit status."""
    events = replay(path, speed=speed)
    header = events.recording.header
    if not quiet:
        pairs = ", ".join(f"{symbol} {channel}" for symbol, channel in header.subscriptions)
        started = datetime.datetime.fromtimestamp(header.started_at_ns / 1e9, datetime.UTC).isoformat(timespec="seconds")
        print(f"tickwire replay: {header.venue} ({header.endpoint}) from {header.url}, recorded {started} by tickwire {header.tickwire_version}: {pairs}", file=sys.stderr, flush=True)
    printer = _printer(as_json)
    try:
        for event in events:
            printer(event)
            if speed is not None:
                sys.stdout.flush()
    except RecordingError as error:
        sys.stdout.flush()
        print(f"tickwire replay: {error}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    sys.stdout.flush()  # a log cut short was reported by the reader's warning, on stderr
    return 0


def _simulate_line(row: dict[str, Any]) -> str:
    return (
        f"{row['venue']:<9} clients {row['clients']:>3}  {row['frames_per_s']:>11,.0f} frames/s  "
        f"sent {row['frames_sent']:>12,}  happenings {row['happenings']:>12,}  "
        f"faults {row['faults']:>4}  dropped slow {row['slow_disconnects']} heartbeat {row['heartbeat_disconnects']}"
    )


_SIMULATE_COLUMNS = (
    Column.field("venue", justify="left"),
    Column.field("clients"),
    Column.field("frames_per_s", "frames/s", ",.0f"),
    Column.field("frames_sent", "frames sent", ","),
    Column.field("happenings", spec=","),
    Column.field("faults"),
    Column.field("slow_disconnects", "dropped slow"),
    Column.field("heartbeat_disconnects", "dropped silent"),
)


async def _serve_replay(args: argparse.Namespace, speed: float | None) -> int:
    """Serves the capture log to feeds until it has been played (and a second more for the
    last frames to be read), ``--duration`` or Ctrl-C; the exit status."""
    from .replay_server import ReplayServer

    venue = ReplayServer(args.file, speed=speed, host=args.host, port=args.port)
    header = venue.recording.header
    async with venue:
        print(json.dumps(venue.urls()) if args.json else f"tickwire replay: serving {header.endpoint} at {venue.url}", flush=True)
        if not args.quiet and not args.json:
            print(f"tickwire replay: e.g. tickwire stream {header.venue} {' '.join(sorted({s for s, _ in header.subscriptions}))} "
                  f"--channels {','.join(sorted({c for _, c in header.subscriptions}))} --url {venue.url}", file=sys.stderr, flush=True)
        try:
            await asyncio.wait_for(venue.finished.wait(), args.duration)
            await asyncio.sleep(1.0)
        except TimeoutError:
            pass
    if not args.quiet:
        print(f"tickwire replay: sent {venue.frames_sent:,} frames to {venue.connections} connection(s)"
              f"{'' if venue.finished.is_set() else ' (stopped before the end of the log)'}", file=sys.stderr, flush=True)
    return 0


async def _simulate(simulator: Simulator, duration: float | None, mode: ViewMode) -> None:
    """Serve until ``duration`` seconds have passed or Ctrl-C, showing counters every second."""
    view = StatusView(mode, _SIMULATE_COLUMNS, _simulate_line, "tickwire simulate")
    async with simulator:
        for venue in simulator.venues:
            markets = ", ".join(unified for unified, _ in simulator.markets(venue))
            view.note(f"{venue:<9} markets {markets}")
        for endpoint, url in simulator.urls().items():
            view.note(f"{endpoint:<13} {url}")
        started = time.monotonic()
        deadline = None if duration is None else started + duration
        last = started
        previous = {venue: stats["frames_sent"] for venue, stats in simulator.stats().items()}
        try:
            with view:
                while deadline is None or last < deadline:
                    await asyncio.sleep(1.0 if deadline is None else max(0.0, min(1.0, deadline - last)))
                    now = time.monotonic()
                    rows = []
                    for venue, stats in simulator.stats().items():
                        rows.append({
                            "venue": venue,
                            "clients": stats["clients_connected"],
                            "frames_per_s": round((stats["frames_sent"] - previous[venue]) / max(now - last, 1e-9), 1),
                            "frames_sent": stats["frames_sent"],
                            "happenings": stats["happenings"],
                            "faults": sum(stats["faults"].values()),
                            "slow_disconnects": stats["slow_disconnects"],
                            "heartbeat_disconnects": stats["heartbeat_disconnects"],
                        })
                        previous[venue] = stats["frames_sent"]
                    view.show(rows)
                    last = now
        finally:
            stats = simulator.stats()
            sent = sum(venue_stats["frames_sent"] for venue_stats in stats.values())
            view.summary(
                f"sent {sent:,} frames in {time.monotonic() - started:.1f} s",
                {"frames_sent": sent, "seconds": round(time.monotonic() - started, 3)},
            )


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


def _serve_line(row: dict[str, Any]) -> str:
    return (
        f"clients {row['connections_active']:>4}  published {row['messages_published']:>10,}  "
        f"sent {row['messages_sent']:>10,}  conflated {row['conflated_messages']:>8,}  "
        f"lagged {row['lagged_clients']}  refused {row['connections_refused']}"
    )


_SERVE_KEYS = ("connections_active", "messages_published", "messages_sent", "conflated_messages", "lagged_clients", "connections_refused")
_SERVE_COLUMNS = (
    Column.field("connections_active", "clients"),
    Column.field("messages_published", "published", ","),
    Column.field("messages_sent", "sent", ","),
    Column.field("conflated_messages", "conflated", ","),
    Column.field("lagged_clients", "lagged"),
    Column.field("connections_refused", "refused"),
)


async def _serve(
    server: Server, symbols: dict[str, list[str]], source: str, rate: int, duration: float | None, mode: ViewMode
) -> None:
    """The server fed by a feed (on the simulator or live) until ``duration`` or Ctrl-C."""
    view = StatusView(mode, _SERVE_COLUMNS, _serve_line, "tickwire serve")
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
        view.note(f"dashboard {server.url}  websocket {server.ws_url}  ({source}: {', '.join(symbols)})")
        started = time.monotonic()
        metrics = server.metrics()
        try:
            with view:
                while duration is None or time.monotonic() - started < duration:
                    await asyncio.sleep(1.0 if duration is None else max(0.0, min(1.0, duration - (time.monotonic() - started))))
                    metrics = server.metrics()
                    view.show([{key: metrics[key] for key in _SERVE_KEYS}])
        finally:
            view.summary(
                f"published {metrics['messages_published']:,} messages, sent {metrics['messages_sent']:,} "
                f"in {time.monotonic() - started:.1f} s",
                {key: metrics[key] for key in _SERVE_KEYS} | {"seconds": round(time.monotonic() - started, 3)},
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
        self.latencies = _core.LatencyHistogram()
        self.errors = 0

    def on_event(self, event: Trade | BBO | BookUpdate | Ticker) -> None:
        self.latencies.record(max(0, time.monotonic_ns() - event.receive_time_ns))
        self.total += 1
        self.interval += 1

    def take(self, seconds: float) -> tuple[float, float, float]:
        """Events/s, p50 and p99 µs of the interval; starts the next one."""
        empty = self.latencies.count == 0
        p50 = float("nan") if empty else self.latencies.percentile_ns(50) / 1000
        p99 = float("nan") if empty else self.latencies.percentile_ns(99) / 1000
        rate = self.interval / seconds
        self.interval = 0
        self.latencies.reset()
        return rate, p50, p99


def _demo_line(row: dict[str, Any]) -> str:
    return (
        f"{row['venue']:<9} {'connected' if row['connected'] else 'DOWN':<9} {row['events_per_s']:>9,.0f} events/s  "
        f"read→callback p50 {row['p50_us']:>7.1f} µs  p99 {row['p99_us']:>8.1f} µs  total {row['total']:>9,}  "
        f"books {row['books_valid']}/{row['books']} valid, {row['resyncs']} resynced  "
        f"reconnects {row['reconnects']}  errors {row['errors']}"
    )


_DEMO_COLUMNS = (
    Column.field("venue", justify="left"),
    Column("state", lambda row: "[green]up[/]" if row["connected"] else "[bold red]DOWN[/]", "left"),
    Column.field("events_per_s", "ev/s", ",.0f"),
    Column.field("p50_us", "p50 µs", ".1f"),
    Column.field("p99_us", "p99 µs", ".1f"),
    Column.field("total", "events", ","),
    Column("books", lambda row: f"{row['books_valid']}/{row['books']}"),
    Column.field("resyncs", "resync"),
    Column.field("reconnects", "reconn"),
    Column.field("errors", "err"),
)


def _venue_rows(tallies: dict[str, _VenueTally], metrics: dict[str, Any], seconds: float) -> list[dict[str, Any]]:
    """A row per venue: the tally's interval and the feed's metrics of the venue's links."""
    rows = []
    for venue, tally in tallies.items():
        events_per_s, p50, p99 = tally.take(seconds)
        links = [m for name, m in metrics.items() if name.split("-")[0].split("#")[0] == venue]
        books = [m["books"] for m in links if "books" in m]
        rows.append({
            "venue": venue,
            "connected": bool(links) and all(m["connected"] for m in links),
            "events_per_s": round(events_per_s, 1),
            "p50_us": round(p50, 1),
            "p99_us": round(p99, 1),
            "total": tally.total,
            "books_valid": sum(b["valid"] for b in books),
            "books": sum(b["books"] for b in books),
            "resyncs": sum(b["resyncs"] for b in books),
            "reconnects": sum(m["reconnection_count"] for m in links),
            "errors": tally.errors,
        })
    return rows


async def _demo(rate: int, duration: float | None, faults: float, port: int, mode: ViewMode) -> None:
    """The simulator for all five venues and a feed on every channel of two symbols each;
    the venues' status every second until ``duration`` or Ctrl-C, then a summary."""
    symbols = sorted({symbol for venue_symbols in DEMO_SYMBOLS.values() for symbol in venue_symbols})
    tallies = {venue: _VenueTally() for venue in DEMO_SYMBOLS}
    started = time.monotonic()
    deadline = None if duration is None else started + duration
    view = StatusView(mode, _DEMO_COLUMNS, _demo_line, "tickwire demo")
    async with Simulator(list(DEMO_SYMBOLS), symbols, rate=rate, faults=faults) as sim, await _start_server(Server(port=port)) as server:
        # Loopback answers in microseconds: short heartbeat and close limits show recovery from a
        # stalled or dropped connection within seconds.
        # A loopback connection that stayed up 5 s is sound: with --faults every few seconds,
        # the default 30 s would let the backoff climb to a minute and keep venues down.
        feed = Feed(
            urls=sim.urls(),
            reconnect=ReconnectPolicy(stable_after=5.0),
            ping_interval=1.0,
            stale_timeout=3.0,
            close_timeout=1.0,
        )
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
        view.note(f"dashboard {server.url}")
        view.note(f"tickwire demo: simulated {', '.join(DEMO_SYMBOLS)} at {rate:,} happenings/s each"
                  f"{f', {faults:g} faults/min' if faults else ''}; Ctrl-C to stop")
        try:
            with view:
                async with feed:
                    last = time.monotonic()
                    while deadline is None or last < deadline:
                        await asyncio.sleep(1.0 if deadline is None else max(0.0, min(1.0, deadline - last)))
                        now = time.monotonic()
                        view.show(_venue_rows(tallies, feed.metrics()["venues"], now - last))
                        last = now
        finally:
            elapsed = time.monotonic() - started
            total = sum(t.total for t in tallies.values())
            view.summary(
                f"received {total:,} events in {elapsed:.1f} s ({total / elapsed:,.0f}/s): "
                + ", ".join(f"{venue} {tally.total:,}" for venue, tally in tallies.items()),
                {"events": total, "seconds": round(elapsed, 3), "by_venue": {v: t.total for v, t in tallies.items()},
                 "errors": sum(t.errors for t in tallies.values())},
            )


if __name__ == "__main__":
    sys.exit(main())
