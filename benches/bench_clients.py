"""Client side of ``benches/compare.py``: one adapter per WebSocket library, and the scenarios.

Each adapter does the same four things with its library's ordinary, documented API: open a
connection that hands every message (``str`` for text frames, ``bytes`` for binary, as the
library delivers it) to a plain Python callback, ``send`` a text message, ``recv`` one message,
and close. The scenarios are written once against that interface, so the user callback that
counts, decodes or timestamps messages is the same code for every library.

:func:`client_process` is the entry point of a client process: it pins itself to one CPU, runs
one scenario against one library and sends back a result dict (or an error) through a pipe.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import math
import resource
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from firehose import SENTINEL_MAX_LEN, TIMESTAMP_SLICE, pin_to_cpu

Message = str | bytes
Callback = Callable[[Message], object]
BatchCallback = Callable[[list[Message]], object]

_REPO_PYTHON_DIR = Path(__file__).resolve().parent.parent / "python"
_CLOSE_TIMEOUT_S = 5.0
_OPEN_TIMEOUT_S = 10.0


class BenchError(Exception):
    """A run that did not produce a valid measurement; the message says why."""


# -- the decoded-throughput target type ---------------------------------------------------------


class Trade(msgspec.Struct):
    """A Binance ``trade`` event; prices and quantities stay strings as the exchange sends them."""

    event_type: str = msgspec.field(name="e")
    event_time: int = msgspec.field(name="E")
    symbol: str = msgspec.field(name="s")
    trade_id: int = msgspec.field(name="t")
    price: str = msgspec.field(name="p")
    quantity: str = msgspec.field(name="q")
    trade_time: int = msgspec.field(name="T")
    buyer_is_maker: bool = msgspec.field(name="m")
    ignore: bool = msgspec.field(name="M")
    # Binance dropped these from the trade stream in 2023; older feeds still send them.
    buyer_order_id: int = msgspec.field(default=0, name="b")
    seller_order_id: int = msgspec.field(default=0, name="a")


TRADE_DECODER = msgspec.json.Decoder(Trade)


# -- adapters -----------------------------------------------------------------------------------


class Client:
    """The interface every adapter implements; see the module docstring."""

    package = ""
    #: Whether ``open`` takes a callback of lists (one call per batch) instead of one message.
    batched = False
    #: Whether the client decodes by itself and offers ``open_typed`` (the ``typed`` scenario).
    typed = False

    async def open(self, url: str, on_message: Callback | None) -> None:
        """Connect; with ``on_message`` every message goes to it, else use :meth:`recv`.
        For a ``batched`` client ``on_message`` takes a list of messages."""
        raise NotImplementedError

    async def send(self, data: str) -> None:
        raise NotImplementedError

    async def recv(self) -> Message:
        raise NotImplementedError

    async def wait_closed(self) -> None:
        """Return (or raise) once no more messages will reach the ``on_message`` callback."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def version(self) -> str:
        return importlib.metadata.version(self.package)

    def details(self) -> dict[str, Any]:
        """Library-specific counters worth keeping with the result, read after the run."""
        return {}


def import_tickwire() -> Any:
    """``import tickwire``, from the repository's python/ directory if it is not installed."""
    try:
        return importlib.import_module("tickwire")
    except ImportError:
        pass
    sys.path.insert(0, str(_REPO_PYTHON_DIR))
    for name in [m for m in sys.modules if m == "tickwire" or m.startswith("tickwire.")]:
        del sys.modules[name]
    try:
        return importlib.import_module("tickwire")
    except ImportError as exc:
        if not any((_REPO_PYTHON_DIR / "tickwire").glob("_core*.so")):
            # Python's own message for this case blames a circular import.
            raise BenchError(f"tickwire._core is not built (no {_REPO_PYTHON_DIR}/tickwire/_core*.so)") from exc
        raise


