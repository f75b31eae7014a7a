"""Opening connections: state, context manager, handshake headers, many connections at once."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request

import tickwire
from servers import WsServer, wait_future


async def test_connect_state_and_echo(echo_server: WsServer) -> None:
    async with asyncio.timeout(10):
        conn = await tickwire.connect(echo_server.url)
        try:
            assert isinstance(conn, tickwire.Connection)
            state = conn.state
            assert state is tickwire.State.CONNECTED
            assert state.value == "connected"
            assert conn.url == echo_server.url
            assert conn.close_code is None
            assert conn.close_reason is None
            await conn.send("hello")
            assert await conn.recv() == "hello"
        finally:
            await conn.close()
        assert conn.state is tickwire.State.CLOSED
        assert conn.close_code == 1000


async def test_async_with_closes_normally() -> None:
    seen: concurrent.futures.Future[tuple[int | None, str | None]] = concurrent.futures.Future()

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)
        seen.set_result((ws.close_code, ws.close_reason))

    async with WsServer(handler) as server, asyncio.timeout(10):
        async with await tickwire.connect(server.url) as conn:
            await conn.send(b"\x00\x01")
            assert await conn.recv() == b"\x00\x01"
        assert conn.state is tickwire.State.CLOSED
        assert await wait_future(seen) == (1000, "")


async def test_custom_headers_reach_server_and_no_deflate_offered() -> None:
    requests: concurrent.futures.Future[Request] = concurrent.futures.Future()

    def process_request(_ws: ServerConnection, request: Request) -> None:
        requests.set_result(request)

    async def handler(ws: ServerConnection) -> None:
        # The server would accept permessage-deflate (it is on by default); none was negotiated.
        assert ws.protocol.extensions == []
        async for message in ws:
            await ws.send(message)

    headers = {"X-Api-Key": "k-123", "X-Client-Tag": "strategy one"}
    async with WsServer(handler, process_request=process_request) as server:
        async with asyncio.timeout(10):
            async with await tickwire.connect(server.url, headers=headers) as conn:
                await conn.send("ping")
                assert await conn.recv() == "ping"
            request = await wait_future(requests)

    assert request.headers["X-Api-Key"] == "k-123"
    assert request.headers["X-Client-Tag"] == "strategy one"
    assert "Sec-WebSocket-Extensions" not in request.headers
    assert request.headers["Upgrade"].lower() == "websocket"


async def test_connect_options_are_accepted(echo_server: WsServer) -> None:
    """Every documented option of connect() is taken, and the connection works with them."""
    async with asyncio.timeout(10):
        async with await tickwire.connect(
            echo_server.url,
            nodelay=False,
            recv_buffer=64 * 1024,
            send_buffer=64 * 1024,
            max_message_size=1 << 20,
            max_frame_size=1 << 20,
            open_timeout=5.0,
            close_timeout=5.0,
            max_queue=16,
            read_buffer_size=8192,
        ) as conn:
            assert conn.stats()["queue_capacity"] == 16
            assert conn.stats()["read_buffer_capacity"] == 8192
            conn.set_read_buffer_capacity(64 * 1024)
            assert conn.stats()["read_buffer_capacity"] == 64 * 1024
            for capacity in (4095, 64 * 1024 * 1024 + 1):
                with pytest.raises(ValueError):
                    conn.set_read_buffer_capacity(capacity)
            for i in range(50):
                await conn.send(f"m{i}")
            assert [await conn.recv() for _ in range(50)] == [f"m{i}" for i in range(50)]


async def test_100_concurrent_connections(echo_server: WsServer) -> None:
    count, per_connection = 100, 5

    async def open_one(i: int) -> tickwire.Connection:
        return await tickwire.connect(echo_server.url)

    async def exchange(i: int, conn: tickwire.Connection) -> list[str | bytes]:
        async def sender() -> None:
            for j in range(per_connection):
                await conn.send(f"c{i}-m{j}" if j % 2 == 0 else f"c{i}-m{j}".encode())

        async def receiver() -> list[str | bytes]:
            return [await conn.recv() for _ in range(per_connection)]

        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(sender())
            received = tasks.create_task(receiver())
        return received.result()

    async with asyncio.timeout(60):
        opened = await asyncio.gather(*(open_one(i) for i in range(count)), return_exceptions=True)
        conns = [conn for conn in opened if isinstance(conn, tickwire.Connection)]
        try:
            failures = [exc for exc in opened if isinstance(exc, BaseException)]
            assert not failures, f"{len(failures)} of {count} connections failed: {failures[:3]!r}"
            # All 100 are open at the same time before any traffic starts.
            assert all(conn.state is tickwire.State.CONNECTED for conn in conns)
            async with asyncio.TaskGroup() as tasks:
                exchanges = [tasks.create_task(exchange(i, c)) for i, c in enumerate(conns)]
            results = [task.result() for task in exchanges]
        finally:
            await asyncio.gather(*(conn.close() for conn in conns))

    for i, received in enumerate(results):
        assert received == [
            f"c{i}-m{j}" if j % 2 == 0 else f"c{i}-m{j}".encode() for j in range(per_connection)
        ]
    assert all(conn.state is tickwire.State.CLOSED for conn in conns)
    assert all(conn.close_code == 1000 for conn in conns)
