"""Compare tickwire's broadcast server with broadcast servers written on websockets and picows.

Three servers, each in its own process pinned to one CPU, send the same messages to the same
clients:

``tickwire``
    ``tickwire.Server``, fed by ``Server.publish`` from a Python loop; the Rust core fans each
    message out to every client's queue and each client's writer sends what is queued with one
    flush. Run with ``queue_soft_limit=10**9`` so that no market data is conflated: every
    client must receive every message, as from the other two.
``websockets``
    The library's asyncio server and its ``broadcast()`` (``compression=None``,
    ``ping_interval=None``), on uvloop.
``picows``
    ``ws_create_server``; each message is written to every client with ``WSTransport.send``,
    on uvloop.

Every message is what tickwire sends for a ``MarketData`` publish, ~260 bytes of JSON:
``{"type":"MarketData","seq":…,"timestamp":"<UTC ISO 8601>","data":{"symbol":"BTCUSDT",
"price":…,"timestamp":<ns>,…}}``, where ``data.timestamp`` is the publisher's
``time.monotonic_ns()`` at publish time (CLOCK_MONOTONIC is system-wide, so a client subtracts
it from its own clock). The websockets and picows servers build the same bytes in Python
(``msgspec`` for ``data``), once per message.

The clients are N raw asyncio connections (uvloop) in one process pinned to the other CPU.
Each performs the opening handshake itself, negotiates no extension and counts its messages by
counting ``"type":"MarketData"`` in the bytes it reads (``bytes.count``, C speed; a marker cut
by a read boundary is counted once), so the client pays per read rather than per message and
the server is what saturates. Every run checks that every client received exactly what was
published. The client process's CPU share is reported: near 100 % would mean the client, not
the server, bounded the result.

What is measured, for each server:

idle RSS
    The server process's resident memory with no client, then with ``--idle-clients``
    (1,000) connected and idle after ``--settle`` seconds; the difference per client.
saturation (``--clients``, 100 and 1,000)
    The server publishes as fast as it can for ``--seconds``, in batches of ``--batch``
    messages, and between batches waits while clients are behind, the same way for all three:
    at most ``--window`` messages (256, ~67 KB) queued for a client in the server. websockets
    and picows wait while a connection's transport is above that write-buffer high-water mark
    (``write_limit`` and ``set_write_buffer_limits``); tickwire waits while more than
    ``--window`` messages per client, on average, are published but not yet written
    (``messages_sent``). Deliveries/s = clients x published / (last delivery - first publish);
    the server's CPU time (``/proc/<pid>/stat``, every thread) per delivery over the same run;
    messages per client read (with ``--client-lowat 1``: about how many the server wrote at once).
    The clients' sockets have ``SO_RCVLOWAT`` at ``--client-lowat`` (64 KiB) during these runs:
    a client reads a socket once 64 KiB wait there, so its CPU share stays far below the
    server's (with ``--client-lowat 1`` it reads every arrival and nears 100 % of its CPU
    against the peers). It drops to 1 once publishing ends, so the rest is read at once.
latency (``--latency-clients``, 100)
    ``--rate`` (1,000) messages/s for ``--latency-seconds`` after ``--latency-warmup``;
    publish-to-read latency of every message at every client: p50, p99, p99.9, max.

Run: ``python benches/broadcast.py`` (``--quick`` for a smoke run, ``--json PATH`` to keep the
results). Numbers vary between runs by 10-20 % on a two-CPU machine, more when it is busy: keep
the machine otherwise idle. Needs a file-descriptor limit above twice the largest client count.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import multiprocessing
import os
import re
import resource
import socket
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import msgspec  # noqa: E402

from bench_clients import BenchError, cpu_ns, import_tickwire, percentiles  # noqa: E402
from book_bench import process_cpu_ns  # noqa: E402
from firehose import new_event_loop, pin_to_cpu  # noqa: E402
import report  # noqa: E402
from report import Column, Results  # noqa: E402

SERVERS = ("tickwire", "websockets", "picows")
BASELINE = "websockets"
FULL = {"seconds": 5.0, "latency_seconds": 5.0}
QUICK = {"seconds": 1.0, "latency_seconds": 1.0}
HOST = "127.0.0.1"
#: Counted in the byte stream: once per MarketData message, in no other message.
MARKER = b'"type":"MarketData"'
#: ``data.timestamp`` of a MarketData message; ``data`` starts with symbol and price.
_PUBLISHED_NS = re.compile(rb'"price":[^,]*,"timestamp":(\d+),')
# Unmatched bytes kept between reads for the latency scan: more than one message.
_CARRY_BYTES = 1024
# A masked close frame, code 1000, with a zero mask (allowed: the key is not secret here).
_CLOSE_FRAME = b"\x88\x82\x00\x00\x00\x00\x03\xe8"
_CONNECT_CONCURRENCY = 64
_LISTEN_BACKLOG = 2048
_OPEN_TIMEOUT_S = 10.0
_START_TIMEOUT_S = 20.0
_REQUEST_TIMEOUT_S = 30.0
_POLL_S = 0.01
_TICK_S = 0.001
# A run where the client used more of its CPU than this may be bounded by the client.
_CLIENT_BOUND_SHARE = 0.9
# A saturation run where the server used less of its CPU than this did not saturate it.
_SATURATED_SHARE = 0.9
TARGET_RATIO = 5.0
TARGET_IDLE_BYTES = 4 * 1024


# -- the messages ---------------------------------------------------------------------------------


def market_data(i: int) -> dict[str, Any]:
    """The ``data`` of one MarketData message, stamped with the publisher's monotonic clock.
    Every field is given, in the protocol's order, so the peers encode what tickwire sends."""
    price = round(16_848.51 + (i % 97) * 0.01, 2)
    return {
        "symbol": "BTCUSDT",
        "price": price,
        "timestamp": time.monotonic_ns(),
        "venue": None,
        "price_change_24h": None,
        "price_change_percent_24h": None,
        "volume_24h": 12_345.678,
        "bid": round(price - 0.01, 2),
        "ask": round(price + 0.01, 2),
    }


