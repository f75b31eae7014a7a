"""Capture logs: record a venue's raw frames to a file, and replay them as events.

A :class:`Recorder` keeps one reconnecting session to one venue endpoint, subscribes on every
(re)connection, and appends every text and binary frame it receives (acks and heartbeats
included) to a compressed, append-only log with its receive time, together with the session's
connects and disconnects and, for venues whose books start from a REST snapshot (Binance), each
snapshot fetched after a (re)connection. :func:`replay` reads the log
back through the venue's parser (:func:`tickwire.parse`) and yields the market events again, at
the recorded pace or faster; :class:`Recording` reads the header and the raw records.

The file, format version 2 (version 1, the same without session and REST records, is read
too)::

    magic      8 bytes   b"\\x89TWR\\r\\n\\x1a\\n"
    version    u16 LE    1
    length     u32 LE    size of the header JSON
    header     JSON      venue, endpoint, kind, url, subscriptions [[symbol, channel], ...],
                         tickwire_version, started_at (ISO 8601, UTC), started_at_ns (Unix ns)
    batches    each: u32 LE length, then one zstd frame (with checksum) of that length, holding
               records: u64 LE receive time (time.monotonic_ns() clock of the recording
               process), u64 LE wall-clock receive time (Unix ns), u8 kind, u32 LE length,
               the bytes. Kinds: 0 a text frame (UTF-8); 1 a binary frame; 2 a session
               event, JSON {"event": "connected" | "disconnected", "message"}; 3 a REST
               book snapshot, JSON {"symbol", "url", "body"} or {"symbol", "url", "error"}

A batch is written whole and flushed (every ``flush_interval`` seconds, or every
``flush_records`` records), so a log cut short by a crash reads up to its last whole record:
the complete batches, and whatever whole records the zstd blocks of a torn last batch still
give. Such a log is *truncated*: :attr:`Recording.truncated` says so once read, and
:func:`replay` logs a warning. Garbage where a batch should be, or a file that is no capture
log, raises :class:`RecordingError`.

The receive time is when the batch of frames holding the frame was handed to Python (the same
moment a feed's Python venue stamps); replayed events carry it as ``receive_time_ns``, so a
replay gives equal events every time.

:class:`~tickwire.ReplayServer` (``tickwire replay --serve``) serves a log as a local venue, so
a :class:`~tickwire.Feed` runs against the recorded frames: it answers the feed's requests as
the venue would, sends the recorded frames at the recorded pace (or faster), closes the
connection where the recorded one was lost, and answers the REST snapshot request with the
recorded snapshot.
"""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import logging
import struct
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal, Unpack

import msgspec
import zstandard

from . import _core
from ._core import BBO, BookUpdate, Ticker, Trade
from .client import ConnectOptions
from .events import CHANNELS, Balance, Channel, Fill, Order
from .exceptions import ConnectionClosed, ParseError
from .feed import _ENDPOINTS, SNAPSHOT_TIMEOUT, _endpoint_name, _http_get
from .venues import PythonVenue, registered_venue
from .venues.base import http_base
from .venues import parse as parse_message
from .session import ReconnectPolicy, Session, SessionEvent, StateCallback, open_session

__all__ = ["Event", "Record", "RecordKind", "Recorder", "Recording", "RecordingError", "RecordingHeader", "Replay", "replay"]

logger = logging.getLogger(__name__)

#: A market event a replay yields.
Event = Trade | BBO | BookUpdate | Ticker

MAGIC = b"\x89TWR\r\n\x1a\n"
FORMAT_VERSION = 2
#: The versions this tickwire reads.
_READABLE_VERSIONS = (1, 2)
_PREAMBLE = struct.Struct("<8sHI")
_BATCH_LENGTH = struct.Struct("<I")
_RECORD_HEAD = struct.Struct("<QQBI")
#: A record's kind, as the file stores it.
_TEXT, _BINARY, _SESSION, _SNAPSHOT = 0, 1, 2, 3
#: What a record holds: a frame as received, a session event, or a REST book snapshot.
RecordKind = Literal["frame", "session", "snapshot"]
_KIND_OF: dict[int, RecordKind] = {_TEXT: "frame", _BINARY: "frame", _SESSION: "session", _SNAPSHOT: "snapshot"}
#: Largest header or compressed batch a reader accepts: more is garbage, not a capture.
_MAX_CHUNK_BYTES = 256 * 1024 * 1024
_CHANNEL_OF: dict[type, Channel] = {Trade: "trades", BBO: "bbo", BookUpdate: "book", Ticker: "ticker"}


