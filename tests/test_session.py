"""Reconnecting sessions from Python: resubscription after the server goes away, the state
events in order with the messages, giving up on a refused upgrade, and stale detection."""

from __future__ import annotations

import asyncio
import socket
import time
from http import HTTPStatus

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

import tickwire

from servers import RawServer, WsServer, raw_handshake

FAST = tickwire.ReconnectPolicy(initial_delay=0.05, max_delay=0.4, jitter=0.0, handshake_4xx_attempts=2)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _subscription_server(port: int, subscriptions: list[str]) -> WsServer:
    """Records each connection's first message, then sends "data-1", "data-2" … every 20 ms."""

    async def handler(ws: ServerConnection) -> None:
        subscriptions.append(str(await ws.recv()))
        for n in range(1, 1_000):
            await ws.send(f"data-{n}")
            await asyncio.sleep(0.02)

    return WsServer(handler, port=port)


async def test_a_session_reconnects_and_resubscribes_after_the_server_goes_away() -> None:
    port = _free_port()
    subscriptions: list[str] = []
    events: list[tickwire.SessionEvent] = []
    stream: list[str | bytes | str] = []

    async with asyncio.timeout(20):
        server = _subscription_server(port, subscriptions)
        await server.__aenter__()
        session = tickwire.open_session(f"ws://127.0.0.1:{port}/", on_connect=["subscribe"], reconnect=FAST)

        def on_state(event: tickwire.SessionEvent) -> None:
            events.append(event)
            stream.append(f"<{event.event}>")

        session.on_state(on_state)
        session.on_message(stream.append)
        await session.wait_connected()
        while "data-2" not in stream:
            await asyncio.sleep(0.01)

        await server.__aexit__(None, None, None)  # closes its connections with 1001
        gone_at = time.monotonic()
        await asyncio.sleep(0.3)  # down for a few attempts
        server = _subscription_server(port, subscriptions)
        await server.__aenter__()
        while stream.count("data-2") < 2:
            await asyncio.sleep(0.01)
        recovered_in = time.monotonic() - gone_at
        stats = session.stats()
        await session.close()
        await server.__aexit__(None, None, None)

    assert subscriptions == ["subscribe", "subscribe"]
    names = [event.event for event in events]
    assert names[:2] == ["connecting", "connected"]
    assert names[2] == "disconnected" and events[2].code == 1001
    assert names[3] == "reconnecting" and events[3].delay == 0.0, events[3]
    assert "connect_failed" in names
    delays = [event.delay for event in events if event.event == "reconnecting"]
    assert delays[:3] == [0.0, 0.05, 0.1], delays
    assert names[-2:] == ["disconnected", "closed"]
    # The events sit between the last message of the old connection and the first of the new.
    first_drop = stream.index("<disconnected>")
    reconnected = stream.index("<connected>", first_drop)
    assert all(isinstance(item, str) and item.startswith("<") for item in stream[first_drop:reconnected + 1])
    assert stream[reconnected + 1] == "data-1"
    assert stats["connected"] and stats["reconnects"] >= 3
    assert 0.3 <= recovered_in < 5


async def test_a_refused_upgrade_makes_the_session_give_up() -> None:
    def reject(ws: ServerConnection, request: Request) -> Response:
        return ws.respond(HTTPStatus.FORBIDDEN, "no\n")

    async def never(ws: ServerConnection) -> None:
        raise AssertionError("no connection should be accepted")

    async with WsServer(never, process_request=reject) as server, asyncio.timeout(10):
        session = tickwire.open_session(server.url, reconnect=FAST)
        events: list[tickwire.SessionEvent] = []
        session.on_state(events.append)
        with pytest.raises(tickwire.ConnectionClosed) as ended:
            await session.recv()
    gave_up = events[-1]
    assert gave_up.event == "gave_up" and "403" in gave_up.message
    assert [e.event for e in events].count("connect_failed") == 2
    assert "gave up" in ended.value.reason and "403" in ended.value.reason
    assert session.state == "gave_up"


async def test_a_stale_connection_is_replaced() -> None:
    accepted = 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await raw_handshake(reader, writer)
        await asyncio.sleep(30)  # never answers pings, never sends

    async with RawServer(silent) as server, asyncio.timeout(10):
        session = tickwire.open_session(server.url, reconnect=FAST, ping_interval=0.05, stale_timeout=0.3)
        events: list[tickwire.SessionEvent] = []
        session.on_state(events.append)
        session.on_message(lambda message: None)
        while [e.event for e in events].count("connected") < 2:
            await asyncio.sleep(0.01)
        await session.close()
    dropped = next(e for e in events if e.event == "disconnected")
    assert dropped.code == 1006 and "stale" in (dropped.reason or "")
    assert accepted >= 2