class TickwireClient(Client):
    package = "tickwire"

    async def open(self, url: str, on_message: Callback | None) -> None:
        self._tickwire = import_tickwire()
        self._conn = await self._tickwire.connect(url, max_queue=65536)
        if on_message is not None:
            self._conn.on_message(on_message)

    async def send(self, data: str) -> None:
        await self._conn.send(data)

    async def recv(self) -> Message:
        return await self._conn.recv()  # type: ignore[no-any-return]

    async def wait_closed(self) -> None:
        await self._conn.wait_closed()

    async def close(self) -> None:
        await self._conn.close()

    def details(self) -> dict[str, Any]:
        stats = self._conn.stats()
        keys = ("messages_delivered", "batches_delivered", "queue_full_events", "queue_full_ns", "callback_errors")
        return {k: stats[k] for k in keys if k in stats}

    def version(self) -> str:
        core = getattr(self._tickwire, "_core", None)
        return f"{self._tickwire.__version__} ({Path(getattr(core, '__file__', '?')).name})"


class TickwireBatchClient(TickwireClient):
    """tickwire with ``on_batch``: one Python call per batch, the user's loop inside it."""

    batched = True

    async def open(self, url: str, on_message: Callback | None) -> None:
        self._tickwire = import_tickwire()
        self._conn = await self._tickwire.connect(url, max_queue=65536)
        if on_message is not None:
            self._conn.on_batch(on_message)


class TickwireFeedClient(TickwireClient):
    """tickwire's ``Feed`` on the built-in Binance venue: frames parsed in Rust on the I/O
    thread, typed ``tickwire.Trade`` objects routed to the callback by Rust. Only the ``typed``
    scenario; "go" is the venue's own SUBSCRIBE request, which starts the firehose alike."""

    typed = True

    async def open_typed(self, url: str, on_trade: Callable[[Any], object], on_end: Callable[[Message], None]) -> None:
        self._tickwire = tw = import_tickwire()
        self._feed = tw.Feed(urls={"binance": url}, max_queue=65536)
        self._feed.add_venue("binance")
        self._feed.on_trade(on_trade)

        # The firehose's sentinel is no Binance message: it arrives as a ParseError.
        def on_error(error: BaseException) -> None:
            if isinstance(error, tw.ParseError):
                on_end(error.raw)

        self._feed.on_error(on_error)
        await self._start("binance")

    async def _start(self, link: str) -> None:
        """Starts the feed and waits until its connection ``link`` is up."""
        await self._feed.start()
        deadline = time.monotonic() + _OPEN_TIMEOUT_S
        while not self._feed.is_connected():  # bounded by the deadline
            if time.monotonic() > deadline:
                raise BenchError("the feed did not connect")
            await asyncio.sleep(0.001)
        self._session = self._feed._links[link].session

    async def send(self, data: str) -> None:
        self._feed.subscribe("binance", ["BTC/USDT"], ["trades"])

    async def wait_closed(self) -> None:
        await self._session.wait_closed()

    async def close(self) -> None:
        await self._feed.stop()

    def details(self) -> dict[str, Any]:
        stats = self._session.stats()
        keys = ("messages_delivered", "batches_delivered", "queue_full_events", "parse_errors")
        return {k: stats[k] for k in keys if k in stats}


def example_venue() -> Any:
    """``examples/python_venue.py``'s ``BinanceTrades``: the venue written in Python both
    ``tickwire-pyvenue`` and ``picows-pyvenue`` run."""
    sys.path.insert(0, str(_REPO_PYTHON_DIR.parent / "examples"))
    from python_venue import BinanceTrades

    return BinanceTrades


class TickwirePythonVenueClient(TickwireFeedClient):
    """tickwire's ``Feed`` on a venue written in Python: ``examples/python_venue.py``'s
    ``BinanceTrades`` (msgspec decoding in its ``parse``, ``tickwire.Trade`` objects made in
    Python and handed to the Rust dispatch once per batch, routed to the callback by Rust).
    Only the ``typed`` scenario: the same decoding the msgspec clients do, plus what the Rust
    side adds."""

    async def open_typed(self, url: str, on_trade: Callable[[Any], object], on_end: Callable[[Message], None]) -> None:
        self._tickwire = tw = import_tickwire()

        class UntilSentinel(example_venue()):  # type: ignore[misc]
            # The firehose's sentinel is no Binance message: the same length check every
            # other client makes.
            def parse(self, message: Message, receive_time_ns: int) -> Any:
                if len(message) < SENTINEL_MAX_LEN:
                    on_end(message)
                    return ()
                return super().parse(message, receive_time_ns)

        self._venue = UntilSentinel(url=url)
        self._feed = tw.Feed(max_queue=65536)
        self._feed.add_venue(self._venue)
        self._feed.on_trade(on_trade)
        await self._start(self._venue.name)

    async def send(self, data: str) -> None:
        self._feed.subscribe(self._venue, ["BTC/USDT"], ["trades"])