class Envelope:
    """Builds the bytes tickwire's server sends for a MarketData publish, for the peers."""

    def __init__(self) -> None:
        self.seq = 0

    def encode(self, data: dict[str, Any]) -> bytes:
        self.seq += 1
        unix_ns = time.time_ns()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(unix_ns // 1_000_000_000))
        stamp += f".{unix_ns // 1000 % 1_000_000:06d}Z"
        return b'{"type":"MarketData","seq":%d,"timestamp":"%s","data":%s}' % (self.seq, stamp.encode(), msgspec.json.encode(data))


#: The size of every message (the digits of seq and timestamp vary little).
MESSAGE_BYTES = len(Envelope().encode(market_data(0)))


# -- the servers ----------------------------------------------------------------------------------


class Broadcaster:
    """One broadcast server under test, in the server process."""

    async def start(self) -> int:
        """Starts listening on a free port of ``HOST``; returns it."""
        raise NotImplementedError

    def publish(self, data: dict[str, Any]) -> None:
        """Sends one MarketData message to every connected client."""
        raise NotImplementedError

    def begin_run(self) -> None:
        """Called before a saturation run, with the clients connected."""

    async def wait_writable(self) -> None:
        """Returns once no client has more than the window queued in the server."""
        raise NotImplementedError

    def clients(self) -> int:
        raise NotImplementedError

    def counters(self) -> dict[str, int]:
        """The server's own counters, if it keeps any."""
        return {}

    async def stop(self) -> None:
        raise NotImplementedError


class TickwireBroadcaster(Broadcaster):
    def __init__(self, window: int) -> None:
        self.window = window
        self.server: Any = None
        self.published = 0
        self._run_start = (0, 0, 0)  # published, messages_sent, clients

    async def start(self) -> int:
        tickwire = import_tickwire()
        self.server = tickwire.Server(
            host=HOST,
            port=0,
            max_connections=5000,
            queue_soft_limit=10**9,  # never conflate: every client gets every message
            heartbeat_interval=600.0,  # no pings during a run: the peers send none either
            dashboard=False,
        )
        await self.server.start()
        return int(self.server.port)

    def publish(self, data: dict[str, Any]) -> None:
        self.server.publish("MarketData", data)
        self.published += 1

    def begin_run(self) -> None:
        self._run_start = (self.published, self.server.metrics()["messages_sent"], self.server.connections())

    async def wait_writable(self) -> None:
        published0, sent0, clients = self._run_start
        limit = clients * self.window
        while True:
            queued = clients * (self.published - published0) - (self.server.metrics()["messages_sent"] - sent0)
            if queued <= limit:
                return
            # Sleeping, not spinning: the Rust writers share this CPU.
            await asyncio.sleep(_TICK_S)

    def clients(self) -> int:
        return int(self.server.connections())

    def counters(self) -> dict[str, int]:
        return dict(self.server.metrics())

    async def stop(self) -> None:
        await self.server.stop()


class WebsocketsBroadcaster(Broadcaster):
    def __init__(self, window: int) -> None:
        self.write_limit_bytes = window * MESSAGE_BYTES
        self.connections: set[Any] = set()
        self.envelope = Envelope()
        self.server: Any = None

    async def start(self) -> int:
        import websockets
        from websockets.asyncio.server import serve

        self._broadcast = websockets.broadcast

        async def handler(connection: Any) -> None:
            self.connections.add(connection)
            try:
                await connection.wait_closed()
            finally:
                self.connections.discard(connection)

        self.server = await serve(
            handler, HOST, 0, compression=None, ping_interval=None, write_limit=self.write_limit_bytes, backlog=_LISTEN_BACKLOG
        )
        return int(self.server.sockets[0].getsockname()[1])

    def publish(self, data: dict[str, Any]) -> None:
        self._broadcast(self.connections, self.envelope.encode(data), text=True)

    async def wait_writable(self) -> None:
        await asyncio.sleep(0)
        for connection in list(self.connections):
            if connection.paused:
                await connection.drain()

    def clients(self) -> int:
        return len(self.connections)

    async def stop(self) -> None:
        self.server.close()
        await asyncio.wait_for(self.server.wait_closed(), _REQUEST_TIMEOUT_S)


class PicowsBroadcaster(Broadcaster):
    def __init__(self, window: int) -> None:
        self.write_limit_bytes = window * MESSAGE_BYTES
        self.listeners: set[Any] = set()
        self.envelope = Envelope()
        self.server: Any = None

    async def start(self) -> int:
        from picows import WSListener, WSMsgType, ws_create_server

        listeners = self.listeners
        text = WSMsgType.TEXT
        write_limit_bytes = self.write_limit_bytes

        class Listener(WSListener):
            def __init__(self) -> None:
                self.transport: Any = None
                self.resumed: asyncio.Future[None] | None = None

            def on_ws_connected(self, transport: Any) -> None:
                self.transport = transport
                transport.underlying_transport.set_write_buffer_limits(high=write_limit_bytes)
                listeners.add(self)

            def on_ws_disconnected(self, transport: Any) -> None:
                listeners.discard(self)
                self.resume_writing()

            def pause_writing(self) -> None:
                self.resumed = asyncio.get_running_loop().create_future()

            def resume_writing(self) -> None:
                if self.resumed is not None and not self.resumed.done():
                    self.resumed.set_result(None)
                self.resumed = None

            def send(self, message: bytes) -> None:
                self.transport.send(text, message)

        self.server = await ws_create_server(lambda _request: Listener(), HOST, 0, enable_auto_ping=False, backlog=_LISTEN_BACKLOG)
        return int(self.server.sockets[0].getsockname()[1])

    def publish(self, data: dict[str, Any]) -> None:
        message = self.envelope.encode(data)
        for listener in self.listeners:
            listener.send(message)

    async def wait_writable(self) -> None:
        await asyncio.sleep(0)
        for listener in list(self.listeners):
            if listener.resumed is not None:
                await listener.resumed

    def clients(self) -> int:
        return len(self.listeners)

    async def stop(self) -> None:
        for listener in list(self.listeners):
            listener.transport.disconnect()
        self.server.close()
        await asyncio.wait_for(self.server.wait_closed(), _REQUEST_TIMEOUT_S)


BROADCASTERS: dict[str, Callable[[int], Broadcaster]] = {
    "tickwire": TickwireBroadcaster,
    "websockets": WebsocketsBroadcaster,
    "picows": PicowsBroadcaster,
}


async def saturate(broadcaster: Broadcaster, seconds: float, batch: int) -> dict[str, Any]:
    """Publishes as fast as the clients take it for ``seconds``."""
    broadcaster.begin_run()
    counters = broadcaster.counters()
    clients = broadcaster.clients()
    published = 0
    start_ns = time.monotonic_ns()
    end_ns = start_ns + int(seconds * 1e9)
    while time.monotonic_ns() < end_ns:
        for _ in range(batch):
            broadcaster.publish(market_data(published))
            published += 1
        await broadcaster.wait_writable()
    after = broadcaster.counters()
    return {
        "published": published,
        "clients": clients,
        "start_ns": start_ns,
        "publish_end_ns": time.monotonic_ns(),
        "counters": {k: after[k] - counters[k] for k in after},
    }


async def paced(broadcaster: Broadcaster, rate: int, seconds: float) -> dict[str, Any]:
    """Publishes ``rate`` messages/s for ``seconds``, in ~1 ms ticks."""
    clients = broadcaster.clients()
    published = 0
    start_ns = time.monotonic_ns()
    end_ns = start_ns + int(seconds * 1e9)
    while (now := time.monotonic_ns()) < end_ns:
        due = (now - start_ns) * rate // 1_000_000_000
        while published < due:
            broadcaster.publish(market_data(published))
            published += 1
        await asyncio.sleep(_TICK_S)
    return {"published": published, "clients": clients, "start_ns": start_ns}


def server_process(conn: Any, kind: str, cpu: int, window: int) -> None:
    """Entry point of a server's process: pins itself (threads started later inherit it),
    reports ``{"port"}`` on ``conn``, then answers commands until ``stop`` or ``conn`` closes."""
    pin_to_cpu(cpu)
    broadcaster = BROADCASTERS[kind](window)

    async def run() -> None:
        port = await broadcaster.start()
        try:
            await answer_commands(
                conn,
                {"port": port},
                {
                    "saturate": lambda seconds, batch: saturate(broadcaster, seconds, batch),
                    "paced": lambda rate, seconds: paced(broadcaster, rate, seconds),
                    "clients": lambda: _value({"clients": broadcaster.clients()}),
                },
            )
        finally:
            await broadcaster.stop()

    _run_in_loop(run())


# -- the clients ----------------------------------------------------------------------------------


class Fleet:
    """The client process's connections and what they have received."""

    def __init__(self) -> None:
        self.connections: list[CountingClient] = []
        self.total = 0
        self.sample_from_ns: int | None = None  # None: no latency scan
        self.samples: list[int] = []

    async def connect(self, port: int, n: int) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(_CONNECT_CONCURRENCY)
        started = time.monotonic()

        async def one() -> None:
            async with gate:
                _, client = await asyncio.wait_for(loop.create_connection(lambda: CountingClient(self, port), HOST, port), _OPEN_TIMEOUT_S)
                self.connections.append(client)
                await asyncio.wait_for(client.opened, _OPEN_TIMEOUT_S)

        await asyncio.gather(*(one() for _ in range(n)))
        return {"connected": len(self.connections), "seconds": time.monotonic() - started}

    async def close_all(self) -> dict[str, Any]:
        for client in self.connections:
            client.close()
        self.connections.clear()
        return {}

    async def reset(self, latency_warmup_s: float | None, lowat_bytes: int) -> dict[str, Any]:
        for client in self.connections:
            client.count = 0
            client.reads = 0
            client.set_lowat(lowat_bytes)
        self.total = 0
        self.samples = []
        self.sample_from_ns = None if latency_warmup_s is None else time.monotonic_ns() + int(latency_warmup_s * 1e9)
        self.cpu_at_reset = cpu_ns()
        return {}

    async def wait_for(self, expected: int, stall_s: float, limit_s: float) -> dict[str, Any]:
        """Waits until every connection has received ``expected`` messages since :meth:`reset`."""
        goal = expected * len(self.connections)
        for client in self.connections:
            client.set_lowat(1)  # the rest, at once: nothing more will come
        deadline = time.monotonic() + limit_s
        last, last_change = self.total, time.monotonic()
        while self.total < goal:  # bounded by the deadline and the stall limit
            await asyncio.sleep(_POLL_S)
            now = time.monotonic()
            if self.total != last:
                last, last_change = self.total, now
            elif now - last_change > stall_s:
                raise BenchError(f"stalled: no message for {stall_s:.0f} s, {self.total:,} of {goal:,} received")
            if now > deadline:
                raise BenchError(f"not finished after {limit_s:.0f} s: {self.total:,} of {goal:,} received")
        # Let anything beyond the expected count show up before checking.
        await asyncio.sleep(0.05)
        counts = [c.count for c in self.connections]
        result: dict[str, Any] = {
            "done_ns": max(c.last_ns for c in self.connections),
            "cpu_ns": cpu_ns() - self.cpu_at_reset,
            "received_min": min(counts),
            "received_max": max(counts),
            "reads": sum(c.reads for c in self.connections),
            "closed": sum(c.closed for c in self.connections),
        }
        if self.sample_from_ns is not None:
            result["latency"] = percentiles(self.samples)
        return result


class CountingClient(asyncio.Protocol):
    """One connection: a hand-made opening handshake, then counts of MarketData messages."""

    def __init__(self, fleet: Fleet, port: int) -> None:
        self.fleet = fleet
        self.port = port
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Any = None
        self.head = b""
        self.tail = b""
        self.carry = b""
        self.count = 0
        self.reads = 0
        self.last_ns = 0
        self.closed = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16))
        transport.write(
            b"GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (HOST.encode(), self.port, key)
        )

    def data_received(self, data: bytes) -> None:
        if self.opened.done():
            self.stream(data)
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            return
        status = self.head.split(b"\r\n", 1)[0]
        if not status.startswith(b"HTTP/1.1 101"):
            self.opened.set_exception(BenchError(f"handshake refused: {status.decode(errors='replace')}"))
            return
        rest, self.head = self.head[end + 4 :], b""
        self.opened.set_result(None)
        if rest:
            self.stream(rest)

    def stream(self, data: bytes) -> None:
        fleet = self.fleet
        now = time.monotonic_ns()
        self.last_ns = now
        self.reads += 1
        n = data.count(MARKER)
        if self.tail:
            n += (self.tail + data[: len(MARKER) - 1]).count(MARKER)
        self.tail = data[1 - len(MARKER) :]
        self.count += n
        fleet.total += n
        if fleet.sample_from_ns is not None:
            self.sample(data, now)

    def sample(self, data: bytes, now: int) -> None:
        text = self.carry + data
        end = 0
        keep = now >= self.fleet.sample_from_ns  # type: ignore[operator]
        for match in _PUBLISHED_NS.finditer(text):
            if keep:
                self.fleet.samples.append(now - int(match.group(1)))
            end = match.end()
        self.carry = text[end:][-_CARRY_BYTES:]

    def set_lowat(self, lowat_bytes: int) -> None:
        """Readable only from ``lowat_bytes`` on: fewer, larger reads (the kernel checks the
        new mark against what is queued at once, so lowering it releases what is waiting)."""
        self.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, lowat_bytes)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(BenchError(f"connection lost during the handshake: {exc!r}"))

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(_CLOSE_FRAME)
            self.transport.close()


