"""A local WebSocket "firehose" server for ``benches/compare.py`` that cannot be the bottleneck.

It is a plain asyncio protocol (uvloop when available) that performs the RFC 6455 opening
handshake itself, never negotiates an extension, and writes pre-encoded, unmasked server frames
holding Binance-shaped trade JSON. What it sends is chosen by the request path:

``/bulk?n=N``
    After the client's first data frame ("go"), N trade frames as fast as TCP takes them, then
    the sentinel ``END <server cpu ns> <server wall ns>``. The frames are written from one big
    pre-built buffer, so the server spends a few nanoseconds of CPU per message.
``/paced?n=N&rate=R``
    After "go", N trade frames at R messages/s in ~1 ms ticks, each written on its own with the
    server's ``time.monotonic_ns()`` patched into its payload just before the write, then
    ``END``. CLOCK_MONOTONIC is system-wide, so the client can subtract it from its own clock.
``/echo``
    Every data frame the client sends comes back unmasked, with the same opcode.

Whatever the mode, pings are answered with pongs and a close frame with a close frame. The
connection stays open after the sentinel until the client closes it.

Run on its own for manual testing: ``python benches/firehose.py --port 8765 --cpu 0``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "SENTINEL_MAX_LEN",
    "TIMESTAMP_SLICE",
    "Burst",
    "build_burst",
    "encode_frame",
    "pin_to_cpu",
    "serve_in_process",
    "trade_payload",
]

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HANDSHAKE = 16 * 1024
# Control frames and small echo messages only: nothing a benchmark client sends is bigger.
_MAX_CLIENT_FRAME = 1024 * 1024

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

#: Every trade payload is longer than this and every sentinel shorter, so a client tells them
#: apart with ``len(msg)``, which costs the same for ``str`` and ``bytes``.
SENTINEL_MAX_LEN = 64
#: Where the 19 send-time digits sit in a paced payload: ``msg[TIMESTAMP_SLICE]``, counted from
#: the end (``...,"ts":"0000001234567890123"}``) so it holds for str and bytes alike.
TIMESTAMP_SLICE = slice(-21, -2)
_TS_DIGITS = 19
_TS_PLACEHOLDER = b"0" * _TS_DIGITS

# Distinct payloads in the pool; the bulk buffer cycles through them.
_POOL_SIZE = 256
# Frames per bulk buffer: ~180 KB, so one write hands the kernel ~1000 messages.
_BURST_FRAMES = 1024
_WRITE_HIGH_WATER = 4 * 1024 * 1024
_PACED_TICK_S = 0.001


def trade_payload(i: int, *, with_timestamp: bool = False) -> bytes:
    """One Binance-style ``trade`` event; ``i`` varies the ids, price and quantity a little."""
    event_ms = 1_672_515_782_136 + i
    price = 16_848.51 + (i % 97) * 0.01
    qty = 0.001 * (1 + i % 13)
    body = (
        f'{{"e":"trade","E":{event_ms},"s":"BTCUSDT","t":{3_250_000_000 + i},'
        f'"p":"{price:.8f}","q":"{qty:.8f}","b":{88_000_000 + 2 * i},"a":{50_000_000 + 3 * i},'
        f'"T":{event_ms - 1},"m":{"true" if i % 2 else "false"},"M":true'
    ).encode()
    if with_timestamp:
        body += b',"ts":"' + _TS_PLACEHOLDER + b'"'
    return body + b"}"


def encode_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """A final, unmasked server frame."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


@dataclass(frozen=True)
class Burst:
    """Many encoded frames back to back; ``offsets[k]`` is where frame ``k`` starts."""

    data: bytes
    offsets: tuple[int, ...]

    @property
    def frames(self) -> int:
        return len(self.offsets) - 1

    def prefix(self, frames: int) -> memoryview:
        """The first ``frames`` whole frames, without copying."""
        return memoryview(self.data)[: self.offsets[frames]]


def build_burst(frames: int = _BURST_FRAMES) -> Burst:
    pool = [encode_frame(trade_payload(i)) for i in range(_POOL_SIZE)]
    offsets = [0]
    for k in range(frames):
        offsets.append(offsets[-1] + len(pool[k % _POOL_SIZE]))
    return Burst(b"".join(pool[k % _POOL_SIZE] for k in range(frames)), tuple(offsets))