class RecordingError(ValueError):
    """A file that is no capture log, or one whose content is damaged (not merely cut short).

    Attributes:
        path: The file.
    """

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True, slots=True)
class Record:
    """One record of a log: a frame as received, a session event or a REST book snapshot.

    Attributes:
        receive_time_ns: When it was handed to Python, on the recording process's
            ``time.monotonic_ns()`` clock.
        wall_time_ns: The same moment on the wall clock, Unix ns.
        data: A frame: ``str`` for a text frame, ``bytes`` for a binary one. A session event
            or snapshot: its JSON text (see the module's format description).
        kind: ``"frame"``, ``"session"`` or ``"snapshot"``.
    """

    receive_time_ns: int
    wall_time_ns: int
    data: str | bytes
    kind: RecordKind = "frame"


@dataclass(frozen=True, slots=True)
class RecordingHeader:
    """What a capture log says about itself.

    Attributes:
        venue: The venue (``"binance"`` …, or a registered one such as ``"mexc"``).
        endpoint: The endpoint's name, as :class:`~tickwire.Feed` takes it in ``urls``
            (``"binance"``, ``"bybit-linear"`` …).
        kind: The instrument kind ``tickwire.parse`` takes for it (``"spot"``, ``"perpetual"``).
        url: The URL the frames came from.
        subscriptions: The (unified symbol, channel) pairs subscribed.
        tickwire_version: The version that wrote the log.
        started_at_ns: When recording started, Unix ns.
        format_version: The file format's version.
    """

    venue: str
    endpoint: str
    kind: str
    url: str
    subscriptions: tuple[tuple[str, Channel], ...]
    tickwire_version: str
    started_at_ns: int
    format_version: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        started = datetime.datetime.fromtimestamp(self.started_at_ns / 1e9, datetime.UTC)
        return json.dumps(
            {
                "venue": self.venue,
                "endpoint": self.endpoint,
                "kind": self.kind,
                "url": self.url,
                "subscriptions": [list(pair) for pair in self.subscriptions],
                "tickwire_version": self.tickwire_version,
                "started_at": started.isoformat(),
                "started_at_ns": self.started_at_ns,
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes, format_version: int) -> RecordingHeader:
        """Raises ``ValueError``, ``KeyError`` or ``TypeError`` on a header that is not one."""
        fields = json.loads(data)
        subscriptions = tuple((str(symbol), _channel(channel)) for symbol, channel in fields["subscriptions"])
        return cls(
            venue=str(fields["venue"]),
            endpoint=str(fields["endpoint"]),
            kind=str(fields["kind"]),
            url=str(fields["url"]),
            subscriptions=subscriptions,
            tickwire_version=str(fields["tickwire_version"]),
            started_at_ns=int(fields["started_at_ns"]),
            format_version=format_version,
        )


def _channel(name: object) -> Channel:
    if name not in CHANNELS:
        raise ValueError(f"unknown channel {name!r}")
    return name


# ---- the venue endpoint --------------------------------------------------------------------


class _Endpoint:
    """What recording and replay need of one venue endpoint: a built-in venue's (its Rust
    protocol) or a registered venue written in Python (its behaviours)."""

    def __init__(self, venue: str, endpoint: str, url: str | None) -> None:
        venue_class = registered_venue(venue)
        self.python: PythonVenue | None = None
        self.protocol: _core.VenueProtocol | None = None
        if venue_class is not None:
            self.python = venue_class(url=url)
            venue_class.name_in_core()
            self.venue, self.endpoint, self.kind = venue, venue, "spot"
            self.url = self.python.url
        else:
            self.protocol = _core.VenueProtocol(*_ENDPOINTS[endpoint])
            self.venue, self.endpoint, self.kind = self.protocol.name, endpoint, _ENDPOINTS[endpoint][1]
            self.url = url or self.protocol.url
        #: Where a built-in venue's REST snapshots come from: production, or a simulator's port.
        self._snapshot_base = http_base(url) if url else None

    @classmethod
    def of(cls, venue: str, symbols: Sequence[str], url: str | None) -> _Endpoint:
        """The endpoint serving ``symbols``; ``ValueError`` for an unknown venue or symbol."""
        endpoint = venue if registered_venue(venue) is not None else endpoint_of(venue, symbols)
        made = cls(venue, endpoint, url)
        for symbol in symbols:
            made.market_id(symbol)
        return made

    def market_id(self, symbol: str) -> int:
        if self.protocol is not None:
            return self.protocol.market_id(symbol)
        return _core.market_id(self.venue, symbol)

    def on_connect_messages(self, subscriptions: Sequence[tuple[str, Channel]]) -> list[str | bytes]:
        """The venue's own opening messages, then the subscribe requests in batches of the
        venue's size."""
        if self.protocol is not None:
            messages: list[str | bytes] = list(self.protocol.on_connect())
            size = self.protocol.max_per_request
        else:
            assert self.python is not None
            messages, size = [], self.python.batch_size
        for index in range(0, len(subscriptions), size):
            chunk = list(subscriptions[index : index + size])
            if self.protocol is not None:
                messages.extend(self.protocol.subscribe_request(index // size + 1, [(s, str(c)) for s, c in chunk]))
            else:
                assert self.python is not None
                built = self.python.subscribe_request(index // size + 1, chunk)
                messages.extend(built if isinstance(built, list) else [built])
        return messages

    def app_ping(self) -> tuple[float, str | bytes] | None:
        """(interval, message) of the venue's application ping, if it wants one."""
        if self.protocol is not None:
            interval, message = self.protocol.app_ping_interval, self.protocol.app_ping_message
            return None if interval is None or message is None else (interval, message)
        assert self.python is not None
        interval = self.python.app_ping_interval
        return None if interval is None else (interval, self.python.app_ping())

    def snapshot_url(self, symbol: str) -> str | None:
        if self.protocol is not None:
            return self.protocol.snapshot_url(symbol, self._snapshot_base)
        assert self.python is not None
        return self.python.snapshot_url(symbol) if self.python.book_sync == "rest_snapshot" else None

    def parse(self, raw: str | bytes, receive_time_ns: int | None = None) -> list[Any]:
        return parse_message(self.venue, raw, self.kind, receive_time_ns)

    def parse_snapshot(self, symbol: str, body: bytes, receive_time_ns: int) -> BookUpdate:
        if self.protocol is not None:
            return self.protocol.parse_snapshot(symbol, body, receive_time_ns)
        assert self.python is not None
        return self.python.parse_snapshot(symbol, body, receive_time_ns)


# ---- writing ------------------------------------------------------------------------------


class _LogWriter:
    """Appends batches of records to an open log; each batch is one zstd frame, flushed."""

    def __init__(self, file: BinaryIO, header: RecordingHeader, level: int) -> None:
        self._file = file
        self._compressor = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
        self._pending = io.BytesIO()
        self.pending_records = 0
        self.records = 0
        header_json = header.to_json()
        file.write(_PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header_json)) + header_json)
        file.flush()

    def add(self, receive_time_ns: int, wall_time_ns: int, data: str | bytes, kind: int | None = None) -> None:
        """Appends a frame (its kind from ``data``'s type) or, with ``kind``, another record."""
        raw, flags = (data.encode(), _TEXT) if isinstance(data, str) else (bytes(data), _BINARY)
        if kind is not None:
            flags = kind
        self._pending.write(_RECORD_HEAD.pack(receive_time_ns, wall_time_ns, flags, len(raw)))
        self._pending.write(raw)
        self.pending_records += 1

    def flush(self) -> None:
        """Writes the pending records as one batch and flushes it to the operating system."""
        if not self.pending_records:
            return
        frame = self._compressor.compress(self._pending.getvalue())
        self._file.write(_BATCH_LENGTH.pack(len(frame)) + frame)
        self._file.flush()
        self.records += self.pending_records
        self.pending_records = 0
        self._pending = io.BytesIO()


class Recorder:
    """Records one built-in venue endpoint's raw frames to a capture log.

    Use it as an async context manager, or call :meth:`start` and :meth:`close`::

        async with tickwire.Recorder("btc.twrec", "binance", ["BTC/USDT"], ["trades", "book"]):
            await asyncio.sleep(60)

    The session sends the venue's on-connect messages and the subscribe requests on every
    (re)connection, and the venue's application ping where it wants one.

    Args:
        path: The log to write (replaced if it exists).
        venue: A built-in venue (``"binance"``, ``"bybit"``, ``"okx"``, ``"coinbase"``,
            ``"kraken"``) or a registered venue written in Python (``"gateio"``, ``"mexc"``;
            its market-data channels).
        symbols: Unified symbols, all on one endpoint of the venue (Bybit serves spot and
            perpetuals on two: record them in two logs).
        channels: Channels of each symbol (default ``("trades",)``).
        url: The WebSocket URL (default: the endpoint's production URL).
        flush_interval: Seconds between batches written (default 0.1): at most this much is
            lost to a crash.
        flush_records: Records after which a batch is written even sooner (default 1000).
        compression_level: The zstd level (default 3).
        reconnect: The session's retry policy (default: :class:`ReconnectPolicy()`).
        **options: Connection options, as for :func:`tickwire.connect`.

    Raises:
        ValueError: An unknown venue, channel or symbol, no symbol, symbols on two endpoints,
            or an interval out of range.
    """

    def __init__(
        self,
        path: str | Path,
        venue: str,
        symbols: Iterable[str],
        channels: Iterable[Channel] = ("trades",),
        *,
        url: str | None = None,
        flush_interval: float = 0.1,
        flush_records: int = 1000,
        compression_level: int = 3,
        reconnect: ReconnectPolicy | None = None,
        **options: Unpack[ConnectOptions],
    ) -> None:
        self.path = Path(path)
        symbol_list = list(dict.fromkeys(symbols))
        channel_list = [_channel(channel) for channel in channels]
        if not channel_list:
            raise ValueError("no channel to record")
        self._endpoint = _Endpoint.of(venue, symbol_list, url)
        self.endpoint = self._endpoint.endpoint
        self.kind = self._endpoint.kind
        if not flush_interval > 0 or flush_records < 1:
            raise ValueError("flush_interval must be above 0 and flush_records at least 1")
        self.subscriptions = [(symbol, channel) for symbol in symbol_list for channel in channel_list]
        self.url = self._endpoint.url
        self._flush_interval = flush_interval
        self._flush_records = flush_records
        self._level = compression_level
        self._reconnect = reconnect
        self._options = options
        self._state_callbacks: list[StateCallback] = [self._log_state]
        self._closing = False
        self._records_written = 0
        self._file: BinaryIO | None = None
        self._writer: _LogWriter | None = None
        self._session: Session | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._snapshot_symbols = [
            symbol for symbol, channel in self.subscriptions
            if channel == "book" and self._endpoint.snapshot_url(symbol) is not None
        ]
        #: Book symbols of this connection whose snapshot is still to be fetched: each is
        #: fetched once its first update arrived, as a feed does.
        self._snapshots_due: set[str] = set()
        self._fetches: set[asyncio.Task[None]] = set()

    def on_connect_messages(self) -> list[str | bytes]:
        """What every connection sends first: the venue's own messages, then the subscribe
        requests (as many as the venue's per-request limit needs)."""
        return self._endpoint.on_connect_messages(self.subscriptions)

    def on_state(self, callback: StateCallback) -> None:
        """Call ``callback`` with every :class:`~tickwire.SessionEvent` of the session."""
        self._state_callbacks.append(callback)
        if self._session is not None:
            self._session.on_state(callback)

    @property
    def records(self) -> int:
        """Records written to the file so far."""
        return self._writer.records if self._writer is not None else self._records_written

    @property
    def is_connected(self) -> bool:
        """Whether a connection is open now."""
        return self._session is not None and self._session.is_connected

    async def start(self) -> Recorder:
        """Create the log, write its header and open the session (it connects in the background).

        Raises:
            OSError: The file cannot be created.
            RuntimeError: Already started.
        """
        if self._file is not None:
            raise RuntimeError("the recorder is already started")
        from . import __version__

        header = RecordingHeader(
            venue=self._endpoint.venue,
            endpoint=self.endpoint,
            kind=self.kind,
            url=self.url,
            subscriptions=tuple(self.subscriptions),
            tickwire_version=__version__,
            started_at_ns=time.time_ns(),
        )
        self._file = self.path.open("wb")
        self._writer = _LogWriter(self._file, header, self._level)
        self._session = open_session(
            self.url, on_connect=self.on_connect_messages(), reconnect=self._reconnect, **self._options
        )
        self._session.on_state(self._record_state)
        for callback in self._state_callbacks:
            self._session.on_state(callback)
        self._session.on_batch(self._on_batch)
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._flush_every_interval(), name="tickwire-record-flush"))
        if self._endpoint.app_ping() is not None:
            self._tasks.append(loop.create_task(self._ping(self._session), name="tickwire-record-ping"))
        return self

    async def wait_connected(self) -> None:
        """Wait until a connection is open and subscribed.

        Raises:
            ConnectionClosed: The session ended first.
            RuntimeError: Not started.
        """
        if self._session is None:
            raise RuntimeError("the recorder is not started")
        await self._session.wait_connected()

    def _log_state(self, event: SessionEvent) -> None:
        """Logs the session's state changes when nobody else takes them (as a session does)."""
        if len(self._state_callbacks) > 1:
            return
        quiet = self._closing or event.event in ("connecting", "connected")
        logger.log(logging.DEBUG if quiet else logging.WARNING, "%s: %s", self.url, event.message)

    def _record_state(self, event: SessionEvent) -> None:
        """Connects and disconnects go into the log (a replay server closes its client where
        the recorded connection was lost); a connect makes every book's snapshot due."""
        if self._writer is None or self._closing or event.event not in ("connected", "disconnected"):
            return  # the recorder's own close is no connection lost
        record = json.dumps({"event": event.event, "message": event.message})
        self._writer.add(time.monotonic_ns(), time.time_ns(), record, _SESSION)
        self._snapshots_due = set(self._snapshot_symbols) if event.event == "connected" else set()

    def _on_batch(self, batch: list[str | bytes]) -> None:
        writer = self._writer
        if writer is None:
            return
        receive_time_ns, wall_time_ns = time.monotonic_ns(), time.time_ns()
        for message in batch:
            writer.add(receive_time_ns, wall_time_ns, message)
        if self._snapshots_due:
            self._fetch_due_snapshots(batch)
        if writer.pending_records >= self._flush_records:
            writer.flush()

    def _fetch_due_snapshots(self, batch: list[str | bytes]) -> None:
        """Starts the snapshot fetch of each due book whose first update is in ``batch``."""
        for message in batch:
            try:
                events = self._endpoint.parse(message)
            except ParseError:
                continue  # recorded as it came; a replay reports it
            for event in events:
                if isinstance(event, BookUpdate) and event.symbol in self._snapshots_due:
                    self._snapshots_due.discard(event.symbol)
                    task = asyncio.get_running_loop().create_task(self._fetch_snapshot(event.symbol))
                    self._fetches.add(task)
                    task.add_done_callback(self._fetches.discard)

    async def _fetch_snapshot(self, symbol: str) -> None:
        url = self._endpoint.snapshot_url(symbol)
        assert url is not None
        fields: dict[str, str] = {"symbol": symbol, "url": url}
        try:
            fields["body"] = (await asyncio.to_thread(_http_get, url, SNAPSHOT_TIMEOUT)).decode("utf-8", "replace")
        except OSError as error:
            fields["error"] = str(error)
            logger.warning("%s: cannot fetch the %s book snapshot from %s: %s", self.url, symbol, url, error)
        if self._writer is not None:
            self._writer.add(time.monotonic_ns(), time.time_ns(), json.dumps(fields), _SNAPSHOT)

    async def _flush_every_interval(self) -> None:
        while self._writer is not None:
            await asyncio.sleep(self._flush_interval)
            self._writer.flush()

    async def _ping(self, session: Session) -> None:
        ping = self._endpoint.app_ping()
        assert ping is not None
        interval, message = ping
        while True:
            await asyncio.sleep(interval)
            if session.is_connected:
                try:
                    await session.send(message)
                except ConnectionClosed:
                    pass  # reconnecting: the next interval tries again

    async def close(self) -> None:
        """Close the session, write what is pending and close the file. Idempotent."""
        self._closing = True
        for task in (*self._tasks, *self._fetches):
            task.cancel()
        self._tasks.clear()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        if self._writer is not None and self._file is not None:
            self._writer.flush()
            self._file.close()
            self._records_written = self._writer.records
            self._writer = None

    async def __aenter__(self) -> Recorder:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()


