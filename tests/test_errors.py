"""Failures: opening errors, timeouts, invalid URLs, and connections failed for protocol
violations (1009, 1007, 1002), with the process and other connections unaffected."""

from __future__ import annotations

import asyncio
import concurrent.futures
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

import tickwire
from servers import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    RawServer,
    WsServer,
    close_payload,
    frame,
    raw_handshake,
    read_until_close,
    refused_port,
    silent_listener,
    wait_future,
)

# Opening errors must come well before open_timeout: they are answers, not silence.
OPEN_TIMEOUT = 30.0
QUICK = 10.0


def _check_error(exc: tickwire.TickwireError, url: str) -> None:
    assert isinstance(exc, tickwire.TickwireError)
    assert exc.url == url
    assert url in str(exc), str(exc)


async def _assert_still_works(conn: tickwire.Connection) -> None:
    await conn.send("alive?")
    assert await conn.recv() == "alive?"
    assert conn.state is tickwire.State.CONNECTED


async def test_connection_refused() -> None:
    with refused_port() as port:
        url = f"ws://127.0.0.1:{port}/"
        async with asyncio.timeout(QUICK):
            with pytest.raises(tickwire.NetworkError) as info:
                await tickwire.connect(url, open_timeout=OPEN_TIMEOUT)
    assert isinstance(info.value, ConnectionError)
    assert not isinstance(info.value, tickwire.TlsError)
    _check_error(info.value, url)


async def test_dns_failure() -> None:
    # A 64-character label is longer than DNS allows, so the system resolver fails it at once
    # without sending a query anywhere: a real resolution failure that stays on this machine.
    # (.invalid also never resolves, RFC 6761.)
    url = f"ws://{'x' * 64}.invalid/"
    async with asyncio.timeout(QUICK):
        with pytest.raises(tickwire.NetworkError) as info:
            await tickwire.connect(url, open_timeout=OPEN_TIMEOUT)
    assert isinstance(info.value, ConnectionError)
    assert not isinstance(info.value, tickwire.TlsError)
    _check_error(info.value, url)


@pytest.mark.parametrize("status", [403, 404])
async def test_handshake_rejected_with_http_status(status: int) -> None:
    def process_request(ws: ServerConnection, _request: Request) -> Response:
        return ws.respond(HTTPStatus(status), "go away\n")

    async def handler(_ws: ServerConnection) -> None:
        raise AssertionError("the upgrade must not succeed")

    async with WsServer(handler, process_request=process_request) as server:
        async with asyncio.timeout(QUICK):
            with pytest.raises(tickwire.HandshakeError) as info:
                await tickwire.connect(server.url, open_timeout=OPEN_TIMEOUT)
    assert info.value.status == status
    assert isinstance(info.value, ConnectionError)
    assert not isinstance(info.value, tickwire.ConnectionClosed)
    _check_error(info.value, server.url)


async def test_open_timeout_when_server_never_answers() -> None:
    with silent_listener() as port:
        url = f"ws://127.0.0.1:{port}/"
        async with asyncio.timeout(QUICK):
            with pytest.raises(tickwire.TickwireTimeoutError) as info:
                await tickwire.connect(url, open_timeout=1.0)
    assert isinstance(info.value, TimeoutError)
    assert info.value.timeout == 1.0
    _check_error(info.value, url)


async def test_cancelled_connect_abandons_the_attempt(echo_server: WsServer) -> None:
    """Cancelling connect() (here by asyncio.timeout) drops the half-open TCP connection."""
    dropped: concurrent.futures.Future[bytes] = concurrent.futures.Future()

    async def handler(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        # Read the upgrade request, never answer it, and wait for the client to go away.
        request = await reader.readuntil(b"\r\n\r\n")
        assert request.startswith(b"GET ")
        try:
            rest = await asyncio.wait_for(reader.read(), 20)
        except ConnectionResetError:
            rest = b""
        dropped.set_result(rest)

    async with RawServer(handler) as server:
        with pytest.raises(TimeoutError) as info:
            async with asyncio.timeout(1.0):
                await tickwire.connect(server.url, open_timeout=OPEN_TIMEOUT)
        # asyncio's own timeout, not tickwire's open_timeout (30 s) firing.
        assert not isinstance(info.value, tickwire.TickwireTimeoutError)
        assert await wait_future(dropped, QUICK) == b""
    # The runtime is fine afterwards.
    async with asyncio.timeout(QUICK):
        async with await tickwire.connect(echo_server.url) as conn:
            await _assert_still_works(conn)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "https://127.0.0.1:9/",
        "ftp://127.0.0.1/",
        "127.0.0.1:9",
        "garbage",
        "",
        "ws://",
        "ws://127.0.0.1:notaport/",
        "ws://127.0.0.1:65536/",
        "ws://127.0.0.1:99999/",
    ],
)
async def test_invalid_url_is_value_error(url: str) -> None:
    async with asyncio.timeout(QUICK):
        with pytest.raises(ValueError):
            await tickwire.connect(url)


@pytest.mark.parametrize(
    "options",
    [{"read_buffer_size": 1024}, {"read_buffer_size": 64 * 1024 * 1024 + 1}, {"max_queue": 0}],
    ids=repr,
)
async def test_invalid_option_is_value_error(
    echo_server: WsServer, options: dict[str, Any]
) -> None:
    async with asyncio.timeout(QUICK):
        with pytest.raises(ValueError):
            await tickwire.connect(echo_server.url, **options)