class PicowsClient(Client):
    package = "picows"

    async def open(self, url: str, on_message: Callback | None) -> None:
        import picows

        close = picows.WSMsgType.CLOSE
        # The future recv() is waiting on, if any; a list so the listener's closure sees updates.
        waiter_box: list[asyncio.Future[Message] | None] = [None]
        self._waiter_box = waiter_box

        def resolve_waiter(message: Message) -> None:
            waiter = waiter_box[0]
            if waiter is not None and not waiter.done():
                waiter.set_result(message)

        deliver = on_message if on_message is not None else resolve_waiter

        class Listener(picows.WSListener):
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type == close:
                    transport.send_close(frame.get_close_code())
                    transport.disconnect()
                    return
                deliver(frame.get_payload_as_bytes())

        self._text = picows.WSMsgType.TEXT
        self._close_ok = picows.WSCloseCode.OK
        self._transport, _ = await picows.ws_connect(Listener, url, websocket_handshake_timeout=_OPEN_TIMEOUT_S)

    async def send(self, data: str) -> None:
        self._transport.send(self._text, data)

    async def recv(self) -> Message:
        waiter: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiter_box[0] = waiter
        try:
            return await waiter
        finally:
            self._waiter_box[0] = None

    async def wait_closed(self) -> None:
        await self._transport.wait_disconnected()

    async def close(self) -> None:
        self._transport.send_close(self._close_ok)
        self._transport.disconnect()
        await self._transport.wait_disconnected()


class PicowsVenueClient(PicowsClient):
    """picows running the very ``parse`` of ``examples/python_venue.py`` (msgspec into a
    ``tickwire.Trade``) in its frame callback, with no feed: the same Python work as
    ``tickwire-pyvenue``, on picows's read path and a plain callback instead of tickwire's
    session, subscription tracking and Rust routing. Only the ``typed`` scenario."""

    typed = True

    async def open_typed(self, url: str, on_trade: Callable[[Any], object], on_end: Callable[[Message], None]) -> None:
        tw = import_tickwire()
        venue = example_venue()(url=url)
        venue.unified["BTCUSDT"] = "BTC/USDT"
        tw._core.register_venue(venue.name)
        parse, clock = venue.parse, time.monotonic_ns

        def on_message(message: Message) -> None:
            if len(message) < SENTINEL_MAX_LEN:
                on_end(message)
                return
            for trade in parse(message, clock()):
                on_trade(trade)

        await self.open(url, on_message)


class WebsocketsClient(Client):
    package = "websockets"

    async def open(self, url: str, on_message: Callback | None) -> None:
        from websockets.asyncio.client import connect

        # No keepalive pings and no proxy lookup: only the benchmark's own traffic on the wire.
        self._ws = await connect(url, compression=None, ping_interval=None, proxy=None, open_timeout=_OPEN_TIMEOUT_S)
        self._pump: asyncio.Task[None] | None = None
        if on_message is not None:
            self._pump = asyncio.get_running_loop().create_task(self._deliver(on_message))

    async def _deliver(self, on_message: Callback) -> None:
        async for message in self._ws:
            on_message(message)

    async def send(self, data: str) -> None:
        await self._ws.send(data)

    async def recv(self) -> Message:
        return await self._ws.recv()

    async def wait_closed(self) -> None:
        await (self._pump if self._pump is not None else self._ws.wait_closed())

    async def close(self) -> None:
        await self._ws.close()
        if self._pump is not None:
            self._pump.cancel()