def endpoint_of(venue: str, symbols: Sequence[str]) -> str:
    """The one endpoint of built-in ``venue`` serving every symbol of ``symbols``, named as
    :class:`~tickwire.Feed` names them (``"binance"``, ``"bybit-linear"`` …).

    Raises:
        ValueError: An unknown venue or symbol, no symbol, or symbols on two endpoints.
    """
    if not symbols:
        raise ValueError("no symbol given")
    endpoints = {symbol: _endpoint_name(venue, symbol) for symbol in symbols}
    if len(set(endpoints.values())) > 1:
        by_endpoint = {name: [s for s, e in endpoints.items() if e == name] for name in sorted(set(endpoints.values()))}
        raise ValueError(f"{venue} serves these symbols on different endpoints {by_endpoint}: record each in its own log")
    return next(iter(endpoints.values()))


# ---- reading ------------------------------------------------------------------------------


class Recording:
    """A capture log opened for reading: its :attr:`header`, and its :meth:`records`.

    Example::

        recording = tickwire.Recording("btc.twrec")
        print(recording.header.venue, recording.header.subscriptions)
        for record in recording.records():
            ...
        if recording.truncated:
            print("the log was cut short")

    Args:
        path: The log.

    Raises:
        OSError: The file cannot be read.
        RecordingError: The file is no capture log, or a version this tickwire cannot read.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        #: Whether the last read of :meth:`records` met a log cut short (a torn last batch).
        self.truncated = False
        with self.path.open("rb") as file:
            self.header, self._data_offset = self._read_header(file)

    def _fail(self, reason: str) -> RecordingError:
        return RecordingError(f"{self.path}: {reason}", str(self.path))

    def _read_header(self, file: BinaryIO) -> tuple[RecordingHeader, int]:
        preamble = file.read(_PREAMBLE.size)
        if len(preamble) < _PREAMBLE.size or not preamble.startswith(MAGIC):
            if MAGIC.startswith(preamble[: len(MAGIC)]) and preamble:
                raise self._fail("the capture log is cut short inside its header")
            raise self._fail("not a tickwire capture log (no magic number)")
        _, version, length = _PREAMBLE.unpack(preamble)
        if version not in _READABLE_VERSIONS:
            raise self._fail(f"capture log format version {version}; this tickwire reads versions {', '.join(map(str, _READABLE_VERSIONS))}")
        if length > _MAX_CHUNK_BYTES:
            raise self._fail(f"corrupt header (length {length})")
        data = file.read(length)
        if len(data) < length:
            raise self._fail("the capture log is cut short inside its header")
        try:
            header = RecordingHeader.from_json(data, version)
        except (ValueError, KeyError, TypeError) as error:
            raise self._fail(f"corrupt header: {error}") from None
        return header, _PREAMBLE.size + length

    def records(self) -> Iterator[Record]:
        """The records in the order received; a log cut short ends at its last whole record
        and sets :attr:`truncated`.

        Raises:
            RecordingError: A damaged batch (garbage, a checksum mismatch, a broken record).
        """
        self.truncated = False
        with self.path.open("rb") as file:
            file.seek(self._data_offset)
            while True:
                offset = file.tell()
                prefix = file.read(_BATCH_LENGTH.size)
                if not prefix:
                    return
                if len(prefix) < _BATCH_LENGTH.size:
                    self._cut_short(offset)
                    return
                (length,) = _BATCH_LENGTH.unpack(prefix)
                if length == 0 or length > _MAX_CHUNK_BYTES:
                    raise self._fail(f"corrupt batch at byte {offset} (length {length})")
                frame = file.read(length)
                if len(frame) < length:
                    yield from self._salvage(frame, offset)
                    return
                try:
                    content = zstandard.ZstdDecompressor().decompress(frame)
                except zstandard.ZstdError as error:
                    raise self._fail(f"corrupt batch at byte {offset}: {error}") from None
                try:
                    records, rest = _split_records(content)
                except ValueError as error:
                    raise self._fail(f"corrupt batch at byte {offset}: {error}") from None
                if rest:
                    raise self._fail(f"corrupt batch at byte {offset}: a record runs past its end")
                yield from records

    def _salvage(self, torn: bytes, offset: int) -> Iterator[Record]:
        """The whole records in the complete zstd blocks of a batch cut short."""
        self._cut_short(offset)
        try:
            content = zstandard.ZstdDecompressor().decompressobj().decompress(torn)
        except zstandard.ZstdError:
            return  # the torn part is not even a frame's beginning: nothing to save
        try:
            records, _ = _split_records(content)
        except ValueError as error:
            raise self._fail(f"corrupt batch at byte {offset}: {error}") from None
        yield from records

    def _cut_short(self, offset: int) -> None:
        self.truncated = True
        logger.warning(
            "warning: %s is cut short (in the batch at byte %d; a crash while recording?): read up to its last whole record",
            self.path,
            offset,
        )

    def __repr__(self) -> str:
        header = self.header
        return f"<tickwire.Recording {self.path} {header.venue}/{header.endpoint} {len(header.subscriptions)} subscriptions>"


def _split_records(content: bytes) -> tuple[list[Record], bytes]:
    """The whole records at the start of ``content``, and the bytes after the last of them."""
    records = []
    view = memoryview(content)
    position = 0
    head = _RECORD_HEAD.size
    while position + head <= len(content):
        receive_time_ns, wall_time_ns, flags, length = _RECORD_HEAD.unpack_from(view, position)
        end = position + head + length
        if end > len(content):
            break
        kind = _KIND_OF.get(flags)
        if kind is None:
            raise ValueError(f"a record of unknown kind {flags}")
        raw = bytes(view[position + head : end])
        records.append(Record(receive_time_ns, wall_time_ns, raw if flags == _BINARY else raw.decode("utf-8", "replace"), kind))
        position = end
    return records, bytes(view[position:])


# ---- replay -------------------------------------------------------------------------------


class Replay:
    """The market events of a capture log, made by :func:`replay`; iterate it with ``for`` or
    ``async for``.

    Attributes:
        recording: The log being read (its ``header``; ``truncated`` once iterated).
        parse_errors: Frames the venue's parser refused, skipped (a feed reports and skips
            them too).
    """

    def __init__(self, recording: Recording, speed: float | None) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be above 0 or None (as fast as possible), not {speed!r}")
        self.recording = recording
        self.speed = speed
        self.parse_errors = 0
        header = recording.header
        self._wanted = set(header.subscriptions)
        self._endpoint = _Endpoint(header.venue, header.endpoint, None)

    @property
    def truncated(self) -> bool:
        """Whether the log was cut short (known once iterated to the end)."""
        return self.recording.truncated

    def _timed(self) -> Iterator[tuple[float, list[Event]]]:
        """(seconds from the first record to wait until, events) per record with events."""
        first: int | None = None
        for record in self.recording.records():
            events = self._events(record)
            if not events:
                continue
            if first is None:
                first = record.receive_time_ns
            yield (record.receive_time_ns - first) / 1e9, events

    def _events(self, record: Record) -> list[Event]:
        header = self.recording.header
        if record.kind == "session":
            return []
        try:
            if record.kind == "snapshot":
                return self._snapshot(record)
            parsed = self._endpoint.parse(record.data, record.receive_time_ns)
        except ParseError as error:
            self.parse_errors += 1
            logger.warning("%s: a frame the %s parser refuses, skipped: %s", self.recording.path, header.venue, error)
            return []
        return [event for event in parsed if (event.symbol, _CHANNEL_OF.get(type(event))) in self._wanted]

    def _snapshot(self, record: Record) -> list[Event]:
        """The recorded REST snapshot as the ``BookUpdate`` a feed starts the book from; none
        for a fetch that failed."""
        try:
            fields = json.loads(record.data)
            wanted = "body" in fields and (fields["symbol"], "book") in self._wanted
        except (ValueError, KeyError, TypeError) as error:
            raise RecordingError(f"{self.recording.path}: a damaged snapshot record: {error}", str(self.recording.path)) from None
        if not wanted:
            return []
        return [self._endpoint.parse_snapshot(fields["symbol"], fields["body"].encode(), record.receive_time_ns)]

    def __iter__(self) -> Iterator[Event]:
        started = time.monotonic()
        for offset_s, events in self._timed():
            if self.speed is not None:
                delay = started + offset_s / self.speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield from events

    async def _aiter(self) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for offset_s, events in self._timed():
            if self.speed is not None:
                delay = started + offset_s / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            for event in events:
                yield event

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._aiter()


def replay(path: str | Path, *, speed: float | None = None) -> Replay:
    """The market events of the capture log at ``path``, parsed again by the venue's parser:
    ``Trade``, ``BBO``, ``BookUpdate`` and ``Ticker`` objects of the recorded subscriptions, as
    the venue sent them (books are not validated: a replay gives every update as it came; a
    recorded REST snapshot comes as a ``BookUpdate`` snapshot where it was fetched).
    Each event's ``receive_time_ns`` is its frame's recorded receive time.

    Iterate the result with ``for`` (sleeps between events) or ``async for`` (awaits between
    them)::

        for event in tickwire.replay("btc.twrec"):                 # as fast as possible
            ...
        async for event in tickwire.replay("btc.twrec", speed=1):  # at the recorded pace
            ...

    A log cut short by a crash replays up to its last whole record; the result's
    ``truncated`` then says so, and a warning is logged.

    Args:
        path: The capture log (written by :class:`Recorder` or ``tickwire record``).
        speed: ``None`` (default): as fast as possible; ``1``: at the recorded pace; ``10``:
            ten times faster.

    Raises:
        OSError: The file cannot be read.
        RecordingError: The file is no capture log, or is damaged (raised while iterating
            for damage past the header).
        ValueError: ``speed`` is not above 0.
    """
    return Replay(Recording(path), speed)


#: A ticker's optional decimal fields, in the order ``Ticker`` declares them.
_TICKER_FIELDS = (
    "last_price",
    "bid_price",
    "bid_qty",
    "ask_price",
    "ask_qty",
    "open_24h",
    "high_24h",
    "low_24h",
    "volume_24h",
    "quote_volume_24h",
    "change_24h",
    "change_pct_24h",
)


#: The ``type`` of a private event in :func:`event_fields`.
_PRIVATE_TYPE: dict[type, str] = {Order: "order", Balance: "balance", Fill: "fill"}


def event_fields(event: Event | Order | Balance | Fill) -> dict[str, Any]:
    """``event`` as a JSON-ready dict: ``type`` (``"trade"``, ``"bbo"``, ``"book"``,
    ``"ticker"``; ``"order"``, ``"balance"``, ``"fill"`` for private events, an order's own
    type as ``order_type``) and its fields, exact numbers as strings."""
    if isinstance(event, (Order, Balance, Fill)):
        private: dict[str, Any] = msgspec.to_builtins(event)
        if "type" in private:  # an order's own type ("limit" …) may not hide the event's
            private["order_type"] = private.pop("type")
        return {"type": _PRIVATE_TYPE[type(event)], **private}
    names: tuple[str, ...]
    if isinstance(event, Trade):
        kind, names = "trade", ("price", "qty", "side", "trade_id")
    elif isinstance(event, BBO):
        kind, names = "bbo", ("bid_price", "bid_qty", "ask_price", "ask_qty")
    elif isinstance(event, BookUpdate):
        kind, names = "book", ("is_snapshot", "bids", "asks", "first_sequence", "last_sequence", "prev_sequence", "checksum")
    else:
        kind, names = "ticker", _TICKER_FIELDS
    fields: dict[str, Any] = {"type": kind, "venue": event.venue, "symbol": event.symbol}
    for name in (*names, "exchange_time_ns", "receive_time_ns"):
        fields[name] = _jsonable(getattr(event, name))
    return fields


def _jsonable(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return [[str(price), str(qty)] for price, qty in value]
    return value
