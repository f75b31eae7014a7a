"""wss:// against a local TLS server whose certificate comes from a throwaway trustme CA."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
import trustme
from websockets.asyncio.server import ServerConnection

import tickwire
from servers import WsServer

QUICK = 10.0


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture(scope="module")
def tls_server(ca: trustme.CA):  # type: ignore[no-untyped-def]
    with WsServer(_echo, ssl=_server_context(ca, "localhost", "127.0.0.1")) as server:
        yield server


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_wss_with_ca_file_echoes(tls_server: WsServer, ca_file: str, host: str) -> None:
    url = f"wss://{host}:{tls_server.port}/"
    async with asyncio.timeout(QUICK):
        async with await tickwire.connect(url, ca_file=ca_file) as conn:
            assert conn.state is tickwire.State.CONNECTED
            await conn.send("over tls")
            assert await conn.recv() == "over tls"
            await conn.send(b"\x00tls\xff")
            assert await conn.recv() == b"\x00tls\xff"
        assert conn.close_code == 1000


def _check_tls_error(exc: tickwire.TlsError, url: str) -> None:
    assert isinstance(exc, tickwire.NetworkError)
    assert isinstance(exc, ConnectionError)
    assert isinstance(exc, tickwire.TickwireError)
    assert exc.url == url
    assert url in str(exc), str(exc)


async def test_wss_without_ca_file_is_tls_error(tls_server: WsServer) -> None:
    async with asyncio.timeout(QUICK):
        with pytest.raises(tickwire.TlsError) as info:
            await tickwire.connect(tls_server.url, open_timeout=30)
    _check_tls_error(info.value, tls_server.url)


async def test_wss_name_mismatch_is_tls_error(ca: trustme.CA, ca_file: str) -> None:
    context = _server_context(ca, "somewhere-else.test")
    async with WsServer(_echo, ssl=context) as server:
        async with asyncio.timeout(QUICK):
            with pytest.raises(tickwire.TlsError) as info:
                await tickwire.connect(server.url, ca_file=ca_file, open_timeout=30)
    _check_tls_error(info.value, server.url)


async def test_unreadable_ca_file_is_tls_error(tls_server: WsServer, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-ca.pem")
    async with asyncio.timeout(QUICK):
        with pytest.raises(tickwire.TlsError) as info:
            await tickwire.connect(tls_server.url, ca_file=missing, open_timeout=30)
    _check_tls_error(info.value, tls_server.url)


async def test_wss_to_plain_server_is_tls_error(echo_server: WsServer) -> None:
    url = f"wss://127.0.0.1:{echo_server.port}/"
    async with asyncio.timeout(QUICK):
        with pytest.raises(tickwire.TlsError) as info:
            await tickwire.connect(url, open_timeout=30)
    _check_tls_error(info.value, url)
