"""Sending and receiving messages through an echo server: volume, order, types, sizes, stats."""

from __future__ import annotations

import asyncio

import pytest

import tickwire
from servers import WsServer

MessageT = str | bytes


def _payload_len(message: MessageT) -> int:
    return len(message.encode("utf-8")) if isinstance(message, str) else len(message)


def _message(i: int) -> MessageT:
    """The i-th message of the volume test: text on even i, binary on odd i.

    Sizes vary, text carries multi-byte characters, and every 10,000th message is ~100 KiB so
    that messages cross read-buffer boundaries.
    """
    big = i % 10_000 == 5_000 or i % 10_000 == 5_001
    if i % 2 == 0:
        filler = "é€😀"[i % 3] * (i % 40)
        return f"t{i}:{filler}" + ("x" * 100_000 if big else "")
    head = i.to_bytes(4, "big")
    return head + bytes((i + k) & 0xFF for k in range(i % 37)) + (b"\x00" * 100_000 if big else b"")


@pytest.mark.timeout(120)
async def test_100k_messages_text_and_binary_in_order(echo_server: WsServer) -> None:
    count = 100_000
    messages = [_message(i) for i in range(count)]
    assert sum(isinstance(m, str) for m in messages) == count // 2

    async with asyncio.timeout(90):
        async with await tickwire.connect(echo_server.url) as conn:

            async def sender() -> None:
                for message in messages:
                    await conn.send(message)

            async def receiver() -> None:
                for i, expected in enumerate(messages):
                    got = await conn.recv()
                    if type(got) is not type(expected) or got != expected:
                        pytest.fail(
                            f"message {i}: expected {type(expected).__name__} "
                            f"{expected[:60]!r}…, got {type(got).__name__} {got[:60]!r}…"
                        )

            async with asyncio.TaskGroup() as tasks:  # a failure cancels the other side
                tasks.create_task(sender())
                tasks.create_task(receiver())
            stats = conn.stats()

    payload_bytes = sum(_payload_len(m) for m in messages)
    assert stats["messages_out"] == count
    assert stats["messages_in"] == count
    assert stats["bytes_out"] == payload_bytes
    assert stats["bytes_in"] == payload_bytes
    assert stats["queue_len"] == 0
    assert stats["callback_errors"] == 0


@pytest.mark.parametrize(
    "message",
    [
        "",
        b"",
        "a",
        b"\x00",
        "ünïcödé ✓ 漢字 😀",
        "x" * 125,
        "x" * 126,  # 16-bit length
        b"\xff" * 65_535,
        b"\xfe" * 65_536,  # 64-bit length
        "€" * (1 << 19),  # 1.5 MiB of 3-byte characters
        bytes(range(256)) * 4096,  # 1 MiB
    ],
    ids=lambda m: f"{type(m).__name__}-{len(m)}",
)
async def test_echo_sizes_and_types(echo_server: WsServer, message: MessageT) -> None:
    async with asyncio.timeout(20):
        async with await tickwire.connect(echo_server.url) as conn:
            await conn.send(message)
            got = await conn.recv()
    assert type(got) is type(message)
    assert got == message


async def test_bytes_like_are_sent_as_binary(echo_server: WsServer) -> None:
    async with asyncio.timeout(10):
        async with await tickwire.connect(echo_server.url) as conn:
            await conn.send(bytearray(b"ba"))
            await conn.send(memoryview(b"xmvx")[1:3])
            await conn.send("str")
            assert await conn.recv() == b"ba"
            assert await conn.recv() == b"mv"
            assert await conn.recv() == "str"
            for bad in (123, None, ["list"], 1.5):
                with pytest.raises(TypeError):
                    await conn.send(bad)  # type: ignore[arg-type]
            # A rejected send does not disturb the connection.
            await conn.send("still fine")
            assert await conn.recv() == "still fine"
            assert conn.stats()["messages_out"] == 4


async def test_second_concurrent_recv_is_refused(echo_server: WsServer) -> None:
    async with asyncio.timeout(10):
        async with await tickwire.connect(echo_server.url) as conn:
            first = asyncio.create_task(conn.recv())
            await asyncio.sleep(0)  # Let the task start and park in recv().
            assert not first.done()
            with pytest.raises(RuntimeError):
                await conn.recv()
            await conn.send("one")
            assert await first == "one"
            # Once the first waiter is gone, recv() works again.
            await conn.send("two")
            assert await conn.recv() == "two"


async def test_stats_counts_messages_and_bytes(echo_server: WsServer) -> None:
    messages: list[MessageT] = ["abc", b"\x01\x02", "é", b""]
    async with asyncio.timeout(10):
        async with await tickwire.connect(echo_server.url) as conn:
            before = conn.stats()
            assert before["messages_in"] == before["messages_out"] == 0
            assert before["bytes_in"] == before["bytes_out"] == 0
            assert before["state"] == "connected"
            assert before["last_message_ns"] is None
            assert before["connect_time_ns"] > 0
            for message in messages:
                await conn.send(message)
            for message in messages:
                assert await conn.recv() == message
            after = conn.stats()
    assert after["messages_out"] == after["messages_in"] == 4
    # "é" is 2 bytes of UTF-8: 3 + 2 + 2 + 0.
    assert after["bytes_out"] == after["bytes_in"] == 7
    assert after["last_message_ns"] is not None
    assert after["last_message_ns"] >= after["connected_at_ns"]
