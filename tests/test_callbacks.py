"""The on_message() path: exactly-once in-order delivery under a burst, a blocked loop that must
not stop the connection answering pings, backpressure, callback errors, switching back to recv()."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import time
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

import tickwire
from servers import (
    OP_CLOSE,
    RawServer,
    WsServer,
    close_payload,
    frame,
    raw_handshake,
    read_until_close,
    wait_future,
)


def _burst_server(
    wire: bytes, seen: concurrent.futures.Future[int | None], reason: str = "end"
) -> RawServer:
    """A raw server that writes ``wire`` (pre-built frames) at once, then closes with 1000 and
    reports the close code the client answered with."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_handshake(reader, writer)
        writer.write(wire)
        writer.write(frame(OP_CLOSE, close_payload(1000, reason)))
        await writer.drain()
        code, _reason, _masked = await read_until_close(reader, timeout=60)
        seen.set_result(code)

    return RawServer(handler)


def _first_mismatch(got: list[Any], expected: list[Any]) -> str:
    for i, (g, e) in enumerate(zip(got, expected, strict=False)):
        if g != e:
            return f"first difference at {i}: got {g!r}, expected {e!r}"
    return f"lengths differ: got {len(got)}, expected {len(expected)}"


BURST = 1_000_000


@pytest.fixture(scope="module")
def burst_wire() -> tuple[bytes, int]:
    """1,000,000 text frames "0" … "999999", and their total payload size."""
    payloads = [str(i).encode() for i in range(BURST)]
    wire = b"".join([b"\x81" + bytes((len(p),)) + p for p in payloads])
    return wire, sum(map(len, payloads))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("style", ["on_message", "on_batch"])
async def test_callback_burst_of_one_million_exactly_once_in_order(
    burst_wire: tuple[bytes, int], style: str
) -> None:
    wire, payload_bytes = burst_wire
    seen: concurrent.futures.Future[int | None] = concurrent.futures.Future()
    received: list[str | bytes] = []
    batch_sizes: list[int] = []

    def on_batch(batch: list[str | bytes]) -> None:
        batch_sizes.append(len(batch))
        received.extend(batch)

    async with _burst_server(wire, seen) as server, asyncio.timeout(90):
        conn = await tickwire.connect(server.url)
        if style == "on_message":
            conn.on_message(received.append)
        else:
            conn.on_batch(on_batch)
        await conn.wait_closed()
        assert await wait_future(seen) == 1000
        stats = conn.stats()

    expected = [str(i) for i in range(BURST)]
    assert received == expected, _first_mismatch(received, expected)
    assert conn.state is tickwire.State.CLOSED
    assert (conn.close_code, conn.close_reason) == (1000, "end")
    assert stats["messages_in"] == BURST
    assert stats["messages_delivered"] == BURST
    assert stats["bytes_in"] == payload_bytes
    assert stats["callback_errors"] == 0
    assert stats["queue_len"] == 0
    assert 1 <= stats["batches_delivered"] <= BURST
    if style == "on_batch":
        assert len(batch_sizes) == stats["batches_delivered"]
        assert all(1 <= size <= tickwire._core.DISPATCH_LIMIT for size in batch_sizes)
    print(
        f"1M burst: {stats['batches_delivered']} batches,"
        f" {stats['queue_full_events']} queue-full events"
    )


async def test_callback_runs_on_loop_thread_in_order(echo_server: WsServer) -> None:
    loop_thread = threading.get_ident()
    calls: list[tuple[str | bytes, int]] = []
    done = asyncio.Event()
    count = 50

    def callback(message: str | bytes) -> None:
        calls.append((message, threading.get_ident()))
        if len(calls) == count:
            done.set()  # an asyncio API, allowed because we are on the loop's thread

    async with asyncio.timeout(10):
        async with await tickwire.connect(echo_server.url) as conn:
            conn.on_message(callback)
            with pytest.raises(RuntimeError):
                await conn.recv()  # recv() is refused while a callback is set
            for i in range(count):
                await conn.send(str(i) if i % 2 else str(i).encode())
            await done.wait()
            assert conn.stats()["messages_delivered"] == count

    assert [message for message, _ in calls] == [
        str(i) if i % 2 else str(i).encode() for i in range(count)
    ]
    assert {thread for _, thread in calls} == {loop_thread}