# --- Connections failed by tickwire ------------------------------------------------------------


@pytest.mark.parametrize(
    "big",
    [
        pytest.param("x" * 2000, id="text-one-frame"),
        pytest.param(b"\x01" * 2000, id="binary-one-frame"),
        pytest.param(["y" * 500] * 3, id="text-three-fragments"),
        pytest.param([b"\x02" * 500] * 3, id="binary-three-fragments"),
    ],
)
async def test_message_over_max_message_size_fails_with_1009(
    echo_server: WsServer, big: str | bytes | list[str] | list[bytes]
) -> None:
    seen: concurrent.futures.Future[int | None] = concurrent.futures.Future()

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.send("small")
            await ws.send(big)  # a list is sent as one fragmented message
            await ws.wait_closed()
        finally:
            seen.set_result(ws.close_code)

    async with asyncio.timeout(20):
        bystander = await tickwire.connect(echo_server.url)
        try:
            async with WsServer(handler) as server:
                conn = await tickwire.connect(server.url, max_message_size=1000)
                assert await conn.recv() == "small"
                with pytest.raises(tickwire.ProtocolError) as info:
                    await conn.recv()
                await conn.wait_closed()
                assert await wait_future(seen) == 1009
            assert isinstance(info.value, tickwire.ConnectionClosed)
            assert info.value.code == 1009
            assert conn.close_code == 1009
            assert conn.state is not tickwire.State.CONNECTED
            _check_error(info.value, server.url)
            with pytest.raises(tickwire.ConnectionClosed):
                await conn.send("after failure")
            await _assert_still_works(bystander)
        finally:
            await bystander.close()


async def test_frame_over_max_frame_size_fails_with_1009(echo_server: WsServer) -> None:
    seen: concurrent.futures.Future[int | None] = concurrent.futures.Future()

    async def handler(ws: ServerConnection) -> None:
        try:
            # 3 frames of 500 bytes: within max_frame_size=1000, as one 1500-byte message.
            await ws.send([b"\x04" * 500] * 3)
            await ws.send(b"\x05" * 2000)  # a single 2000-byte frame
            await ws.wait_closed()
        finally:
            seen.set_result(ws.close_code)

    async with WsServer(handler) as server, asyncio.timeout(20):
        conn = await tickwire.connect(server.url, max_frame_size=1000)
        assert await conn.recv() == b"\x04" * 1500
        with pytest.raises(tickwire.ProtocolError) as info:
            await conn.recv()
        await conn.wait_closed()
        assert await wait_future(seen) == 1009
    assert info.value.code == 1009
    _check_error(info.value, server.url)


async def test_message_at_max_message_size_is_accepted(echo_server: WsServer) -> None:
    async with asyncio.timeout(10):
        async with await tickwire.connect(echo_server.url, max_message_size=1000) as conn:
            await conn.send(b"\x03" * 1000)
            assert await conn.recv() == b"\x03" * 1000


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        pytest.param(frame(OP_TEXT, b"\xff\xfe"), 1007, id="invalid-utf8"),
        pytest.param(
            frame(OP_TEXT, "ok €".encode()[:-1], fin=False) + frame(OP_CONT, b"\xff"),
            1007,
            id="invalid-utf8-across-fragments",
        ),
        pytest.param(frame(0x3, b"x"), 1002, id="reserved-opcode"),
        pytest.param(frame(OP_TEXT, b"x", rsv=0b100), 1002, id="rsv1-without-extension"),
        pytest.param(frame(OP_TEXT, b"x", mask=b"abcd"), 1002, id="masked-server-frame"),
        pytest.param(frame(OP_PING, b"", fin=False), 1002, id="fragmented-ping"),
        pytest.param(frame(OP_CONT, b"orphan"), 1002, id="continuation-without-start"),
        pytest.param(
            frame(OP_BINARY, b"a", fin=False) + frame(OP_TEXT, b"b"),
            1002,
            id="new-message-inside-fragmented-one",
        ),
    ],
)
async def test_protocol_violation_fails_connection(
    echo_server: WsServer, wire: bytes, code: int
) -> None:
    seen: concurrent.futures.Future[tuple[int | None, bool]] = concurrent.futures.Future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_handshake(reader, writer)
        writer.write(frame(OP_TEXT, b"before"))
        writer.write(wire)
        await writer.drain()
        client_code, _reason, masked = await read_until_close(reader)
        seen.set_result((client_code, masked))
        writer.write(frame(OP_CLOSE, close_payload(client_code or 1000)))
        await writer.drain()

    async with asyncio.timeout(20):
        bystander = await tickwire.connect(echo_server.url)
        try:
            async with RawServer(handler) as server:
                conn = await tickwire.connect(server.url)
                assert await conn.recv() == "before"
                with pytest.raises(tickwire.ProtocolError) as info:
                    await conn.recv()
                await conn.wait_closed()
                client_code, masked = await wait_future(seen)
            assert client_code == code
            assert masked, "a client's frames must be masked"
            assert info.value.code == code
            assert conn.close_code == code
            _check_error(info.value, server.url)
            await _assert_still_works(bystander)
        finally:
            await bystander.close()
