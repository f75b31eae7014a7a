"""Compare tickwire with its Python peers (picows, websockets, aiohttp) on one machine.

What is measured, each for every client, each run in a fresh client process:

raw
    Messages/s delivered to a Python callback that only counts them, from the client's "go"
    to the server's sentinel after ``--messages`` Binance-shaped trade frames sent as fast as
    TCP takes them; and the client process's CPU time per message (``getrusage(RUSAGE_SELF)``,
    user+system, every thread included, so tickwire's Rust I/O thread is counted too). The
    clock starts when the callback is installed and "go" is sent, not at the first message, so
    nothing a library buffers before its first callback escapes the measurement.
decoded
    The same, with the callback decoding each message into a typed ``msgspec.Struct``.
typed
    Trades to a callback that receives a typed trade and reads its price as a float:
    ``tickwire-feed`` is tickwire's ``Feed`` on its built-in Binance venue (parsed in Rust on
    the I/O thread, ``tickwire.Trade`` objects routed by Rust); every other client decodes each
    message with msgspec into a ``Trade`` struct for the same callback, and
    ``tickwire-pyvenue`` is the ``Feed`` on ``examples/python_venue.py``, a Binance venue
    written in Python (msgspec decoding in its ``parse``, ``tickwire.Trade`` objects handed to
    the Rust dispatch once per batch); ``picows-pyvenue`` runs that venue's very ``parse``
    in picows's frame callback, without a feed (the same Python work on the fastest plain
    client).
latency
    Server-write-to-callback latency at a fixed ``--rate``: the server patches its
    ``time.monotonic_ns()`` into each frame just before writing it, the callback subtracts it
    from its own (CLOCK_MONOTONIC is system-wide). Percentiles after a warm-up.
echo
    Round-trip time of sequential small text messages through the server's echo mode.
book
    Order-book updates/s, each decoded, applied to its market's book and followed by a read of
    the best bid and ask, and CPU time per update, measured for ``--book-seconds`` after
    ``--book-warmup``. The server is tickwire's simulator speaking Bybit's v5 public spot
    protocol at its maximum rate (it writes as fast as its client reads) on a few markets'
    ``orderbook.50`` topics. ``tickwire-feed`` is ``Feed.on_book`` reading the market's
    ``BookView``; ``picows`` is the same work in pure Python (picows, msgspec structs with
    ``Decimal`` prices, a ``sortedcontainers.SortedDict`` per side); ``picows-float`` keys the
    books by ``float`` instead. See ``benches/book_bench.py``.

How: the firehose server (``benches/firehose.py``) runs in its own process pinned to one CPU
and writes pre-encoded frames from a large buffer, so it needs a few percent of that CPU (its
share is printed); for the ``book`` scenario a fresh simulator per client takes its place on
that CPU (its share is printed too). Each client process is pinned to the other CPU, so every
library gets the same single CPU for the event loop and any threads it starts. Clients on
asyncio run on uvloop (``picows-asyncio`` is picows on the default loop, on request). Every
callback is the same Python function shape; a library that hands over a frame object (picows)
turns it into owned ``bytes`` first, as the others do.

Run: ``python benches/compare.py`` (add ``--quick`` for a smoke run, ``--json PATH`` to keep
the results). Numbers vary between runs by a few percent, more on a busy machine: keep the
machine otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_clients  # noqa: E402
import book_bench  # noqa: E402
import firehose  # noqa: E402
import report  # noqa: E402
from report import Column, Results  # noqa: E402

DEFAULT_CLIENTS = ("tickwire", "tickwire-batch", "tickwire-feed", "tickwire-pyvenue", "picows", "picows-pyvenue", "picows-float", "websockets", "aiohttp")
#: Every client name, in the order results are shown.
CLIENTS = (*bench_clients.CLIENTS, *(name for name in book_bench.CLIENTS if name not in bench_clients.CLIENTS))
FIREHOSE_SCENARIOS = ("raw", "decoded", "typed", "latency", "echo")
SCENARIOS = (*FIREHOSE_SCENARIOS, "book")
#: Clients that run only some scenarios; the book scenario runs only the clients of book_bench.
ONLY = {"tickwire-feed": ("typed", "book"), "tickwire-pyvenue": ("typed",), "picows-pyvenue": ("typed",), "picows-float": ("book",)}
BASELINE = "picows"
FULL = {"messages": 1_000_000, "latency_seconds": 5.0, "echo_count": 20_000, "book_seconds": 5.0, "book_warmup": 1.0}
QUICK = {"messages": 100_000, "latency_seconds": 1.0, "echo_count": 2_000, "book_seconds": 1.5, "book_warmup": 0.5}
_SERVER_START_TIMEOUT_S = 15.0
# Process start, imports and the closing handshake, on top of a scenario's own time limit.
_PROCESS_OVERHEAD_S = 30.0
# A raw run should keep the client's CPU saturated; below this something else got in the way.
_MIN_CPU_SHARE = 0.9

COLUMNS = (
    Column("raw msg/s", "raw", "msgs_per_s", report.rate),
    Column("decoded msg/s", "decoded", "msgs_per_s", report.rate),
    Column("typed msg/s", "typed", "msgs_per_s", report.rate),
    Column("typed CPU µs/msg", "typed", "cpu_us_per_msg", report.cpu),
    Column("CPU µs/msg", "raw", "cpu_us_per_msg", report.cpu),
    Column("lat p50 µs", "latency", "p50_us", report.us),
    Column("lat p99 µs", "latency", "p99_us", report.us),
    Column("echo p50 µs", "echo", "p50_us", report.us),
    Column("echo p99 µs", "echo", "p99_us", report.us),
    Column("book upd/s", "book", "updates_per_s", report.rate),
    Column("book CPU µs/upd", "book", "cpu_us_per_update", report.cpu),
)
DETAIL_COLUMNS = (
    Column("lat p99.9 µs", "latency", "p99.9_us", report.us),
    Column("lat max µs", "latency", "max_us", report.us),
    Column("echo p99.9 µs", "echo", "p99.9_us", report.us),
    Column("client CPU % (raw)", "raw", "cpu_share", report.pct),
    Column("server CPU % (raw)", "raw", "server_cpu_share", report.pct),
    Column("client CPU % (book)", "book", "cpu_share", report.pct),
    Column("server CPU % (book)", "book", "server_cpu_share", report.pct),
)


# -- command line -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default=",".join(DEFAULT_CLIENTS), help=f"comma-separated, from {', '.join(CLIENTS)}; or 'all'")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, from {', '.join(SCENARIOS)}")
    parser.add_argument("--messages", type=int, help="messages per throughput run (1,000,000)")
    parser.add_argument("--rate", type=int, default=10_000, help="messages/s in the latency run")
    parser.add_argument("--latency-seconds", type=float, help="measured seconds of the latency run (5)")
    parser.add_argument("--latency-warmup", type=float, default=0.5, help="seconds of the latency run discarded first")
    parser.add_argument("--echo-count", type=int, help="round trips in the echo run (20,000)")
    parser.add_argument("--book-seconds", type=float, help="measured seconds of the book run (5)")
    parser.add_argument("--book-warmup", type=float, help="seconds of the book run before the measured ones (1)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100,000 messages, 1 s latency, 2,000 echoes, 1.5 s book, unless given")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--stall-timeout", type=float, default=10.0, help="seconds without progress before a run fails")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.clients = list(CLIENTS) if args.clients == "all" else _split(args.clients, CLIENTS, parser)
    args.scenarios = _split(args.scenarios, SCENARIOS, parser)
    if min(args.messages, args.rate, args.echo_count) <= 0 or min(args.latency_seconds, args.book_seconds, args.book_warmup) <= 0:
        parser.error("counts, rate and durations must be positive")
    return args


def _split(value: str, allowed: Any, parser: argparse.ArgumentParser) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        parser.error(f"unknown or empty selection {unknown or value!r}; choose from {', '.join(allowed)}")
    return names


def scenario_params(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """What each client process needs for each scenario, including its own time limit."""
    common = {
        "messages": args.messages,
        "rate": args.rate,
        "latency_seconds": args.latency_seconds,
        "latency_warmup_s": args.latency_warmup,
        "echo_count": args.echo_count,
        "echo_warmup": min(1000, args.echo_count // 10),
        "stall_s": args.stall_timeout,
        "book_seconds": args.book_seconds,
        "book_warmup_s": args.book_warmup,
    }
    # Generous: a limit only has to end a run that creeps along without quite stalling.
    limits = {
        "raw": 30 + args.messages / 10_000,
        "decoded": 30 + args.messages / 10_000,
        "typed": 30 + args.messages / 10_000,
        "latency": 30 + 2 * (args.latency_seconds + args.latency_warmup),
        "echo": 30 + args.echo_count / 1_000,
        "book": 30 + 2 * (args.book_seconds + args.book_warmup),
    }
    return {s: {**common, "limit_s": limits[s]} for s in SCENARIOS}


# -- environment --------------------------------------------------------------------------------


def environment(args: argparse.Namespace) -> dict[str, Any]:
    packages = ("picows", "aiofastnet", "websockets", "aiohttp", "uvloop", "msgspec", "sortedcontainers")
    return report.environment(packages, server_cpu=args.server_cpu, client_cpu=args.client_cpu)


def print_header(env: dict[str, Any], args: argparse.Namespace) -> None:
    report.print_header(
        env,
        f"firehose server (simulator for book) on CPU {args.server_cpu}; each client process (all its threads) on CPU {args.client_cpu}",
        f"{args.messages:,} messages per throughput run; latency {args.rate:,} msg/s for "
        f"{args.latency_seconds:g} s after {args.latency_warmup:g} s warm-up; {args.echo_count:,} echoes; "
        f"book {args.book_seconds:g} s after {args.book_warmup:g} s warm-up on {len(book_bench.SYMBOLS)} Bybit markets",
    )


# -- processes ----------------------------------------------------------------------------------


class ServerProcess:
    """A server in its own process, started by ``target(conn, *args)``, which pins itself and
    reports ``("ready", address)`` on ``conn``; stopped and reaped by :meth:`stop`."""

    def __init__(self, ctx: Any, name: str, target: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.name = name
        self._control, child = ctx.Pipe()
        self.process = ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
        self.process.start()
        child.close()
        try:
            self.address = self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> Any:
        if not self._control.poll(_SERVER_START_TIMEOUT_S):
            raise RuntimeError(f"{self.name} server did not start within {_SERVER_START_TIMEOUT_S:.0f} s")
        try:
            status, address = self._control.recv()
        except EOFError:
            raise RuntimeError(f"{self.name} server exited during start-up (exit code {self.process.exitcode})") from None
        if status != "ready":
            raise RuntimeError(f"unexpected message from the {self.name} server: {status!r}")
        return address

    def check_alive(self) -> None:
        if not self.process.is_alive():
            raise RuntimeError(f"{self.name} server died (exit code {self.process.exitcode})")

    def stop(self) -> None:
        try:
            self._control.send("stop")
        except OSError:
            pass  # already gone
        report.reap(self.process)
        self._control.close()


def run_client(ctx: Any, name: str, target: Callable[..., None], args: tuple[Any, ...], timeout: float) -> dict[str, Any]:
    """One client process, started by ``target(conn, *args)``; always returns a result dict,
    never hangs."""
    receiver, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
    try:
        process.start()
        child.close()
        if not receiver.poll(timeout):
            return {"ok": False, "error": f"no result within {timeout:.0f} s; process killed"}
        try:
            return receiver.recv()  # type: ignore[no-any-return]
        except EOFError:
            process.join(report.REAP_TIMEOUT_S)
            return {"ok": False, "error": f"client process died without a result (exit code {process.exitcode})"}
    finally:
        report.reap(process)
        receiver.close()


def summary(result: dict[str, Any], scenario: str) -> str:
    if not result["ok"]:
        return "FAILED: " + str(result["error"]).splitlines()[0]
    if scenario in ("raw", "decoded", "typed"):
        text = f"{result['msgs_per_s']:>12,.0f} msg/s  {result['cpu_us_per_msg']:.2f} µs CPU/msg  {100 * result['cpu_share']:.0f}% CPU"
    elif scenario == "book":
        text = (
            f"{result['updates_per_s']:>12,.0f} upd/s  {result['cpu_us_per_update']:.2f} µs CPU/upd  "
            f"{100 * result['cpu_share']:.0f}% CPU, server {100 * result['server_cpu_share']:.0f}%"
        )
    else:
        text = f"p50 {result['p50_us']:.1f} µs  p99 {result['p99_us']:.1f} µs  max {result['max_us']:.0f} µs"
    details = result.get("details", {})
    if details.get("batches_delivered"):
        text += f"  ({details['messages_delivered'] / details['batches_delivered']:.1f} msgs/batch)"
    return text


def runs(name: str, scenario: str) -> bool:
    """Whether client ``name`` takes part in ``scenario``."""
    if scenario not in ONLY.get(name, SCENARIOS):
        return False
    return name in book_bench.CLIENTS if scenario == "book" else name in bench_clients.CLIENTS


def run_all(args: argparse.Namespace) -> dict[str, dict[str, dict[str, Any]]]:
    ctx = multiprocessing.get_context("spawn")
    params = scenario_params(args)
    results: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in args.clients}

    def record(scenario: str, name: str, result: dict[str, Any]) -> None:
        results[name][scenario] = result
        print(f"  {scenario:<8} {name:<15} {summary(result, scenario)}", flush=True)

    def timeout(scenario: str) -> float:
        return float(params[scenario]["limit_s"]) + _PROCESS_OVERHEAD_S

    firehose_scenarios = [s for s in args.scenarios if s in FIREHOSE_SCENARIOS]
    if firehose_scenarios:
        server = ServerProcess(ctx, "firehose", firehose.serve_in_process, (args.server_cpu,))
        try:
            port = int(server.address)
            print(f"firehose server pid {server.process.pid} on ws://127.0.0.1:{port}/", flush=True)
            for scenario in firehose_scenarios:
                for name in (n for n in args.clients if runs(n, scenario)):
                    server.check_alive()
                    client_args = (name, scenario, port, params[scenario], args.client_cpu)
                    record(scenario, name, run_client(ctx, f"{name}-{scenario}", bench_clients.client_process, client_args, timeout(scenario)))
        finally:
            server.stop()
    if "book" in args.scenarios:
        # A fresh simulator per client: each starts from the same seeded markets.
        for name in (n for n in args.clients if runs(n, "book")):
            server = ServerProcess(ctx, "simulator", book_bench.serve_in_process, (args.server_cpu, list(book_bench.SYMBOLS)))
            try:
                url, markets = server.address["url"], server.address["markets"]
                client_args = (name, url, markets, {**params["book"], "server_pid": server.process.pid}, args.client_cpu)
                result = run_client(ctx, f"{name}-book", book_bench.client_process, client_args, timeout("book"))
                server.check_alive()
            finally:
                server.stop()
            record("book", name, result)
    return results


# -- report -------------------------------------------------------------------------------------


def render_table(results: Results, columns: tuple[Column, ...], with_ratio: bool) -> str:
    """The columns of the scenarios that ran; with ``with_ratio``, each value's ratio to the baseline's."""
    return report.render_table(results, columns, first="client", baseline=BASELINE if with_ratio else None, hide_empty=True)


def print_report(results: Results) -> None:
    print()
    print(render_table(results, COLUMNS, with_ratio=True))
    if BASELINE in results:
        print(f"(ratio = value / {BASELINE}'s: above 1.00x is better for msg/s, worse for CPU and µs)")
    print()
    print(render_table(results, DETAIL_COLUMNS, with_ratio=False))
    for scenario in ("raw", "book"):
        starved = [n for n, by_s in results.items() if by_s.get(scenario, {}).get("cpu_share", 1.0) < _MIN_CPU_SHARE]
        if starved:
            print(
                f"\nwarning: {', '.join(starved)} used under {100 * _MIN_CPU_SHARE:.0f}% of a CPU in the {scenario} run: "
                "another process took CPU time, or the client waited on the server; rerun on an idle machine"
            )
    report.print_failures(results)
    print(flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cpus = os.sched_getaffinity(0)
    if not {args.server_cpu, args.client_cpu} <= cpus:
        print(f"error: CPUs {args.server_cpu} and {args.client_cpu} are not both available (have {sorted(cpus)})", file=sys.stderr)
        return 2
    env = environment(args)
    print_header(env, args)
    started = time.monotonic()
    results = run_all(args)
    print_report(results)
    report.print_total(env, started)
    if args.json is not None:
        args.json.write_text(json.dumps({"environment": env, "params": scenario_params(args), "results": results}, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0 if report.all_ok(results) else 1


if __name__ == "__main__":
    sys.exit(main())
