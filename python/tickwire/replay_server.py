"""A capture log served as a local venue: a :class:`~tickwire.Feed` runs against recorded
frames as it would against the venue, deterministically (``tickwire replay FILE --serve``).

The server answers the feed's requests as the venue would (:mod:`tickwire.venue_replies`) and,
from the connection's first subscribe request on, sends the recorded frames (without the answers
the recorder got) at the recorded pace, ``speed`` times faster, or as fast as the client reads.
Where the recorded connection was lost, it closes the feed's connection (1011); the feed
reconnects, subscribes again, and gets the frames of the next recorded connection. A REST book
snapshot request (Binance's ``GET /api/v3/depth``) is answered with the snapshot recorded for
that symbol at this point of the log, so a Binance book syncs as it did while recording.

Frames go to one client at a time, in log order: a second client waits until the first has
gone. The log is read as it is played (only the snapshots are held in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import urllib.parse
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from types import TracebackType

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .exceptions import ParseError
from .recording import Record, Recording
from .venue_replies import VenueReplies, venue_replies
from .venues import parse

__all__ = ["ReplayServer"]

logger = logging.getLogger(__name__)


class ReplayServer:
    """Serves the capture log at ``path`` as a local venue endpoint.

    Use it as an async context manager, or call :meth:`start` and :meth:`stop`::

        async with tickwire.ReplayServer("btc.twrec", speed=None) as venue:
            async with tickwire.Feed(urls=venue.urls()) as feed:
                feed.subscribe("binance", ["BTC/USDT"], ["trades", "book"])
                await venue.finished.wait()

    Args:
        path: The capture log (written by :class:`~tickwire.Recorder` or ``tickwire record``).
        speed: ``None`` (default): as fast as the client reads; ``1``: the recorded pace;
            ``10``: ten times faster.
        host: The address to listen on (default loopback).
        port: The port (default ``0``: any free one).

    Attributes:
        recording: The log (its ``header`` says venue, endpoint and subscriptions).
        finished: Set once every record of the log has been played.
        frames_sent: Recorded frames sent so far.
        connections: Client connections accepted so far.

    Raises:
        OSError: The file cannot be read.
        RecordingError: The file is no capture log.
        ValueError: ``speed`` is not above 0, or the log is of a venue whose answers the server
            does not know (a venue of your own written in Python).
    """

    def __init__(self, path: str | Path, *, speed: float | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be above 0 or None (as fast as possible), not {speed!r}")
        self.recording = Recording(path)
        venue_replies(self.recording.header.venue)  # a venue it cannot answer as: refused now
        self.speed = speed
        self.finished = asyncio.Event()
        self.frames_sent = 0
        self.connections = 0
        self._host, self._port = host, port
        self._server: Server | None = None
        self._records: Iterator[tuple[int, Record]] = enumerate(self.recording.records())
        #: The log's position: the index of the next record to play.
        self._position = 0
        #: Recorded snapshots by symbol: (record index, REST body), in log order.
        self._snapshots: dict[str, list[tuple[int, str]]] = {}
        self._one_client = asyncio.Lock()

    @property
    def url(self) -> str:
        """The WebSocket URL of the served endpoint (with the venue's path)."""
        if self._server is None:
            raise RuntimeError("the replay server is not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        path = urllib.parse.urlsplit(self.recording.header.url).path or "/"
        return f"ws://{host}:{port}{path}"

    def urls(self) -> dict[str, str]:
        """``{endpoint: url}``, for :class:`~tickwire.Feed`'s ``urls``."""
        return {self.recording.header.endpoint: self.url}

    async def start(self) -> ReplayServer:
        """Index the log's snapshots and start listening.

        Raises:
            OSError: The port cannot be bound, or the file read.
            RecordingError: The log is damaged.
        """
        # A pass over the whole log: off the loop, so other tasks run meanwhile.
        self._snapshots = await asyncio.to_thread(self._index_snapshots)
        self._server = await serve(
            self._serve_client,
            self._host,
            self._port,
            process_request=self._http,
            compression=None,
            max_size=1 << 20,
        )
        return self

    def _index_snapshots(self) -> dict[str, list[tuple[int, str]]]:
        """The log's REST snapshots by symbol, each with its record's index."""
        snapshots: dict[str, list[tuple[int, str]]] = {}
        for index, record in enumerate(self.recording.records()):
            if record.kind == "snapshot":
                fields = json.loads(record.data)
                if "body" in fields:
                    snapshots.setdefault(fields["symbol"], []).append((index, fields["body"]))
        return snapshots

    async def stop(self) -> None:
        """Close every connection and stop listening. Idempotent."""
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            await server.wait_closed()

    async def __aenter__(self) -> ReplayServer:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()

    # ---- REST snapshots -------------------------------------------------------------------

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answers a plain GET of a book snapshot; lets WebSocket upgrades through."""
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        parts = urllib.parse.urlsplit(request.path)
        if parts.path != "/api/v3/depth":
            return connection.respond(HTTPStatus.NOT_FOUND, f"no such path in a replay: {parts.path}\n")
        native = urllib.parse.parse_qs(parts.query).get("symbol", [""])[0]
        body = self._snapshot_for(native)
        if body is None:
            return connection.respond(HTTPStatus.NOT_FOUND, f'{{"code":-1121,"msg":"no recorded snapshot of {native}"}}')
        return connection.respond(HTTPStatus.OK, body)

    def _snapshot_for(self, native: str) -> str | None:
        """The recorded snapshot of the symbol ``native`` names that is next in the log (the one
        the recorder fetched at this point of the stream), else the last one."""
        for symbol, snapshots in self._snapshots.items():
            if symbol.replace("/", "").upper() == native.upper():
                ahead = [body for index, body in snapshots if index >= self._position]
                return ahead[0] if ahead else snapshots[-1][1]
        return None

    # ---- playback -------------------------------------------------------------------------

    async def _serve_client(self, client: ServerConnection) -> None:
        async with self._one_client:
            self.connections += 1
            replies = venue_replies(self.recording.header.venue)
            outgoing: asyncio.Queue[str | bytes] = asyncio.Queue()
            answered = asyncio.Event()
            writer = asyncio.create_task(self._write(client, outgoing))
            player = asyncio.create_task(self._play(client, replies, outgoing, answered))
            try:
                async for message in client:
                    before = replies.subscription_answers
                    for answer in replies.answer(message):
                        outgoing.put_nowait(answer)
                    if replies.subscription_answers > before:
                        answered.set()
            except ConnectionClosed:
                pass
            finally:
                player.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await player
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer

    async def _write(self, client: ServerConnection, outgoing: asyncio.Queue[str | bytes]) -> None:
        """The connection's one writer: answers and frames leave in the order queued."""
        while True:
            frame = await outgoing.get()
            try:
                await client.send(frame)
            except ConnectionClosed:
                return
            finally:
                outgoing.task_done()

    def _lead(self, replies: VenueReplies) -> tuple[list[Record], int]:
        """The records up to this connection's first market data, and how many of them are
        answers to the recorder's requests."""
        lead: list[Record] = []
        answers = 0
        header = self.recording.header
        for index, record in self._records:
            self._position = index + 1
            lead.append(record)
            if record.kind != "frame":
                if record.kind == "session" and json.loads(record.data).get("event") == "disconnected":
                    break
                continue
            if replies.is_answer(record.data):
                answers += 1
                continue
            with contextlib.suppress(ParseError):
                if parse(header.venue, record.data, header.kind):
                    break
        return lead, answers

    async def _play(
        self,
        client: ServerConnection,
        replies: VenueReplies,
        outgoing: asyncio.Queue[str | bytes],
        answered: asyncio.Event,
    ) -> None:
        """This connection's part of the log: from its subscriptions to the next recorded
        disconnect (or the log's end).

        The recorded market data starts once the client has had as many answers to its
        subscribe requests as the recorder had before its first market data (the client asked
        for what the recorder did), or once its requests have paused for
        :data:`REQUESTS_SETTLED` seconds: market data sent before a request would be dropped
        by the client as not asked for."""
        await answered.wait()
        lead, answers_needed = self._lead(replies)
        while replies.subscription_answers < answers_needed:
            answered.clear()
            try:
                await asyncio.wait_for(answered.wait(), REQUESTS_SETTLED)
            except TimeoutError:
                break
        loop = asyncio.get_running_loop()
        started = loop.time()
        first_ns: int | None = None
        records = itertools.chain(lead, (record for index, record in self._advance()))
        for record in records:
            if record.kind == "session":
                if json.loads(record.data).get("event") == "disconnected" and first_ns is not None:
                    await outgoing.join()
                    await client.close(1011, "the recorded connection was lost here")
                    return
                continue
            if record.kind != "frame":
                continue
            if replies.is_answer(record.data):
                replies.skipped(record.data)
                continue
            if first_ns is None:
                first_ns = record.receive_time_ns
            if self.speed is not None:
                delay = started + (record.receive_time_ns - first_ns) / 1e9 / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            outgoing.put_nowait(replies.outgoing(record.data))
            self.frames_sent += 1
            if outgoing.qsize() > OUTGOING_LIMIT:
                await outgoing.join()  # as fast as the client reads, not faster
        await outgoing.join()
        self.finished.set()

    def _advance(self) -> Iterator[tuple[int, Record]]:
        """The rest of the log, keeping :attr:`_position` (which snapshot is next) current."""
        for index, record in self._records:
            self._position = index + 1
            yield index, record


#: Seconds without a new subscribe request after which playback starts anyway.
REQUESTS_SETTLED = 1.0
#: Frames queued for a connection before playback waits for them to be written.
OUTGOING_LIMIT = 256
