"""A program that ends right after its feed stops exits cleanly, with the venue in another
process (the case where the last awaitable's result was still being handed to the loop by the
I/O thread when the interpreter began to finalize, which aborted the process about half the
time)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent(
    """
    import asyncio, sys, tickwire

    async def main() -> None:
        feed = tickwire.Feed(urls={"binance": sys.argv[1]})
        feed.subscribe("binance", ["BTC/USDT"], ["trades"])
        async with feed:
            await asyncio.sleep(0.5)

    asyncio.run(main())
    """
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_feed_program_exits_cleanly_right_after_its_last_awaitable() -> None:
    port = free_port()
    simulator = subprocess.Popen(
        [sys.executable, "-m", "tickwire", "simulate", "--venues", "binance", "--port-base", str(port), "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert simulator.stdout is not None
        while "ws://" not in (line := simulator.stdout.readline()):
            assert line, "the simulator ended before serving"
        url = f"ws://127.0.0.1:{port}/stream"
        codes = [
            subprocess.run([sys.executable, "-c", PROGRAM, url], capture_output=True, timeout=60, check=False).returncode
            for _ in range(8)
        ]
        assert codes == [0] * 8, codes
    finally:
        simulator.kill()
        simulator.wait(timeout=10)
        if simulator.stdout is not None:
            simulator.stdout.close()