class AiohttpClient(Client):
    package = "aiohttp"

    async def open(self, url: str, on_message: Callback | None) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(url, heartbeat=None, compress=0, timeout=aiohttp.ClientWSTimeout(ws_close=_CLOSE_TIMEOUT_S))
        except BaseException:
            await self._session.close()
            raise
        self._pump: asyncio.Task[None] | None = None
        if on_message is not None:
            self._pump = asyncio.get_running_loop().create_task(self._deliver(on_message))

    async def _deliver(self, on_message: Callback) -> None:
        async for message in self._ws:
            on_message(message.data)

    async def send(self, data: str) -> None:
        await self._ws.send_str(data)

    async def recv(self) -> Message:
        message = await self._ws.receive()
        if message.type not in (self._aiohttp.WSMsgType.TEXT, self._aiohttp.WSMsgType.BINARY):
            raise BenchError(f"aiohttp received {message.type!r} instead of a message")
        return message.data  # type: ignore[no-any-return]

    async def wait_closed(self) -> None:
        if self._pump is None:
            raise RuntimeError("wait_closed() is only for connections opened with a callback")
        await self._pump

    async def close(self) -> None:
        try:
            await self._ws.close()
        finally:
            if self._pump is not None:
                self._pump.cancel()
            await self._session.close()


#: name -> (adapter, event loop). Every client on asyncio runs on uvloop unless named otherwise.
CLIENTS: dict[str, tuple[type[Client], str]] = {
    "tickwire": (TickwireClient, "uvloop"),
    "tickwire-batch": (TickwireBatchClient, "uvloop"),
    "tickwire-feed": (TickwireFeedClient, "uvloop"),
    "tickwire-pyvenue": (TickwirePythonVenueClient, "uvloop"),
    "picows": (PicowsClient, "uvloop"),
    "picows-pyvenue": (PicowsVenueClient, "uvloop"),
    "websockets": (WebsocketsClient, "uvloop"),
    "aiohttp": (AiohttpClient, "uvloop"),
    "picows-asyncio": (PicowsClient, "asyncio"),
}


# -- measurement helpers ------------------------------------------------------------------------


