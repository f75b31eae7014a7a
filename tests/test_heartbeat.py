"""Heartbeats: pings sent on an interval with their round trip measured, and a connection that
receives nothing at all for ``stale_timeout`` dropped as stale, except while tickwire itself is
not reading because its queue to Python is full."""

from __future__ import annotations

import asyncio
import time

import pytest

import tickwire

from servers import OP_TEXT, RawServer, WsServer, frame, raw_handshake


async def _echo(ws: object) -> None:
    async for message in ws:  # type: ignore[attr-defined]
        await ws.send(message)  # type: ignore[attr-defined]


async def test_pings_are_sent_and_their_round_trip_measured() -> None:
    async with WsServer(_echo) as server, asyncio.timeout(10):
        async with await tickwire.connect(server.url, ping_interval=0.05) as conn:
            while conn.stats()["pongs_received"] < 3:
                await asyncio.sleep(0.02)
            stats = conn.stats()
    assert stats["pings_sent"] >= stats["pongs_received"] >= 3
    assert stats["ping_rtt_ns"] is not None and 0 < stats["ping_rtt_ns"] < 5_000_000_000
    assert stats["last_pong_ns"] is not None and stats["last_pong_ns"] <= time.monotonic_ns()


def _silent_server(messages: int = 0) -> RawServer:
    """Accepts, sends ``messages`` text frames, then neither sends nor reads anything again
    (so pings go unanswered) while keeping TCP open."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_handshake(reader, writer)
        writer.write(b"".join(frame(OP_TEXT, str(i).encode()) for i in range(messages)))
        await writer.drain()
        await asyncio.sleep(30)

    return RawServer(handler)


async def test_a_silent_peer_is_dropped_as_stale() -> None:
    async with _silent_server() as server, asyncio.timeout(10):
        conn = await tickwire.connect(server.url, ping_interval=0.05, stale_timeout=0.4)
        started = time.monotonic()
        with pytest.raises(tickwire.ConnectionClosed) as closed:
            await conn.recv()
        noticed_after = time.monotonic() - started
    assert closed.value.code == 1006
    assert "stale" in closed.value.reason
    assert conn.state is tickwire.State.ERROR
    assert noticed_after >= 0.4
    assert conn.stats()["pings_sent"] >= 1


async def test_a_full_queue_is_not_mistaken_for_a_stale_peer() -> None:
    count = 2_000
    async with _silent_server(count) as server, asyncio.timeout(20):
        conn = await tickwire.connect(server.url, max_queue=10, ping_interval=0.05, stale_timeout=0.3)
        time.sleep(1.0)  # Python falls behind for over three stale timeouts: the reader pauses
        received = []
        with pytest.raises(tickwire.ConnectionClosed) as closed:
            while True:
                received.append(await conn.recv())
    assert received == [str(i) for i in range(count)]
    assert conn.stats()["queue_full_events"] > 0
    assert "stale" in closed.value.reason