async def test_callback_errors_are_reported_and_delivery_goes_on(
    echo_server: WsServer, loop_errors: list[dict[str, Any]]
) -> None:
    got: list[str | bytes] = []
    done = asyncio.Event()

    class Boom(Exception):
        pass

    def callback(message: str | bytes) -> None:
        got.append(message)
        if message in ("m3", "m7"):
            raise Boom(message)
        if message == "m9":
            done.set()

    async with asyncio.timeout(10):
        async with await tickwire.connect(echo_server.url) as conn:
            conn.on_message(callback)
            for i in range(10):
                await conn.send(f"m{i}")
            await done.wait()
            assert conn.stats()["callback_errors"] == 2

    assert got == [f"m{i}" for i in range(10)]
    reported = [context.get("exception") for context in loop_errors]
    assert [type(e) for e in reported] == [Boom, Boom], loop_errors
    assert [str(e) for e in reported] == ["m3", "m7"]
    loop_errors.clear()


async def test_batch_callback_errors_are_reported_and_delivery_goes_on(
    echo_server: WsServer, loop_errors: list[dict[str, Any]]
) -> None:
    got: list[str | bytes] = []
    done = asyncio.Event()

    class Boom(Exception):
        pass

    def on_batch(batch: list[str | bytes]) -> None:
        got.extend(batch)
        if "m9" in batch:
            done.set()
        if "m3" in batch:
            raise Boom("m3")

    async with asyncio.timeout(10):
        async with await tickwire.connect(echo_server.url) as conn:
            conn.on_batch(on_batch)
            for i in range(10):
                await conn.send(f"m{i}")
                await asyncio.sleep(0)
            await done.wait()
            assert conn.stats()["callback_errors"] == 1

    # The failed batch's messages count as delivered; nothing is lost or repeated.
    assert got == [f"m{i}" for i in range(10)]
    reported = [context.get("exception") for context in loop_errors]
    assert [type(e) for e in reported] == [Boom], loop_errors
    loop_errors.clear()


async def test_switching_between_callback_and_recv() -> None:
    async def handler(ws: ServerConnection) -> None:
        for i in range(5):
            await ws.send(f"a{i}")
        assert await ws.recv() == "switch"
        for i in range(5):
            await ws.send(f"b{i}")
        await ws.wait_closed()

    got: list[str | bytes] = []
    five = asyncio.Event()

    def callback(message: str | bytes) -> None:
        got.append(message)
        if len(got) == 5:
            five.set()

    async with WsServer(handler) as server, asyncio.timeout(10):
        async with await tickwire.connect(server.url) as conn:
            conn.on_message(callback)
            await five.wait()
            conn.on_message(None)
            await conn.send("switch")
            assert [await conn.recv() for _ in range(5)] == [f"b{i}" for i in range(5)]
    assert got == [f"a{i}" for i in range(5)]


