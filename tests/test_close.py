"""Closing: codes and reasons both ways, iteration end, state, wait_closed, abnormal closure."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib

import pytest
from websockets.asyncio.server import ServerConnection

import tickwire
from servers import (
    OP_CLOSE,
    OP_TEXT,
    RawServer,
    WsServer,
    frame,
    raw_handshake,
    read_until_close,
    wait_future,
)

CloseSeen = concurrent.futures.Future[tuple[int | None, str | None]]


def _closing_server(code: int, reason: str, before: list[str], seen: CloseSeen) -> WsServer:
    """A server that sends ``before``, then closes with (code, reason) and reports the code and
    reason the client answered with."""

    async def handler(ws: ServerConnection) -> None:
        try:
            for message in before:
                await ws.send(message)
            await ws.close(code, reason)
        finally:
            seen.set_result((ws.close_code, ws.close_reason))

    return WsServer(handler)


async def test_server_close_code_and_reason_reach_recv() -> None:
    seen: CloseSeen = concurrent.futures.Future()
    async with _closing_server(4001, "bye", ["a", "b"], seen) as server, asyncio.timeout(10):
        conn = await tickwire.connect(server.url)
        # Messages sent before the close are all delivered first.
        assert await conn.recv() == "a"
        assert await conn.recv() == "b"
        with pytest.raises(tickwire.ConnectionClosed) as info:
            await conn.recv()
        await conn.wait_closed()

        # The client answered the close with the same code: a clean close.
        assert await wait_future(seen) == (4001, "bye")

    exc = info.value
    assert exc.code == 4001
    assert exc.reason == "bye"
    assert not isinstance(exc, tickwire.ProtocolError)
    assert isinstance(exc, tickwire.TickwireError)
    assert isinstance(exc, ConnectionError)
    assert exc.url == server.url
    assert server.url in str(exc)
    assert conn.state is tickwire.State.CLOSED
    assert conn.close_code == 4001
    assert conn.close_reason == "bye"

    # Once closed, recv() keeps raising and send() raises too; close() does nothing.
    with pytest.raises(tickwire.ConnectionClosed) as again:
        await conn.recv()
    assert again.value.code == 4001
    with pytest.raises(tickwire.ConnectionClosed):
        await conn.send("too late")
    await conn.close()
    assert conn.close_code == 4001


async def test_client_close_code_and_reason_reach_server() -> None:
    seen: CloseSeen = concurrent.futures.Future()

    async def handler(ws: ServerConnection) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            seen.set_result((ws.close_code, ws.close_reason))

    async with WsServer(handler) as server, asyncio.timeout(10):
        conn = await tickwire.connect(server.url)
        await conn.send("x")
        assert await conn.recv() == "x"
        await conn.close(4000, "done")
        assert conn.state is tickwire.State.CLOSED
        assert await wait_future(seen) == (4000, "done")
        # The server echoed the code, so the handshake completed cleanly.
        assert conn.close_code == 4000
        assert conn.close_reason == "done"
        await conn.wait_closed()
        # Closing again does nothing and does not raise.
        await conn.close(1000, "again")
        assert conn.close_code == 4000
        with pytest.raises(tickwire.ConnectionClosed):
            await conn.recv()
        with pytest.raises(tickwire.ConnectionClosed):
            await conn.send("too late")


@pytest.mark.parametrize("code", [1000, 1001])
async def test_async_for_ends_quietly_on_normal_close(code: int) -> None:
    seen: CloseSeen = concurrent.futures.Future()
    sent = [f"m{i}" for i in range(20)]
    async with _closing_server(code, "finished", sent, seen) as server, asyncio.timeout(10):
        conn = await tickwire.connect(server.url)
        received = [message async for message in conn]
        assert received == sent
        await conn.wait_closed()
        assert await wait_future(seen) == (code, "finished")
    assert conn.state is tickwire.State.CLOSED
    assert conn.close_code == code
    assert conn.close_reason == "finished"


async def test_async_for_raises_on_other_close_codes() -> None:
    seen: CloseSeen = concurrent.futures.Future()
    async with _closing_server(1011, "server error", ["only"], seen) as server, asyncio.timeout(10):
        conn = await tickwire.connect(server.url)
        received = []
        with pytest.raises(tickwire.ConnectionClosed) as info:
            async for message in conn:
                received.append(message)
        assert received == ["only"]
        assert (info.value.code, info.value.reason) == (1011, "server error")
        await conn.wait_closed()
        assert (await wait_future(seen))[0] == 1011


@pytest.mark.parametrize("reason", ["", "naïve ✓ 😀", "r" * 123])
async def test_close_reasons_round_trip(reason: str) -> None:
    seen: CloseSeen = concurrent.futures.Future()
    async with _closing_server(4002, reason, [], seen) as server, asyncio.timeout(10):
        conn = await tickwire.connect(server.url)
        with pytest.raises(tickwire.ConnectionClosed) as info:
            await conn.recv()
        assert await wait_future(seen) == (4002, reason)
    assert (info.value.code, info.value.reason) == (4002, reason)
    assert (conn.close_code, conn.close_reason) == (4002, reason)


async def test_close_wakes_a_pending_recv(echo_server: WsServer) -> None:
    async with asyncio.timeout(10):
        conn = await tickwire.connect(echo_server.url)
        waiting = asyncio.create_task(conn.recv())
        await asyncio.sleep(0)  # Let the task park in recv().
        assert not waiting.done()
        await conn.close(4003, "shutting down")
        with pytest.raises(tickwire.ConnectionClosed) as info:
            await waiting
    assert info.value.code == 4003
    assert conn.state is tickwire.State.CLOSED


async def test_cancelled_recv_leaves_connection_usable(echo_server: WsServer) -> None:
    async with asyncio.timeout(10):
        async with await tickwire.connect(echo_server.url) as conn:
            waiting = asyncio.create_task(conn.recv())
            await asyncio.sleep(0)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await conn.send("after cancel")
            assert await conn.recv() == "after cancel"


async def test_wait_closed_returns_when_server_closes() -> None:
    seen: CloseSeen = concurrent.futures.Future()
    async with _closing_server(1000, "", [], seen) as server, asyncio.timeout(10):
        conn = await tickwire.connect(server.url)
        # Nobody reads: wait_closed() alone must notice the close.
        await conn.wait_closed()
        assert conn.state is tickwire.State.CLOSED
        assert conn.close_code == 1000
        assert await wait_future(seen) == (1000, "")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (0, ""),
        (999, ""),
        (1004, ""),
        (1005, ""),
        (1006, ""),
        (1015, ""),
        (5000, ""),
        (1000, "é" * 62),  # 124 bytes of UTF-8: one over the limit
    ],
)
async def test_close_rejects_codes_that_may_not_be_sent(
    echo_server: WsServer, code: int, reason: str
) -> None:
    async with asyncio.timeout(10):
        async with await tickwire.connect(echo_server.url) as conn:
            with pytest.raises(ValueError):
                await conn.close(code, reason)
            # The connection is untouched.
            assert conn.state is tickwire.State.CONNECTED
            await conn.send("still open")
            assert await conn.recv() == "still open"
            await conn.close(4999, "é" * 61)  # 122 bytes: allowed
            assert conn.close_code == 4999


async def test_tcp_drop_without_close_frame_is_1006() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_handshake(reader, writer)
        writer.write(frame(OP_TEXT, b"last words"))
        await writer.drain()
        # Returning closes the TCP connection without a closing handshake.

    async with RawServer(handler) as server, asyncio.timeout(10):
        conn = await tickwire.connect(server.url)
        assert await conn.recv() == "last words"
        with pytest.raises(tickwire.ConnectionClosed) as info:
            await conn.recv()
        await conn.wait_closed()
    assert info.value.code == 1006
    assert not isinstance(info.value, tickwire.ProtocolError)
    assert conn.close_code == 1006
    assert conn.state is not tickwire.State.CONNECTED


async def test_close_timeout_drops_unresponsive_peer() -> None:
    """A peer that never answers our close frame is dropped after close_timeout."""
    eof: concurrent.futures.Future[tuple[int | None, bytes]] = concurrent.futures.Future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_handshake(reader, writer)
        code, _reason, _masked = await read_until_close(reader)
        # Don't answer; wait for the client to drop the TCP connection (FIN or RST).
        try:
            rest = await asyncio.wait_for(reader.read(), 20)
        except ConnectionResetError:
            rest = b""
        eof.set_result((code, rest))

    async with RawServer(handler) as server:
        conn = await tickwire.connect(server.url, close_timeout=1.0)
        # Whether close() reports the timeout is not specified; it must not hang.
        async with asyncio.timeout(8):
            with contextlib.suppress(tickwire.TickwireTimeoutError):
                await conn.close(1000, "")
        assert await wait_future(eof) == (1000, b"")
    assert conn.state in (tickwire.State.CLOSED, tickwire.State.ERROR)
    # Nothing was received from the peer, so a later recv() raises.
    with pytest.raises(tickwire.ConnectionClosed):
        await conn.recv()


async def test_server_close_without_status_code() -> None:
    """An empty close frame is answered and ends the connection."""
    answered: concurrent.futures.Future[tuple[int | None, str]] = concurrent.futures.Future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_handshake(reader, writer)
        writer.write(frame(OP_CLOSE, b""))
        await writer.drain()
        code, reason, _masked = await read_until_close(reader)
        answered.set_result((code, reason))

    async with RawServer(handler) as server, asyncio.timeout(10):
        conn = await tickwire.connect(server.url)
        with pytest.raises(tickwire.ConnectionClosed):
            await conn.recv()
        await conn.wait_closed()
        code, reason = await wait_future(answered)
    # RFC 6455 §5.5.1: the answer to an empty close frame carries no code or 1000.
    assert code in (None, 1000)
    assert reason == ""
    assert conn.state is tickwire.State.CLOSED
