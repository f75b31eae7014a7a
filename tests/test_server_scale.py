"""The broadcast server at scale: a thousand connections at once, and ten thousand
connect/disconnect cycles without leaking descriptors or memory.

The clients speak just enough RFC 6455 over asyncio streams (upgrade, then read the server's
unmasked frames), so that the test measures the server, not a client library.
"""

from __future__ import annotations

import asyncio
import base64
import os
import resource

import pytest

import tickwire

from process_usage import open_fds, rss_kib

pytestmark = pytest.mark.timeout(120)


async def open_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def read_text(reader: asyncio.StreamReader) -> bytes:
    """One unmasked server text frame's payload."""
    first, second = await reader.readexactly(2)
    assert first == 0x81, hex(first)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return await reader.readexactly(length)


async def test_a_thousand_clients_at_once_each_get_the_broadcast() -> None:
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= 2200, "needs ~2,100 descriptors"
    async with asyncio.timeout(100), tickwire.Server(port=0, max_connections=2000) as server:
        clients = []
        for _ in range(10):
            clients += await asyncio.gather(*(open_client(server.port) for _ in range(100)))
        for reader, _ in clients:
            assert b'"type":"Connected"' in await read_text(reader)
        await asyncio.wait_for(_until(lambda: server.connections() == 1000), 10)
        seq = server.publish("MarketData", {"symbol": "BTCUSDT", "price": 1.5, "timestamp": 1})
        payloads = await asyncio.gather(*(read_text(reader) for reader, _ in clients))
        assert all(f'"seq":{seq},'.encode() in payload for payload in payloads)
        assert server.metrics()["messages_sent"] >= 2000
        for _, writer in clients:
            writer.close()
        await asyncio.wait_for(_until(lambda: server.connections() == 0), 20)


async def test_ten_thousand_connect_disconnect_cycles_leak_nothing() -> None:
    """Twenty-one thousand cycles in all; descriptors and memory are compared over the last ten."""
    async with asyncio.timeout(100), tickwire.Server(port=0) as server:

        async def cycle() -> None:
            reader, writer = await open_client(server.port)
            assert b'"type":"Connected"' in await read_text(reader)
            writer.close()
            await writer.wait_closed()

        async def cycles(count: int) -> None:
            for _ in range(count // 20):
                await asyncio.gather(*(cycle() for _ in range(20)))

        # Warm up, then a first round: allocator arenas and the runtime's buffers settle.
        await cycles(1000)
        await cycles(10_000)
        await asyncio.wait_for(_until(lambda: server.connections() == 0), 20)
        fds, rss = open_fds(), rss_kib()
        await cycles(10_000)
        await asyncio.wait_for(_until(lambda: server.connections() == 0), 20)
        assert server.metrics()["connections_total"] == 21_000
        assert open_fds() <= fds + 2, (fds, open_fds())
        grown = rss_kib() - rss
        # Over the second 10,000 connections: a leak of even 1 KiB each would show as 10 MiB.
        assert grown < 4 * 1024, f"RSS grew {grown} KiB over 10,000 more connections"


async def _until(condition: object) -> None:
    while not condition():  # type: ignore[operator]
        await asyncio.sleep(0.01)


async def test_a_client_that_answers_no_ping_is_dropped_after_two_intervals() -> None:
    async with asyncio.timeout(20), tickwire.Server(port=0, heartbeat_interval=0.2) as server:
        reader, writer = await open_client(server.port)  # never sends anything, pongs included
        assert b'"type":"Connected"' in await read_text(reader)
        await asyncio.wait_for(_until(lambda: server.connections() == 1), 5)
        await asyncio.wait_for(_until(lambda: server.connections() == 0), 5)
        assert server.metrics()["connection_errors"] == 1
        # What it was sent: a ping (opcode 0x89), then the close frame, code 1001.
        data = await asyncio.wait_for(reader.read(), 5)
        assert data.count(b"\x89\x00") >= 1 and b"\x88" in data
        close = data[data.index(b"\x88") :]
        assert int.from_bytes(close[2:4], "big") == 1001, close
        writer.close()