@pytest.mark.timeout(60)
async def test_blocked_callback_does_not_stop_pings() -> None:
    """A callback blocks the loop for 5 s; the I/O thread keeps answering the server's pings
    (websockets keepalive: ping every 1 s, 2 s to answer) and the connection survives."""
    block_seconds = 5.0
    report: concurrent.futures.Future[tuple[list[float], int | None]] = concurrent.futures.Future()

    async def pinger(ws: ServerConnection, pong_times: list[float]) -> None:
        # Keep data flowing too, so the I/O thread has to queue messages while the loop is
        # blocked, and check each ping is answered within 2 s.
        for n in itertools.count():
            await ws.send(f"tick-{n}")
            pong = await ws.ping()
            await asyncio.wait_for(pong, 2)
            pong_times.append(time.monotonic())
            await asyncio.sleep(0.2)  # pacing, not synchronization

    async def handler(ws: ServerConnection) -> None:
        pong_times: list[float] = []
        try:
            await ws.send("block")
            for i in range(10):
                await ws.send(f"during-{i}")
            pings = asyncio.create_task(pinger(ws, pong_times))
            try:
                message = await asyncio.wait_for(ws.recv(), block_seconds + 15)
            finally:
                if pings.done():
                    pings.result()  # a ping went unanswered: fail with its TimeoutError
                pings.cancel()
            assert message == "unblocked"
            await ws.send("after")
            await ws.wait_closed()
        finally:
            report.set_result((pong_times, ws.close_code))

    loop = asyncio.get_running_loop()
    received: list[str | bytes] = []
    block: dict[str, float] = {}
    sends: list[asyncio.Task[None]] = []
    after = asyncio.Event()

    async with WsServer(handler, ping_interval=1, ping_timeout=2) as server:
        conn = await asyncio.wait_for(tickwire.connect(server.url), 10)

        def callback(message: str | bytes) -> None:
            received.append(message)
            if message == "block":
                block["start"] = time.monotonic()
                time.sleep(block_seconds)  # blocks the event loop on purpose
                block["end"] = time.monotonic()
                sends.append(loop.create_task(conn.send("unblocked")))
            elif message == "after":
                after.set()

        conn.on_message(callback)
        async with asyncio.timeout(block_seconds + 20):
            # Wait for "after", unless the server's side ends first (a ping went unanswered,
            # or the keepalive closed the connection): then fail with what the server saw.
            reported = asyncio.wrap_future(report)
            got_after = asyncio.create_task(after.wait())
            either: set[asyncio.Future[Any]] = {reported, got_after}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not got_after.done():
                got_after.cancel()
                pytest.fail(
                    f"the server's connection ended during the block: pongs at {reported.result()[0]},"
                    f" block {block}, close code {reported.result()[1]}, client state {conn.state},"
                    f" server errors {server.errors!r}"
                )
            await asyncio.gather(*sends)
            assert conn.state is tickwire.State.CONNECTED
            assert conn.stats()["messages_in"] == len(received)
            await conn.close()
            pong_times, server_close_code = await asyncio.wait_for(reported, 10)

    ticks = len(received) - 12
    assert received == [
        "block",
        *(f"during-{i}" for i in range(10)),
        *(f"tick-{i}" for i in range(ticks)),
        "after",
    ]
    assert ticks >= 3, received
    answered_while_blocked = [t for t in pong_times if block["start"] < t < block["end"]]
    assert len(answered_while_blocked) >= 3, (pong_times, block)
    # The server saw our normal close, not its own 1011 keepalive timeout.
    assert server_close_code == 1000


@pytest.mark.parametrize("path", ["callback", "recv"])
async def test_backpressure_small_queue_loses_nothing(path: str) -> None:
    count = 10_000
    payloads = [i.to_bytes(4, "big") for i in range(count)]
    wire = b"".join(frame(0x2, p) for p in payloads)
    seen: concurrent.futures.Future[int | None] = concurrent.futures.Future()
    received: list[str | bytes] = []

    async with _burst_server(wire, seen) as server, asyncio.timeout(60):
        conn = await tickwire.connect(server.url, max_queue=100)
        if path == "callback":

            def callback(message: str | bytes) -> None:
                received.append(message)
                if len(received) in (1, 5_000):
                    time.sleep(0.3)  # a slow strategy: the queue fills meanwhile

            conn.on_message(callback)
            await conn.wait_closed()
        else:
            time.sleep(0.3)  # a slow start, blocking the loop: the queue fills meanwhile
            received.extend([message async for message in conn])
        assert await wait_future(seen) == 1000
        stats = conn.stats()

    assert received == payloads, _first_mismatch(received, payloads)
    assert stats["queue_capacity"] == 100
    assert stats["queue_full_events"] > 0
    assert stats["queue_full_ns"] > 0
    assert stats["messages_in"] == count
    assert stats["bytes_in"] == 4 * count
