"""Opening and closing connections leaves nothing behind: no file descriptor, no read buffer,
no I/O task. (An open connection, like an asyncio transport, stays open while its event loop
watches it, referenced or not, until either side closes it.)"""

from __future__ import annotations

import asyncio
import gc
import resource

import pytest
from websockets.asyncio.server import ServerConnection

import tickwire

from process_usage import open_fds, rss_kib
from servers import WsServer

CYCLES = 1_000


async def _greet(ws: ServerConnection) -> None:
    await ws.send("hi")
    async for message in ws:
        await ws.send(message)


@pytest.mark.timeout(180)
async def test_a_thousand_connect_close_cycles_leak_nothing() -> None:
    async with WsServer(_greet) as server, asyncio.timeout(150):

        async def cycle(i: int) -> None:
            conn = await tickwire.connect(server.url)
            assert await conn.recv() == "hi"
            await conn.send(f"m{i}")
            assert await conn.recv() == f"m{i}"
            await conn.close()

        for i in range(50):  # warm-up: the runtime, allocator pools and the server settle
            await cycle(i)
        gc.collect()
        fds, rss = open_fds(), rss_kib()
        for i in range(CYCLES):
            await cycle(i)
        gc.collect()
        await asyncio.sleep(0.2)  # let the server side finish its closes
        fds_after, rss_after = open_fds(), rss_kib()

    assert fds_after - fds <= 2, f"{fds} fds before, {fds_after} after {CYCLES} cycles"
    # Each connection holds a 256 KiB read buffer while open; 1,000 leaked ones would be 250 MiB.
    assert rss_after - rss < 16 * 1024, f"RSS grew from {rss} KiB to {rss_after} KiB"
    print(f"{CYCLES} cycles: fds {fds} -> {fds_after}, RSS {rss} -> {rss_after} KiB, "
          f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} KiB")
