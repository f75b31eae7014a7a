"""A small tickwire program, type-checked with ``mypy --strict`` in ``make lint``.

Connects to a WebSocket, reads a few messages with ``recv()``, then switches to a callback
and counts what arrives until the server closes.
"""

from __future__ import annotations

import asyncio
import sys

import tickwire


async def run(url: str, messages: int) -> int:
    """Read ``messages`` messages from ``url``; return how many arrived in total."""
    count = 0

    def on_message(message: str | bytes) -> None:
        nonlocal count
        count += 1

    try:
        async with await tickwire.connect(url, open_timeout=5.0, max_queue=10_000) as conn:
            await conn.send('{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}')
            for _ in range(messages):
                first = await conn.recv()
                count += 1
                print(first if isinstance(first, str) else first.hex())
            conn.on_message(on_message)
            await asyncio.wait_for(conn.wait_closed(), timeout=10.0)
            stats = conn.stats()
            print(f"{stats['messages_in']} messages, state {conn.state.value}, code {conn.close_code}")
    except tickwire.HandshakeError as error:
        print(f"rejected with HTTP {error.status}: {error}", file=sys.stderr)
    except tickwire.ConnectionClosed as error:
        print(f"closed with {error.code} {error.reason!r}", file=sys.stderr)
    except (tickwire.NetworkError, tickwire.TickwireTimeoutError) as error:
        print(f"cannot reach {error.url}: {error}", file=sys.stderr)
    return count


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], 3))