def client_process(conn: Any, port: int, cpu: int) -> None:
    """Entry point of the client process: pins itself, then answers commands."""
    pin_to_cpu(cpu)

    async def run() -> None:
        fleet = Fleet()
        try:
            await answer_commands(
                conn,
                {},
                {
                    "connect": lambda n: fleet.connect(port, n),
                    "close_all": fleet.close_all,
                    "reset": fleet.reset,
                    "wait_for": fleet.wait_for,
                },
            )
        finally:
            await fleet.close_all()

    _run_in_loop(run())


# -- the command channel of both processes ---------------------------------------------------------


async def _value(value: dict[str, Any]) -> dict[str, Any]:
    return value


async def answer_commands(conn: Any, ready: dict[str, Any], handlers: dict[str, Callable[..., Awaitable[dict[str, Any]]]]) -> None:
    """Reports ``{"ok": True, **ready}``, then runs each ``(name, *args)`` received on ``conn``
    and answers ``{"ok": True, **result}`` or ``{"ok": False, "error"}``; until ``("stop",)``
    or until ``conn`` closes (the parent died)."""
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    def on_command() -> None:
        try:
            commands.put_nowait(conn.recv())
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            commands.put_nowait(("stop",))

    loop.add_reader(conn.fileno(), on_command)
    conn.send({"ok": True, **ready})
    try:
        while (command := await commands.get())[0] != "stop":
            try:
                conn.send({"ok": True, **await handlers[command[0]](*command[1:])})
            except Exception:  # noqa: BLE001 - reported to the parent, which fails the run
                conn.send({"ok": False, "error": traceback.format_exc()})
    finally:
        loop.remove_reader(conn.fileno())