def cpu_ns() -> int:
    """User+system CPU time of the whole process, every thread included, in ns."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round((usage.ru_utime + usage.ru_stime) * 1e9)


def percentiles(samples_ns: list[int], points: tuple[float, ...] = (50, 90, 99, 99.9)) -> dict[str, float]:
    """Nearest-rank percentiles and max of ``samples_ns``, in µs."""
    if not samples_ns:
        raise BenchError("no samples left after the warm-up")
    ordered = sorted(samples_ns)
    n = len(ordered)
    result = {f"p{p:g}_us": ordered[max(0, math.ceil(p / 100 * n) - 1)] / 1000 for p in points}
    result["max_us"] = ordered[-1] / 1000
    result["samples"] = n
    return result


async def guard(
    work: Awaitable[Any],
    progress: Callable[[], int],
    *,
    stall_s: float,
    limit_s: float,
    ended: Awaitable[None] | None = None,
) -> Any:
    """Await ``work``, failing if ``progress()`` stops moving for ``stall_s``, if ``limit_s``
    passes, or if ``ended`` (the connection going away) completes first.

    One watchdog timer for the whole run rather than a timeout per await, which would add its
    own cost to every message or round trip being measured.
    """
    loop = asyncio.get_running_loop()
    work_f = asyncio.ensure_future(work)
    ended_f = asyncio.ensure_future(ended) if ended is not None else None
    watched = {work_f} if ended_f is None else {work_f, ended_f}
    deadline = loop.time() + limit_s
    last, last_change = progress(), loop.time()
    try:
        while not work_f.done():  # bounded by deadline
            await asyncio.wait(watched, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
            if work_f.done():
                break
            now, seen = loop.time(), progress()
            if ended_f is not None and ended_f.done():
                reason = ended_f.exception() if not ended_f.cancelled() else "cancelled"
                raise BenchError(f"connection ended before the run finished, after {seen} messages ({reason!r})")
            if seen != last:
                last, last_change = seen, now
            elif now - last_change > stall_s:
                raise BenchError(f"stalled: no progress for {stall_s:.0f} s after {seen} messages")
            if now > deadline:
                raise BenchError(f"not finished after {limit_s:.0f} s ({seen} messages)")
        return work_f.result()
    finally:
        for f in watched:
            if not f.done():
                f.cancel()


# -- scenarios ----------------------------------------------------------------------------------


async def open_client(client: Client, url: str, on_message: Callback | BatchCallback | None) -> None:
    # The libraries' own open timeouts differ (aiohttp's connect falls back to 5 minutes).
    await asyncio.wait_for(client.open(url, on_message), _OPEN_TIMEOUT_S + 5)


def _sentinel_clock() -> tuple[asyncio.Future[tuple[int, int, Message]], Callable[[Message], None]]:
    """A future and the ``finish(sentinel)`` that sets it, once, to the wall and CPU clocks and
    the sentinel."""
    finished: asyncio.Future[tuple[int, int, Message]] = asyncio.get_running_loop().create_future()

    def finish(message: Message) -> None:
        if not finished.done():
            finished.set_result((time.perf_counter_ns(), cpu_ns(), message))

    return finished, finish


async def _timed_run(
    client: Client, finished: asyncio.Future[tuple[int, int, Message]], count: Callable[[], int], expected: int, *, stall_s: float, limit_s: float
) -> tuple[dict[str, Any], Message]:
    """Sends "go" and waits for ``finished`` (see :func:`_sentinel_clock`); checks that ``count()``
    messages reached the callback; messages/s and CPU/message from "go" to the sentinel, and the
    sentinel."""
    wall0, cpu0 = time.perf_counter_ns(), cpu_ns()
    await client.send("go")
    wall1, cpu1, sentinel = await guard(finished, count, stall_s=stall_s, limit_s=limit_s, ended=client.wait_closed())
    n = count()
    if n != expected:
        raise BenchError(f"received {n} of {expected} messages")
    elapsed = (wall1 - wall0) / 1e9
    result = {
        "messages": n,
        "seconds": elapsed,
        "msgs_per_s": n / elapsed,
        "cpu_us_per_msg": (cpu1 - cpu0) / 1000 / n,
        "cpu_share": (cpu1 - cpu0) / (wall1 - wall0),
    }
    return result, sentinel


async def run_throughput(client: Client, url: str, expected: int, *, decode: bool, stall_s: float, limit_s: float) -> dict[str, Any]:
    """Messages/s and CPU/message from "go" to the sentinel, all delivered to a Python callback."""
    finished, finish = _sentinel_clock()
    count = 0

    # Two callbacks rather than one with a flag, so the raw one carries no decode branch.
    if decode:
        decoder = TRADE_DECODER.decode

        def on_message(message: Message) -> None:
            nonlocal count
            if len(message) < SENTINEL_MAX_LEN:
                finish(message)
                return
            decoder(message)
            count += 1

        # The same per-message work, written as the loop a batch consumer writes.
        def on_batch(batch: list[Message]) -> None:
            nonlocal count
            for message in batch:
                if len(message) < SENTINEL_MAX_LEN:
                    finish(message)
                    return
                decoder(message)
                count += 1
    else:

        def on_message(message: Message) -> None:
            nonlocal count
            if len(message) < SENTINEL_MAX_LEN:
                finish(message)
                return
            count += 1

        def on_batch(batch: list[Message]) -> None:
            nonlocal count
            for message in batch:
                if len(message) < SENTINEL_MAX_LEN:
                    finish(message)
                    return
                count += 1

    await open_client(client, url, on_batch if client.batched else on_message)
    result, sentinel = await _timed_run(client, finished, lambda: count, expected, stall_s=stall_s, limit_s=limit_s)
    fields = (sentinel.decode() if isinstance(sentinel, bytes) else sentinel).split()
    if len(fields) == 3:
        # The server's own CPU/wall while sending: shows whether it could have been the limit.
        result["server_cpu_share"] = int(fields[1]) / max(1, int(fields[2]))
    return result


async def run_typed(client: Client, url: str, expected: int, *, stall_s: float, limit_s: float) -> dict[str, Any]:
    """Messages/s to a callback that receives each trade as a typed object and reads its price
    as a float: tickwire's Feed hands ``tickwire.Trade`` objects; every other client decodes
    each message with msgspec into a ``Trade`` struct and calls the same callback."""
    finished, finish = _sentinel_clock()
    count = 0
    total = 0.0

    if client.typed:

        def on_trade(trade: Any) -> None:
            nonlocal count, total
            total += trade.price_float
            count += 1

        await asyncio.wait_for(client.open_typed(url, on_trade, finish), _OPEN_TIMEOUT_S + 5)  # type: ignore[attr-defined]
    else:
        decoder = TRADE_DECODER.decode

        def on_message(message: Message) -> None:
            nonlocal count, total
            if len(message) < SENTINEL_MAX_LEN:
                finish(message)
                return
            trade = decoder(message)
            total += float(trade.price)
            count += 1

        def on_batch(batch: list[Message]) -> None:
            for message in batch:
                on_message(message)

        await open_client(client, url, on_batch if client.batched else on_message)
    result, _ = await _timed_run(client, finished, lambda: count, expected, stall_s=stall_s, limit_s=limit_s)
    return result


async def run_latency(client: Client, url: str, expected: int, *, warmup: int, stall_s: float, limit_s: float) -> dict[str, Any]:
    """Server-write-to-callback latency of paced messages, from the timestamp in each payload."""
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()
    samples: list[int] = []
    append, clock, ts = samples.append, time.monotonic_ns, TIMESTAMP_SLICE

    def on_message(message: Message) -> None:
        now = clock()
        if len(message) < SENTINEL_MAX_LEN:
            if not finished.done():
                finished.set_result(None)
            return
        append(now - int(message[ts]))

    def on_batch(batch: list[Message]) -> None:
        for message in batch:
            now = clock()
            if len(message) < SENTINEL_MAX_LEN:
                if not finished.done():
                    finished.set_result(None)
                return
            append(now - int(message[ts]))

    await open_client(client, url, on_batch if client.batched else on_message)
    await client.send("go")
    await guard(finished, samples.__len__, stall_s=stall_s, limit_s=limit_s, ended=client.wait_closed())
    if len(samples) != expected:
        raise BenchError(f"received {len(samples)} of {expected} messages")
    return percentiles(samples[warmup:])


async def run_echo(client: Client, url: str, count: int, *, warmup: int, stall_s: float, limit_s: float) -> dict[str, Any]:
    """Sequential send/receive round trips through the echo server."""
    await open_client(client, url, None)
    rtts: list[int] = []
    clock = time.monotonic_ns

    async def ping_pong() -> None:
        for _ in range(count):
            sent = clock()
            await client.send(str(sent))
            reply = await client.recv()
            rtts.append(clock() - sent)
            if int(reply) != sent:
                raise BenchError(f"echo mismatch: sent {sent}, got {reply!r}")

    await guard(ping_pong(), rtts.__len__, stall_s=stall_s, limit_s=limit_s)
    return percentiles(rtts[warmup:])


def _scenario(name: str, client: Client, port: int, p: dict[str, Any]) -> Awaitable[dict[str, Any]]:
    base = f"ws://127.0.0.1:{port}"
    stall, limit = p["stall_s"], p["limit_s"]
    if name == "typed":
        return run_typed(client, f"{base}/bulk?n={p['messages']}", p["messages"], stall_s=stall, limit_s=limit)
    if client.typed:
        raise BenchError(f"{type(client).__name__} runs only the typed scenario")
    if name in ("raw", "decoded"):
        return run_throughput(client, f"{base}/bulk?n={p['messages']}", p["messages"], decode=name == "decoded", stall_s=stall, limit_s=limit)
    if name == "latency":
        n = round(p["rate"] * (p["latency_seconds"] + p["latency_warmup_s"]))
        url = f"{base}/paced?n={n}&rate={p['rate']}"
        return run_latency(client, url, n, warmup=round(p["rate"] * p["latency_warmup_s"]), stall_s=stall, limit_s=limit)
    if name == "echo":
        return run_echo(client, f"{base}/echo", p["echo_count"], warmup=p["echo_warmup"], stall_s=stall, limit_s=limit)
    raise ValueError(f"unknown scenario {name!r}")


async def _run(client: Client, scenario: str, port: int, params: dict[str, Any]) -> dict[str, Any]:
    try:
        result = await _scenario(scenario, client, port, params)
        result["details"] = client.details()
    finally:
        try:
            await asyncio.wait_for(client.close(), _CLOSE_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - the measurement is done; a messy close must not void it
            pass
    result["version"] = client.version()
    return result


def loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def client_process(conn: Any, name: str, scenario: str, port: int, params: dict[str, Any], cpu: int) -> None:
    """Entry point of a client process; sends ``{"ok": True, ...}`` or ``{"ok": False, "error"}``."""
    try:
        pin_to_cpu(cpu)
        adapter, loop_kind = CLIENTS[name]
        with asyncio.Runner(loop_factory=loop_factory(loop_kind)) as runner:
            result = runner.run(_run(adapter(), scenario, port, params))
        conn.send({"ok": True, "loop": loop_kind, **result})
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent as text
        conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
    finally:
        conn.close()