def build_paced_templates() -> list[tuple[bytearray, slice]]:
    """Frames whose timestamp digits are patched in place just before each write."""
    templates = []
    for i in range(_POOL_SIZE):
        frame = bytearray(encode_frame(trade_payload(i, with_timestamp=True)))
        end = len(frame) + TIMESTAMP_SLICE.stop
        templates.append((frame, slice(end - _TS_DIGITS, end)))
    return templates


def _accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())


def _unmask(payload: bytes, mask: bytes) -> bytes:
    # One big-int XOR instead of a per-byte Python loop.
    n = len(payload)
    if n == 0:
        return payload
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


class FirehoseProtocol(asyncio.Protocol):
    """One client connection: handshake, then the mode the request path asked for."""

    def __init__(self, burst: Burst, paced: list[tuple[bytearray, slice]]) -> None:
        self._burst = burst
        self._paced = paced
        self._transport: asyncio.Transport | None = None
        self._inbuf = bytearray()
        self._upgraded = False
        self._mode = ""
        self._params: dict[str, int] = {}
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transport is no asyncio.Transport subclass, but has the same methods.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Paced frames are small and must leave at once, not wait for the previous ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        self._inbuf += data
        if not self._upgraded:
            self._try_handshake()
        if self._upgraded:
            self._read_frames()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._writable.set()  # lets a waiting sender see _closed and stop
        if self._task is not None:
            self._task.cancel()

    # -- handshake --------------------------------------------------------------------------

    def _try_handshake(self) -> None:
        end = self._inbuf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._inbuf) > _MAX_HANDSHAKE:
                self._reject(b"431 Request Header Fields Too Large")
            return
        head = bytes(self._inbuf[:end]).decode("latin-1")
        del self._inbuf[: end + 4]
        request_line, *header_lines = head.split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        parts = request_line.split()
        key = headers.get("sec-websocket-key")
        if len(parts) != 3 or parts[0] != "GET" or key is None or "websocket" not in headers.get("upgrade", "").lower():
            self._reject(b"400 Bad Request")
            return
        url = urlsplit(parts[1])
        self._mode = url.path.strip("/")
        try:
            self._params = {k: int(v[-1]) for k, v in parse_qs(url.query).items()}
        except ValueError:
            self._reject(b"400 Bad Request")
            return
        if self._mode not in ("bulk", "paced", "echo"):
            self._reject(b"404 Not Found")
            return
        assert self._transport is not None
        self._transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + _accept_key(key.encode("latin-1")) + b"\r\n\r\n"
        )
        self._upgraded = True

    def _reject(self, status: bytes) -> None:
        assert self._transport is not None
        self._transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        self._transport.close()
        self._inbuf.clear()

    # -- client frames ----------------------------------------------------------------------

    def _read_frames(self) -> None:
        buf = self._inbuf
        while len(buf) >= 2 and not self._closed:
            b0, b1 = buf[0], buf[1]
            length = b1 & 0x7F
            pos = 2
            if length == 126:
                if len(buf) < 4:
                    return
                (length,) = struct.unpack_from("!H", buf, 2)
                pos = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                (length,) = struct.unpack_from("!Q", buf, 2)
                pos = 10
            if not b1 & 0x80 or length > _MAX_CLIENT_FRAME:
                # RFC 6455 §5.1: a server must fail a connection that sends unmasked frames.
                self._fail(1002 if not b1 & 0x80 else 1009)
                return
            if len(buf) < pos + 4 + length:
                return
            mask = bytes(buf[pos : pos + 4])
            payload = _unmask(bytes(buf[pos + 4 : pos + 4 + length]), mask)
            del buf[: pos + 4 + length]
            self._on_frame(b0, payload)

    def _on_frame(self, b0: int, payload: bytes) -> None:
        assert self._transport is not None
        opcode = b0 & 0x0F
        if opcode == OP_PING:
            self._transport.write(encode_frame(payload, OP_PONG))
        elif opcode == OP_CLOSE:
            self._transport.write(encode_frame(payload[:2], OP_CLOSE))
            self._transport.close()
            self._closed = True
        elif opcode in (OP_TEXT, OP_BINARY, OP_CONT):
            if self._mode == "echo":
                self._transport.write(self._echo_frame(b0, payload))
            elif self._task is None:
                self._task = asyncio.get_running_loop().create_task(self._stream())

    @staticmethod
    def _echo_frame(b0: int, payload: bytes) -> bytes:
        frame = bytearray(encode_frame(payload, b0 & 0x0F))
        # Same FIN bit and opcode, so a fragmented message comes back fragmented alike.
        frame[0] = b0 & 0x8F
        return bytes(frame)

    def _fail(self, code: int) -> None:
        assert self._transport is not None
        self._transport.write(encode_frame(struct.pack("!H", code), OP_CLOSE))
        self._transport.close()
        self._closed = True

    # -- server-to-client streams -----------------------------------------------------------

    async def _stream(self) -> None:
        try:
            if self._mode == "bulk":
                await self._stream_bulk(self._params.get("n", 0))
            else:
                await self._stream_paced(self._params.get("n", 0), self._params.get("rate", 10_000))
        except asyncio.CancelledError:
            pass

    async def _stream_bulk(self, n: int) -> None:
        transport = self._transport
        assert transport is not None
        burst = self._burst
        cpu0, wall0 = time.process_time_ns(), time.monotonic_ns()
        remaining = n
        while remaining > 0:  # bounded: every pass writes at least one frame or waits
            await self._writable.wait()
            if self._closed:
                return
            take = min(remaining, burst.frames)
            transport.write(burst.data if take == burst.frames else burst.prefix(take))
            remaining -= take
        cpu, wall = time.process_time_ns() - cpu0, time.monotonic_ns() - wall0
        transport.write(encode_frame(f"END {cpu} {wall}".encode()))

    async def _stream_paced(self, n: int, rate: int) -> None:
        transport = self._transport
        assert transport is not None
        templates = self._paced
        start = time.monotonic_ns()
        sent = 0
        while sent < n:  # bounded: ends after n frames, or when the connection is lost
            if self._closed:
                return
            due = min(n, (time.monotonic_ns() - start) * rate // 1_000_000_000 + 1)
            while sent < due:
                frame, digits = templates[sent % len(templates)]
                frame[digits] = b"%019d" % time.monotonic_ns()
                # bytes() because the transport may keep the object it is given.
                transport.write(bytes(frame))
                sent += 1
            await asyncio.sleep(_PACED_TICK_S)
        transport.write(encode_frame(b"END"))


def pin_to_cpu(cpu: int) -> None:
    """Pin every thread of this process (and so every later thread) to one CPU."""
    for tid in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(tid), {cpu})
    if os.sched_getaffinity(0) != {cpu}:
        raise RuntimeError(f"could not pin to CPU {cpu}")


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _serve(port: int, ready: Callable[[int], None], stop: asyncio.Future[None], lifetime: float) -> None:
    burst, paced = build_burst(), build_paced_templates()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FirehoseProtocol(burst, paced), "127.0.0.1", port, backlog=16)
    ready(server.sockets[0].getsockname()[1])
    try:
        await asyncio.wait_for(stop, lifetime)
    except asyncio.TimeoutError:
        pass
    finally:
        server.close()


def serve_in_process(conn: Any, cpu: int, lifetime: float = 3600.0) -> None:
    """Entry point of the server process: pins itself, reports ``("ready", port)`` on ``conn``.

    It stops when anything arrives on ``conn``, when ``conn`` is closed (the parent died), or
    after ``lifetime`` seconds, so an orphaned server cannot linger.
    """
    pin_to_cpu(cpu)
    loop = new_event_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def on_parent() -> None:
        loop.remove_reader(conn.fileno())
        if not stop.done():
            stop.set_result(None)

    loop.add_reader(conn.fileno(), on_parent)
    try:
        loop.run_until_complete(_serve(0, lambda port: conn.send(("ready", port)), stop, lifetime))
    finally:
        loop.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--lifetime", type=float, default=3600.0, help="seconds before exiting")
    args = parser.parse_args()
    if args.cpu is not None:
        pin_to_cpu(args.cpu)
    loop = new_event_loop()
    stop: asyncio.Future[None] = loop.create_future()
    ready = lambda port: print(f"firehose on ws://127.0.0.1:{port}/ (bulk?n=N | paced?n=N&rate=R | echo)", flush=True)  # noqa: E731
    try:
        loop.run_until_complete(_serve(args.port, ready, stop, args.lifetime))
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