def _run_in_loop(main: Awaitable[None]) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard := resource.getrlimit(resource.RLIMIT_NOFILE)[1], hard))
    loop = new_event_loop()
    try:
        loop.run_until_complete(main)
    finally:
        loop.close()


# -- the orchestrator -----------------------------------------------------------------------------


class Worker:
    """A server or client process answering commands; every request has a time limit."""

    def __init__(self, ctx: Any, name: str, target: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.name = name
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
        self.process.start()
        child.close()
        try:
            self.ready = self._answer(_START_TIMEOUT_S, "start")
        except BaseException:
            self.stop()
            raise

    def request(self, timeout: float, name: str, *args: Any) -> dict[str, Any]:
        try:
            self._conn.send((name, *args))
        except OSError:
            raise BenchError(f"{self.name} is gone (exit code {self.process.exitcode})") from None
        return self._answer(timeout, name)

    def _answer(self, timeout: float, what: str) -> dict[str, Any]:
        if not self._conn.poll(timeout):
            raise BenchError(f"{self.name}: no answer to {what} within {timeout:.0f} s")
        try:
            answer: dict[str, Any] = self._conn.recv()
        except EOFError:
            self.process.join(report.REAP_TIMEOUT_S)
            raise BenchError(f"{self.name} exited during {what} (exit code {self.process.exitcode})") from None
        if not answer.pop("ok"):
            raise BenchError(f"{self.name}, {what}: {answer['error']}")
        return answer

    def stop(self) -> None:
        """Asks it to stop, then terminates and kills it if it does not."""
        try:
            self._conn.send(("stop",))
        except OSError:
            pass  # already gone
        report.reap(self.process)
        self._conn.close()


def rss_bytes(pid: int) -> int:
    return report.rss_kib(pid) * 1024


@dataclass
class Session:
    """One server and the client process, for one server's measurements."""

    args: argparse.Namespace
    server: Worker
    clients: Worker
    connected: int = 0

    def wait_server_clients(self, n: int) -> None:
        deadline = time.monotonic() + _REQUEST_TIMEOUT_S
        while (seen := self.server.request(_REQUEST_TIMEOUT_S, "clients")["clients"]) != n:
            if time.monotonic() > deadline:
                raise BenchError(f"the server has {seen} clients, expected {n}")
            time.sleep(0.05)

    def connect(self, n: int) -> None:
        if self.connected == n:
            return
        if self.connected:
            self.clients.request(_REQUEST_TIMEOUT_S, "close_all")
            self.connected = 0
            self.wait_server_clients(0)
        self.clients.request(_REQUEST_TIMEOUT_S + n / 100, "connect", n)
        self.connected = n
        self.wait_server_clients(n)

    def idle_rss(self) -> dict[str, Any]:
        time.sleep(self.args.settle)
        before = rss_bytes(self.server.process.pid)
        self.connect(self.args.idle_clients)
        time.sleep(self.args.settle)
        after = rss_bytes(self.server.process.pid)
        return {
            "ok": True,
            "clients": self.args.idle_clients,
            "rss_before_bytes": before,
            "rss_after_bytes": after,
            "bytes_per_client": (after - before) / self.args.idle_clients,
        }

    def saturation(self, n: int) -> dict[str, Any]:
        args = self.args
        self.connect(n)
        self.clients.request(_REQUEST_TIMEOUT_S, "reset", None, args.client_lowat)
        pid = self.server.process.pid
        cpu_before = process_cpu_ns(pid)
        run = self.server.request(args.seconds + _REQUEST_TIMEOUT_S, "saturate", args.seconds, args.batch)
        got = self.clients.request(args.drain_limit + _REQUEST_TIMEOUT_S, "wait_for", run["published"], args.stall_timeout, args.drain_limit)
        server_cpu = process_cpu_ns(pid) - cpu_before
        return self._check(run, got) | _rates(run, got, server_cpu)

    def latency(self) -> dict[str, Any]:
        args = self.args
        self.connect(args.latency_clients)
        self.clients.request(_REQUEST_TIMEOUT_S, "reset", args.latency_warmup, 1)
        seconds = args.latency_seconds + args.latency_warmup
        run = self.server.request(seconds + _REQUEST_TIMEOUT_S, "paced", args.rate, seconds)
        got = self.clients.request(args.drain_limit + _REQUEST_TIMEOUT_S, "wait_for", run["published"], args.stall_timeout, args.drain_limit)
        wall_ns = got["done_ns"] - run["start_ns"]
        latency: dict[str, float] = got["latency"]
        return self._check(run, got) | latency | {"client_cpu_share": got["cpu_ns"] / wall_ns}

    def _check(self, run: dict[str, Any], got: dict[str, Any]) -> dict[str, Any]:
        """Fails a run in which some client did not receive exactly what was published."""
        published = run["published"]
        if not got["received_min"] == got["received_max"] == published or got["closed"]:
            raise BenchError(
                f"clients received {got['received_min']:,} to {got['received_max']:,} of {published:,} messages "
                f"({got['closed']} connections closed)"
            )
        conflated = run.get("counters", {}).get("conflated_messages", 0)
        if conflated:
            raise BenchError(f"the server conflated {conflated:,} messages")
        return {"ok": True, "clients": run["clients"], "published": published, "received_per_client": got["received_min"]}


def _rates(run: dict[str, Any], got: dict[str, Any], server_cpu_ns: int) -> dict[str, Any]:
    deliveries = run["published"] * run["clients"]
    wall_ns = got["done_ns"] - run["start_ns"]
    return {
        "deliveries": deliveries,
        "seconds": wall_ns / 1e9,
        "deliveries_per_s": deliveries / wall_ns * 1e9,
        "server_cpu_us_per_delivery": server_cpu_ns / deliveries / 1000,
        "server_cpu_share": server_cpu_ns / wall_ns,
        "client_cpu_share": got["cpu_ns"] / wall_ns,
        "drain_ms": (got["done_ns"] - run["publish_end_ns"]) / 1e6,
        "messages_per_read": deliveries / got["reads"],
    }


def measure(ctx: Any, kind: str, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every measurement of one server, each recorded as it ends (a failure ends the rest)."""
    results: dict[str, dict[str, Any]] = {}
    steps: list[tuple[str, Callable[[Session], dict[str, Any]]]] = [("idle", Session.idle_rss)]
    steps += [(f"saturation_{n}", functools.partial(Session.saturation, n=n)) for n in args.clients]
    steps.append(("latency", Session.latency))
    server = clients = None
    try:
        server = Worker(ctx, f"{kind} server", server_process, (kind, args.server_cpu, args.window))
        clients = Worker(ctx, "clients", client_process, (server.ready["port"], args.client_cpu))
        session = Session(args, server, clients)
        print(f"{kind} server pid {server.process.pid} on ws://{HOST}:{server.ready['port']}/", flush=True)
        for step, run in steps:
            results[step] = run(session)
            print(f"  {step:<16} {summary(results[step])}", flush=True)
    except BenchError as error:
        failed = next((step for step, _ in steps if step not in results), "start")
        results[failed] = {"ok": False, "error": str(error)}
        print(f"  {failed:<16} FAILED: {str(error).splitlines()[0]}", flush=True)
    finally:
        for worker in (clients, server):
            if worker is not None:
                worker.stop()
    return results


def summary(result: dict[str, Any]) -> str:
    if "bytes_per_client" in result:
        return f"{result['bytes_per_client'] / 1024:,.1f} KB/client (RSS {result['rss_before_bytes'] / 2**20:,.1f} -> {result['rss_after_bytes'] / 2**20:,.1f} MiB)"
    if "deliveries_per_s" in result:
        return (
            f"{result['clients']:>5} clients  {result['deliveries_per_s']:>12,.0f} deliveries/s  "
            f"{result['server_cpu_us_per_delivery']:.3f} µs server CPU/delivery  "
            f"server {100 * result['server_cpu_share']:.0f}% CPU, client {100 * result['client_cpu_share']:.0f}% CPU  "
            f"{result['received_per_client']:,} of {result['published']:,} messages at every client"
        )
    return (
        f"{result['clients']:>5} clients  p50 {result['p50_us']:,.0f} µs  p99 {result['p99_us']:,.0f} µs  "
        f"max {result['max_us']:,.0f} µs  client {100 * result['client_cpu_share']:.0f}% CPU  "
        f"{result['received_per_client']:,} of {result['published']:,} messages at every client"
    )


# -- report ---------------------------------------------------------------------------------------


def columns(args: argparse.Namespace) -> tuple[tuple[Column, ...], tuple[Column, ...]]:
    main = [Column(f"deliv/s {n}", f"saturation_{n}", "deliveries_per_s", report.rate) for n in args.clients]
    main += [Column(f"CPU µs/deliv {n}", f"saturation_{n}", "server_cpu_us_per_delivery", lambda v: f"{v:.3f}") for n in args.clients]
    main += [
        Column("lat p50 µs", "latency", "p50_us", report.us),
        Column("lat p99 µs", "latency", "p99_us", report.us),
        Column("idle KB/client", "idle", "bytes_per_client", lambda v: f"{v / 1024:,.1f}"),
    ]
    detail = [Column(f"server CPU % {n}", f"saturation_{n}", "server_cpu_share", report.pct) for n in args.clients]
    detail += [Column(f"client CPU % {n}", f"saturation_{n}", "client_cpu_share", report.pct) for n in args.clients]
    detail += [Column(f"msgs/read {n}", f"saturation_{n}", "messages_per_read", lambda v: f"{v:,.1f}") for n in args.clients]
    detail += [Column(f"msgs/client {n}", f"saturation_{n}", "received_per_client", lambda v: f"{v:,.0f}") for n in args.clients]
    detail += [
        Column("lat p99.9 µs", "latency", "p99.9_us", report.us),
        Column("lat max µs", "latency", "max_us", report.us),
        Column("client CPU % lat", "latency", "client_cpu_share", report.pct),
    ]
    return tuple(main), tuple(detail)


def render_table(results: Results, cols: tuple[Column, ...], with_ratio: bool) -> str:
    """Every column; with ``with_ratio``, each value's ratio to the baseline's."""
    return report.render_table(results, cols, first="server", baseline=BASELINE if with_ratio else None)


def _ok(results: dict[str, dict[str, dict[str, Any]]], name: str, step: str) -> dict[str, Any] | None:
    result = results.get(name, {}).get(step)
    return result if result is not None and result["ok"] else None


def targets(results: dict[str, dict[str, dict[str, Any]]], args: argparse.Namespace) -> list[str]:
    """The issue's targets for tickwire, each with the measured numbers."""
    lines = []
    for n in args.clients:
        ours, base = _ok(results, "tickwire", f"saturation_{n}"), _ok(results, BASELINE, f"saturation_{n}")
        if ours and base:
            ratio = ours["deliveries_per_s"] / base["deliveries_per_s"]
            verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
            lines.append(
                f"deliveries/s with {n:,} clients: {ratio:.2f}x {BASELINE}'s "
                f"({ours['deliveries_per_s']:,.0f} vs {base['deliveries_per_s']:,.0f}); target >= {TARGET_RATIO:g}x: {verdict}"
            )
    idle = _ok(results, "tickwire", "idle")
    if idle:
        per_client = idle["bytes_per_client"]
        verdict = "met" if per_client < TARGET_IDLE_BYTES else "MISSED"
        lines.append(f"RSS per idle client: {per_client / 1024:,.1f} KB; target < {TARGET_IDLE_BYTES // 1024} KB: {verdict}")
    return lines


def warnings(results: dict[str, dict[str, dict[str, Any]]], args: argparse.Namespace) -> list[str]:
    lines = []
    for name in results:
        for n in args.clients:
            run = _ok(results, name, f"saturation_{n}")
            if run is None:
                continue
            if run["client_cpu_share"] >= _CLIENT_BOUND_SHARE:
                lines.append(
                    f"{name}, {n:,} clients: the client process used {100 * run['client_cpu_share']:.0f}% of its CPU "
                    f"(the server {100 * run['server_cpu_share']:.0f}%): this deliveries/s may be bounded by the client; "
                    "the server's CPU per delivery stands (raise --client-lowat)"
                )
            elif run["server_cpu_share"] < _SATURATED_SHARE:
                lines.append(
                    f"{name}, {n:,} clients: the server used only {100 * run['server_cpu_share']:.0f}% of its CPU: "
                    "it was not saturated (something else took the CPU, or it waited on the clients)"
                )
    return lines


def print_report(results: dict[str, dict[str, dict[str, Any]]], args: argparse.Namespace) -> None:
    main, detail = columns(args)
    print()
    print(render_table(results, main, with_ratio=True))
    print(f"(ratio = value / {BASELINE}'s: above 1.00x is better for deliveries/s, worse for CPU, µs and KB)")
    print()
    print(render_table(results, detail, with_ratio=False))
    for title, lines in (("targets (tickwire)", targets(results, args)), ("warnings", warnings(results, args))):
        if lines:
            print(f"\n{title}:")
            for line in lines:
                print(f"  {line}")
    report.print_failures(results)
    print(flush=True)


# -- command line ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma-separated, from {', '.join(SERVERS)}")
    parser.add_argument("--clients", default="100,1000", help="client counts of the saturation runs (100,1000)")
    parser.add_argument("--seconds", type=float, help="publishing time of a saturation run (5; 1 with --quick)")
    parser.add_argument("--batch", type=int, default=64, help="messages published between two flow-control checks")
    parser.add_argument("--window", type=int, default=256, help="messages queued for a client in the server before the publisher waits")
    parser.add_argument("--client-lowat", type=int, default=64 * 1024, help="SO_RCVLOWAT of the clients' sockets in saturation runs (bytes)")
    parser.add_argument("--idle-clients", type=int, default=1000, help="connected clients for the idle RSS")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before each RSS reading")
    parser.add_argument("--latency-clients", type=int, default=100)
    parser.add_argument("--rate", type=int, default=1000, help="messages/s in the latency run")
    parser.add_argument("--latency-seconds", type=float, help="measured seconds of the latency run (5; 1 with --quick)")
    parser.add_argument("--latency-warmup", type=float, default=0.5, help="seconds of the latency run discarded first")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s saturation and latency runs, unless given")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--stall-timeout", type=float, default=10.0, help="seconds without a message before a run fails")
    parser.add_argument("--drain-limit", type=float, default=120.0, help="seconds for the clients to receive a run's messages")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.servers or any(s not in SERVERS for s in args.servers):
        parser.error(f"--servers: choose from {', '.join(SERVERS)}")
    try:
        args.clients = [int(n) for n in args.clients.split(",")]
    except ValueError:
        parser.error("--clients: comma-separated integers")
    counts = [*args.clients, args.idle_clients, args.latency_clients, args.batch, args.window, args.rate, args.client_lowat]
    if min(counts) <= 0 or min(args.seconds, args.latency_seconds, args.settle) <= 0:
        parser.error("counts, rate and durations must be positive")
    needed = 2 * max(args.clients + [args.idle_clients, args.latency_clients]) + 100
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < needed:
        parser.error(f"the file-descriptor limit is below {needed}: raise it (ulimit -n)")
    return args


def environment(args: argparse.Namespace) -> dict[str, Any]:
    sample = Envelope().encode(market_data(0))
    return report.environment(("websockets", "picows", "uvloop", "msgspec"), message_bytes=len(sample))


def print_header(env: dict[str, Any], args: argparse.Namespace) -> None:
    report.print_header(
        env,
        f"each server (all its threads) on CPU {args.server_cpu}; the client process on CPU {args.client_cpu}",
        f"MarketData messages of ~{env['message_bytes']} bytes; saturation {args.seconds:g} s with "
        f"{', '.join(f'{n:,}' for n in args.clients)} clients (batch {args.batch}, window {args.window}, "
        f"queue_soft_limit 10**9: nothing conflated); latency {args.rate:,} msg/s to {args.latency_clients:,} clients "
        f"for {args.latency_seconds:g} s after {args.latency_warmup:g} s; idle RSS with {args.idle_clients:,} clients",
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cpus = os.sched_getaffinity(0)
    if not {args.server_cpu, args.client_cpu} <= cpus or args.server_cpu == args.client_cpu:
        print(f"error: CPUs {args.server_cpu} and {args.client_cpu} are not two available CPUs (have {sorted(cpus)})", file=sys.stderr)
        return 2
    env = environment(args)
    print_header(env, args)
    started = time.monotonic()
    ctx = multiprocessing.get_context("spawn")
    results = {kind: measure(ctx, kind, args) for kind in args.servers}
    print_report(results, args)
    report.print_total(env, started)
    if args.json is not None:
        params = {k: v for k, v in vars(args).items() if k != "json"}
        args.json.write_text(json.dumps({"environment": env, "params": params, "results": results}, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0 if report.all_ok(results) else 1


if __name__ == "__main__":
    sys.exit(main())
