"""The Python client of tickwire's broadcast server: :class:`Client`.

A client keeps one logical connection to a :class:`tickwire.Server` (or any server speaking
:mod:`tickwire.protocol`) and hands its messages to ``async for`` as the protocol's msgspec
classes. It follows the dashboard's connection management (FR-WEBSOCKET-003): states
``disconnected`` → ``connecting`` → ``connected``, and on a lost connection ``reconnecting``
with backoff (5 s, 10 s, 20 s, then 30 s; ten retries) before ``connecting`` again. On every
connection it waits for ``Connected``, has its subscription confirmed, and after a reconnect
sends ``Resume`` so the server sends again the critical messages (trades, positions, errors)
it missed; when the server can no longer do that, a ``ResyncRequired`` arrives in the stream
and :attr:`Client.resync_required` turns true.

Transport: tickwire's own :func:`tickwire.connect`. It has everything this client needs (text
frames both ways, ``recv()`` that raises :class:`~tickwire.ConnectionClosed` at the end, open and
close timeouts, WebSocket pings with stale-connection detection) and reads the socket on the Rust
I/O thread, so heartbeats are answered while Python is busy. The reconnecting
:class:`tickwire.Session` is not used: it sends fixed on-connect messages without waiting for
the server, whereas this protocol needs ``Connected`` first, then a confirmed subscription, then a
``Resume`` whose sequence number changes with every critical message received; and its
backoff (first retry at once, with jitter) is not the dashboard's. Nor is the server's
``?resume=`` URL parameter used: it replays at once, under the default subscription (everything),
before this client's narrower one is set up.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import urllib.parse
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Final, Literal, TypeVar

import msgspec

from .client import Connection, connect
from .exceptions import ConnectionClosed, HandshakeError, TickwireError
from .protocol import (
    CRITICAL_TYPES,
    PUBLISHABLE_TYPES,
    ClientMessage,
    Connected,
    Ping,
    Pong,
    Resume,
    ResumeData,
    Resumed,
    ResyncRequired,
    ServerMessage,
    Subscribe,
    SubscribeData,
    SubscriptionConfirmed,
    SubscriptionData,
    Unsubscribe,
    decode_server,
)

__all__ = [
    "Client",
    "ClientGaveUp",
    "ClientReconnectPolicy",
    "ClientState",
    "ClientStateCallback",
    "ClientStateChange",
]

logger = logging.getLogger(__name__)

#: Where a :class:`Client` is in its life.
ClientState = Literal["disconnected", "connecting", "connected", "reconnecting"]

#: Messages the client holds for ``async for`` before it stops reading the connection.
_DEFAULT_MAX_QUEUE: Final = 4096

#: Critical sequence numbers remembered while a resume is under way, to drop repeats.
_REPLAY_MEMORY: Final = 65_536

_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True, slots=True)
class ClientReconnectPolicy:
    """When a :class:`Client` retries after losing its connection or failing to open one.

    The defaults are the dashboard's (FR-WEBSOCKET-003): 5 s, 10 s, 20 s, then 30 s between
    retries, giving up after ten in a row. There is no jitter, and no immediate first retry: a
    restarting server gets the initial delay to come back.

    Attributes:
        initial_delay: Seconds before the first retry.
        backoff_factor: What each further delay is multiplied by.
        max_delay: Longest delay between retries, in seconds.
        max_attempts: Retries in a row (counted from the last connection that opened) before
            giving up; ``None`` retries forever.

    Raises:
        ValueError: A delay is negative, the factor is below 1, or ``max_attempts`` is negative.
    """

    initial_delay: float = 5.0
    backoff_factor: float = 2.0
    max_delay: float = 30.0
    max_attempts: int | None = 10

    def __post_init__(self) -> None:
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("reconnect delays cannot be negative")
        if self.backoff_factor < 1:
            raise ValueError("backoff_factor must be at least 1")
        if self.max_attempts is not None and self.max_attempts < 0:
            raise ValueError("max_attempts cannot be negative")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first)."""
        try:
            grown = self.initial_delay * self.backoff_factor ** (attempt - 1)
        except OverflowError:
            return self.max_delay
        return min(grown, self.max_delay)

    def allows(self, attempt: int) -> bool:
        """Whether retry number ``attempt`` (1 for the first) may be made."""
        return self.max_attempts is None or attempt <= self.max_attempts


@dataclasses.dataclass(frozen=True, slots=True)
class ClientStateChange:
    """A change of :attr:`Client.state`, given to :meth:`Client.on_state` callbacks.

    Attributes:
        state: The new state.
        attempt: The retry number (1 for the first after a loss or failure) while
            ``reconnecting`` and in the ``connecting`` that follows; 0 otherwise.
        delay: Seconds until that retry, when ``reconnecting``; else ``None``.
        error: What ended the last connection or attempt, when ``reconnecting`` or when
            ``disconnected`` after giving up; else ``None``.
    """

    state: ClientState
    attempt: int = 0
    delay: float | None = None
    error: BaseException | None = None


#: A callback given to :meth:`Client.on_state`; its return value is ignored.
ClientStateCallback = Callable[[ClientStateChange], object]


class ClientGaveUp(TickwireError, ConnectionError):
    """A :class:`Client` stopped trying to reach its server: every retry its
    :class:`ClientReconnectPolicy` allowed failed, or the server refused the WebSocket upgrade for
    good (HTTP 4xx other than 429, such as a wrong token). Raised by :meth:`Client.connect` and
    by iteration once every message received before has been read; the last failure is the
    ``__cause__``.

    Attributes:
        url: The server's URL, without the token.
        attempts: Retries made since the last connection that opened.
    """

    def __init__(self, message: str, url: str, attempts: int) -> None:
        super().__init__(message, url)
        self.attempts = attempts


class _ReplayGuard:
    """Sequence numbers of the critical messages delivered while a resume is under way.

    A server may replay up to the moment it handles ``Resume`` rather than up to the start of the
    connection, repeating what the new connection already delivered live; and a resume cut short
    by another loss is asked for again from the same point. Either way the repeat is dropped. The
    memory is bounded: past ``capacity`` the oldest numbers are forgotten.
    """

    __slots__ = ("_order", "_seen")

    def __init__(self, capacity: int) -> None:
        self._seen: set[int] = set()
        self._order: collections.deque[int] = collections.deque(maxlen=capacity)

    def first_time(self, seq: int) -> bool:
        """Remember ``seq``; whether it was new."""
        if seq in self._seen:
            return False
        if len(self._order) == self._order.maxlen:
            self._seen.discard(self._order[0])
        self._order.append(seq)
        self._seen.add(seq)
        return True

    def clear(self) -> None:
        """Forget every number (the resume is over, or the server's numbering restarted)."""
        self._seen.clear()
        self._order.clear()


class Client:
    """A reconnecting client of tickwire's broadcast server.

    ``async with Client(url) as client`` (or :meth:`connect` … :meth:`close`) opens it; ``async
    for message in client`` yields every message the server sends, in order, as the classes of
    :mod:`tickwire.protocol`: market data, the critical ``TradeExecuted``, ``PositionUpdate`` and
    ``Error``, and the protocol's own ``Connected`` (after every (re)connect),
    ``SubscriptionConfirmed``, ``Resumed`` and ``ResyncRequired``. Only the ``Pong`` answers to
    :meth:`ping` are kept back. A message that is not of the protocol is logged and skipped.

    Args:
        url: The server's ``ws://`` or ``wss://`` URL, such as ``Server.ws_url``.
        channels: Message types to receive (``"MarketData"``, ``"TradeExecuted"`` …, the keys of
            :data:`tickwire.protocol.PUBLISHABLE_TYPES`); ``None`` for all.
        symbols: Symbols to receive; ``None`` for all. Messages without a symbol always pass.
        token: The server's access token, sent as the ``token`` query parameter; ``None`` for
            none. It is left out of logs, ``repr`` and :attr:`url`.
        reconnect: When to retry (default: the dashboard's policy); ``None`` never retries, so the
            first lost connection gives up.
        open_timeout: Seconds allowed to open a connection, receive ``Connected`` and have the
            subscription confirmed (default 10).
        max_queue: Messages held for ``async for`` (default 4096). When it is full the client
            stops reading, so the connection and then TCP push back on the server; nothing is
            dropped on this side.

    Attributes:
        resync_required: True once the server answered ``Resume`` with ``ResyncRequired``:
            critical messages this client missed are gone from its history, or the server
            restarted. Rebuild the state they describe by other means, then set it back to
            False.

    Raises:
        TypeError: ``channels`` or ``symbols`` is a single string rather than a collection.
        ValueError: A channel is not a message type of the protocol, or ``max_queue`` or
            ``open_timeout`` is not positive.
    """

    def __init__(
        self,
        url: str,
        channels: Iterable[str] | None = None,
        symbols: Iterable[str] | None = None,
        *,
        token: str | None = None,
        reconnect: ClientReconnectPolicy | None = ClientReconnectPolicy(),
        open_timeout: float = 10.0,
        max_queue: int = _DEFAULT_MAX_QUEUE,
    ) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if open_timeout <= 0:
            raise ValueError("open_timeout must be positive")
        self._url = url
        self._token = token
        self._connect_url = _with_token(url, token) if token is not None else url
        requested = _subscribe_data(channels, symbols)
        self._requested: SubscribeData | None = (
            requested if requested.channels is not None or requested.symbols is not None else None
        )
        self._reconnect = reconnect
        self._open_timeout = open_timeout

        self._state: ClientState = "disconnected"
        self._state_callbacks: list[ClientStateCallback] = []
        # None in the queue wakes the reader to look at _closed and _failure.
        self._inbox: asyncio.Queue[ServerMessage | None] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._connection: Connection | None = None
        self._closed = False
        self._failure: BaseException | None = None

        self._subscription: SubscriptionData | None = None
        self._awaiting_confirmation: collections.deque[asyncio.Future[SubscriptionConfirmed]] = collections.deque()
        self._awaiting_pong: collections.deque[asyncio.Future[None]] = collections.deque()
        # While a subscription is being (re)established, what it will let through: a new
        # connection gets everything until the server confirms the narrower subscription.
        self._handshake_filter: SubscriptionData | None = None

        self._last_seq: int | None = None
        # Resume asks from the last critical message received (or the connection's start), not
        # from last_seq: market data conflated in a slow client's queue, or a reply, can overtake
        # critical messages queued before it, so a higher number seen does not prove that the
        # critical messages below it arrived.
        self._received_through = 0
        self._resume_from = 0
        self._resume_pending = False
        self._replay_guard = _ReplayGuard(_REPLAY_MEMORY)
        self._invalid_messages = 0

        self.resync_required = False

    def __repr__(self) -> str:
        return f"<tickwire.Client {self._url} {self._state}>"

    # ---- what it is now --------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's URL as given, without the token."""
        return self._url

    @property
    def state(self) -> ClientState:
        """``disconnected``, ``connecting``, ``connected`` or ``reconnecting``."""
        return self._state

    @property
    def last_seq(self) -> int | None:
        """The highest sequence number received, ``None`` before any. Each connection starts it
        over at its ``Connected`` (a restarted server numbers from 1 again); replays of older
        critical messages do not lower it."""
        return self._last_seq

    @property
    def subscription(self) -> SubscriptionData | None:
        """The subscription the server last confirmed; ``None`` while it is the default (all
        channels, all symbols). It is set up again on every reconnect."""
        return self._subscription

    @property
    def invalid_messages(self) -> int:
        """Messages received that were not of the protocol, logged and skipped."""
        return self._invalid_messages

    def on_state(self, callback: ClientStateCallback) -> None:
        """Call ``callback`` with a :class:`ClientStateChange` on every change of state, on the
        event loop's thread. Any number may be added; an exception in one goes to the loop's
        exception handler and the others still run."""
        self._state_callbacks.append(callback)

    # ---- opening and closing ---------------------------------------------------------------

    async def connect(self) -> None:
        """Open the connection, wait for ``Connected`` and have the subscription confirmed.

        A failed attempt is retried as the reconnect policy says. From here on the client
        reconnects by itself until :meth:`close`. A client connects once: after :meth:`close`
        make a new one. Cancelling ``connect()`` closes the client.

        Raises:
            ClientGaveUp: Every allowed attempt failed, or the server refused the upgrade for
                good; the last failure is the ``__cause__``.
            RuntimeError: The client was connected or closed before.
            ValueError: The URL is invalid.
        """
        if self._task is not None or self._closed:
            raise RuntimeError("a Client connects once; make a new one after close()")
        ready = asyncio.get_running_loop().create_future()
        self._ready = ready
        self._task = asyncio.create_task(self._run(), name=f"tickwire.Client {self._url}")
        try:
            await ready
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop reconnecting, close the connection with 1000, and end iteration.

        Messages not yet read are dropped. Calling it again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        task = self._task
        if task is not None:
            task.cancel()
            # wait() rather than awaiting the task: a cancellation of close() itself still
            # propagates, while the task's own cancellation does not.
            await asyncio.wait([task])
        if self._state != "disconnected":
            self._set_state(ClientStateChange("disconnected"))
        self._wake_reader()

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- reading ---------------------------------------------------------------------------

    def __aiter__(self) -> Client:
        return self

    async def __anext__(self) -> ServerMessage:
        """Return the next message from the server; iteration ends after :meth:`close`.

        Raises:
            ClientGaveUp: The client gave up reconnecting (after every message received
                before has been returned).
            RuntimeError: The client was never connected.
        """
        if self._task is None and not self._closed:
            raise RuntimeError("connect() the client (or use async with) before reading it")
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._failure is not None and self._inbox.empty():
                raise self._failure
            message = await self._inbox.get()
            if message is not None:
                return message

    def _wake_reader(self) -> None:
        # A reader waits in get() only when the queue is empty, so there is room for the marker;
        # when the queue is not empty, the reader sees the end after what is queued.
        if self._inbox.empty():
            self._inbox.put_nowait(None)

    # ---- requests --------------------------------------------------------------------------

    async def subscribe(
        self,
        channels: Iterable[str] | None = None,
        symbols: Iterable[str] | None = None,
        *,
        timeout: float = 10.0,
    ) -> SubscriptionConfirmed:
        """Add channels (message types) and symbols to the subscription; the first call that
        names channels (or symbols) narrows "all" to those named. The result is kept and set
        up again on every reconnect.

        Returns:
            The server's confirmation, whose ``data`` is the whole subscription now.

        Raises:
            ConnectionClosed: The client is not connected, or the connection was lost before
                the confirmation.
            TimeoutError: No confirmation within ``timeout`` seconds.
            TypeError: ``channels`` or ``symbols`` is a single string.
            ValueError: Neither channels nor symbols are named, or a channel is not a message
                type of the protocol.
        """
        return await self._change_subscription(Subscribe(data=_subscribe_data(channels, symbols)), timeout)

    async def unsubscribe(
        self,
        channels: Iterable[str] | None = None,
        symbols: Iterable[str] | None = None,
        *,
        timeout: float = 10.0,
    ) -> SubscriptionConfirmed:
        """Remove channels and symbols from the subscription (removing a symbol while all are
        subscribed excludes it). The result is kept and set up again on every reconnect.

        Returns:
            The server's confirmation, whose ``data`` is the whole subscription now.

        Raises:
            ConnectionClosed: The client is not connected, or the connection was lost before
                the confirmation.
            TimeoutError: No confirmation within ``timeout`` seconds.
            TypeError: ``channels`` or ``symbols`` is a single string.
            ValueError: Neither channels nor symbols are named, or a channel is not a message
                type of the protocol.
        """
        return await self._change_subscription(Unsubscribe(data=_subscribe_data(channels, symbols)), timeout)

    async def ping(self, *, timeout: float = 10.0) -> float:
        """Send the protocol's ``Ping`` and wait for its ``Pong``.

        The ``Pong`` travels behind the messages queued for this client, so the round trip
        includes any backlog; it is not yielded by iteration. While ``async for`` is not being
        read and the client's queue is full, the answer cannot be read either.

        Returns:
            The round trip in seconds.

        Raises:
            ConnectionClosed: The client is not connected, or the connection was lost first.
            TimeoutError: No ``Pong`` within ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        await self._ask(Ping(), self._awaiting_pong, timeout)
        return loop.time() - sent_at

    async def _change_subscription(self, request: Subscribe | Unsubscribe, timeout: float) -> SubscriptionConfirmed:
        if request.data.channels is None and request.data.symbols is None:
            raise ValueError("name channels, symbols or both")
        return await self._ask(request, self._awaiting_confirmation, timeout)

    async def _ask(self, request: ClientMessage, waiting: collections.deque[asyncio.Future[_T]], timeout: float) -> _T:
        """Send ``request`` and wait for its answer: the next one of its kind, as the server
        answers in order."""
        connection = self._open_connection()
        answer: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        # In line before sending: the answer may be read while the send waits for room.
        waiting.append(answer)
        try:
            await connection.send(_encode(request))
            async with asyncio.timeout(timeout):
                return await answer
        finally:
            # A request left unanswered (the server drops requests over its rate limit) leaves
            # the line, so that later answers go to the requests they answer.
            if answer in waiting:
                waiting.remove(answer)

    def _open_connection(self) -> Connection:
        if self._state != "connected" or self._connection is None:
            raise ConnectionClosed(f"{self._url} is {self._state}, not connected", self._url, 1006, self._state)
        return self._connection

    # ---- the connection's life -------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._stay_connected()
        except asyncio.CancelledError:
            if self._connection is not None:
                await self._connection.close()
            raise
        except Exception as error:  # noqa: BLE001 - handed to connect() or to iteration
            self._fail(error)

    async def _stay_connected(self) -> None:
        """Connect, read until the connection is lost, retry; until closed or giving up."""
        attempt = 0
        while True:
            self._set_state(ClientStateChange("connecting", attempt))
            try:
                connection = await self._open()
            except (TickwireError, TimeoutError) as error:
                attempt = await self._before_retry(attempt + 1, error)
                continue
            attempt = 0
            self._connection = connection
            self._set_state(ClientStateChange("connected"))
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            try:
                await self._read(connection)
            except ConnectionClosed as lost:
                self._connection = None
                self._call_off_requests(lost)
                attempt = await self._before_retry(1, lost)

    async def _before_retry(self, attempt: int, error: BaseException) -> int:
        """Wait before retry number ``attempt``, or give up by raising :class:`ClientGaveUp`."""
        policy = self._reconnect
        refused_for_good = (
            isinstance(error, HandshakeError)
            and error.status is not None
            and 400 <= error.status < 500
            and error.status != 429
        )
        if refused_for_good or policy is None or not policy.allows(attempt):
            made = attempt - 1
            raise ClientGaveUp(
                f"gave up on {self._url} after {made} retr{'y' if made == 1 else 'ies'}: {self._redact(str(error))}",
                self._url,
                made,
            ) from error
        delay = policy.delay(attempt)
        self._set_state(ClientStateChange("reconnecting", attempt, delay, error))
        await asyncio.sleep(delay)
        return attempt

    async def _open(self) -> Connection:
        """Open a connection and set it up: ``Connected``, subscription, ``Resume``.

        Raises:
            TickwireError: Opening failed or the connection was lost meanwhile.
            TimeoutError: The server did not answer within ``open_timeout``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._open_timeout
        connection = await connect(
            self._connect_url, open_timeout=self._open_timeout, close_timeout=self._open_timeout
        )
        try:
            await self._receive_until(connection, Connected, deadline)
            requests, self._handshake_filter = self._subscription_setup()
            for request in requests:
                await connection.send(_encode(request))
                await self._receive_until(connection, SubscriptionConfirmed, deadline)
            self._handshake_filter = None
            if self._resume_pending:
                await connection.send(_encode(Resume(data=ResumeData(last_seq=self._resume_from))))
        except BaseException:
            self._handshake_filter = None
            await connection.close()
            raise
        return connection

    def _subscription_setup(self) -> tuple[list[Subscribe | Unsubscribe], SubscriptionData | None]:
        """The requests that set up the subscription on a new connection (the last one
        confirmed, else the one asked for), and the subscription they lead to, which filters
        what arrives before the server confirms it."""
        confirmed = self._subscription
        if confirmed is not None:
            requests: list[Subscribe | Unsubscribe] = [
                Subscribe(data=SubscribeData(channels=confirmed.channels, symbols=confirmed.symbols))
            ]
            if confirmed.except_symbols:
                requests.append(Unsubscribe(data=SubscribeData(symbols=confirmed.except_symbols)))
            return requests, confirmed
        requested = self._requested
        if requested is not None:
            expected = SubscriptionData(channels=requested.channels or list(PUBLISHABLE_TYPES), symbols=requested.symbols)
            return [Subscribe(data=requested)], expected
        return [], None

    def _begin_connection(self, connected: Connected) -> None:
        """Take note of where the server's numbering stands on a new connection, and after an
        earlier one, of where to resume from."""
        # After an earlier connection, resume from what it received; a resume that another loss
        # cut short keeps its starting point.
        if self._last_seq is not None and not self._resume_pending:
            self._resume_from = self._received_through
            self._resume_pending = True
        start = connected.data.last_seq if connected.data is not None else connected.seq
        self._received_through = start
        self._last_seq = connected.seq
        if self._resume_pending and start < self._resume_from:
            # The numbering went back: another server instance (a restart). It answers the
            # Resume with ResyncRequired, and numbers remembered from before mean nothing now.
            logger.warning("%s: the server's numbering restarted (%d, after %d here)", self._url, start, self._resume_from)
            self._replay_guard.clear()

    def _call_off_requests(self, error: ConnectionClosed) -> None:
        closed = ConnectionClosed(
            f"connection to {self._url} lost: {self._redact(str(error))}", self._url, error.code, error.reason
        )
        _call_off(self._awaiting_confirmation, closed)
        _call_off(self._awaiting_pong, closed)

    def _fail(self, error: BaseException) -> None:
        self._failure = error
        self._set_state(ClientStateChange("disconnected", error=error))
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_exception(error)
        self._wake_reader()

    # ---- messages --------------------------------------------------------------------------

    async def _receive_until(self, connection: Connection, reply: type[_T], deadline: float) -> _T:
        """Read and pass on messages until one of type ``reply``, which is returned.

        Only receiving counts against ``deadline``: waiting for room in the queue does not.
        """
        while True:
            async with asyncio.timeout_at(deadline):
                raw = await connection.recv()
            message = await self._take(raw)
            if isinstance(message, reply):
                return message

    async def _read(self, connection: Connection) -> None:
        while True:
            await self._take(await connection.recv())

    async def _take(self, raw: str | bytes) -> ServerMessage | None:
        """Decode one message, keep the books on it, and queue it for the reader if it is for
        them. Returns it, or ``None`` when it is not of the protocol."""
        try:
            message = decode_server(raw)
        except msgspec.DecodeError as error:
            self._invalid_messages += 1
            logger.warning("%s: skipped a message not of the protocol (%s): %.200r", self._url, error, raw)
            return None
        if self._accept(message):
            await self._inbox.put(message)
        return message

    def _accept(self, message: ServerMessage) -> bool:
        """Keep the books on ``message``; whether the reader gets it."""
        if isinstance(message, Connected):
            self._begin_connection(message)
            return True
        if self._last_seq is None or message.seq > self._last_seq:
            self._last_seq = message.seq
        if isinstance(message, Pong):
            _answer(self._awaiting_pong, None)
            return False
        if isinstance(message, SubscriptionConfirmed):
            if message.data is not None:
                self._subscription = message.data
            _answer(self._awaiting_confirmation, message)
            return True
        if isinstance(message, (Resumed, ResyncRequired)):
            self._resume_done(message)
            return True
        if self._handshake_filter is not None and not _wanted(message, self._handshake_filter):
            return False
        if _kind(message) in CRITICAL_TYPES:
            if self._resume_pending and not self._replay_guard.first_time(message.seq):
                logger.debug("%s: dropped a repeat of critical message %d", self._url, message.seq)
                return False
            self._received_through = max(self._received_through, message.seq)
        return True

    def _resume_done(self, outcome: Resumed | ResyncRequired) -> None:
        self._resume_pending = False
        self._replay_guard.clear()
        if isinstance(outcome, ResyncRequired):
            self.resync_required = True
            logger.warning("%s: critical messages missed while away are lost; resynchronise", self._url)

    # ---- state -----------------------------------------------------------------------------

    def _set_state(self, change: ClientStateChange) -> None:
        self._state = change.state
        if change.state == "reconnecting":
            error = self._redact(str(change.error))
            logger.warning("%s: retry %d in %.3g s after: %s", self._url, change.attempt, change.delay or 0.0, error)
        else:
            logger.debug("%s: %s", self._url, change.state)
        loop = asyncio.get_running_loop()
        for callback in self._state_callbacks:
            try:
                callback(change)
            except Exception as error:  # noqa: BLE001 - reported, and the other callbacks run
                loop.call_exception_handler({"message": f"on_state callback {callback!r} failed", "exception": error})

    def _redact(self, text: str) -> str:
        """``text`` without the token, which errors from the transport may quote in the URL."""
        if not self._token:
            return text
        return text.replace(urllib.parse.quote(self._token, safe=""), "***").replace(self._token, "***")


def _with_token(url: str, token: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query.append(("token", token))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _names(names: Iterable[str] | None, what: str) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        # A lone string would be read as its letters.
        raise TypeError(f"{what} must be a collection of names, not a string; write [{names!r}]")
    return list(names)


def _subscribe_data(channels: Iterable[str] | None, symbols: Iterable[str] | None) -> SubscribeData:
    channel_names = _names(channels, "channels")
    unknown = sorted(set(channel_names or ()) - set(PUBLISHABLE_TYPES))
    if unknown:
        # Caught here, not by the server: it answers an unknown channel with an Error instead
        # of a confirmation, which a (re)connecting client would wait for in vain.
        raise ValueError(f"unknown channel(s) {', '.join(unknown)}; channels are {', '.join(sorted(PUBLISHABLE_TYPES))}")
    return SubscribeData(channels=channel_names, symbols=_names(symbols, "symbols"))


def _encode(message: ClientMessage) -> str:
    return msgspec.json.encode(message).decode()


def _kind(message: ServerMessage) -> str:
    """The message's ``type``."""
    return str(type(message).__struct_config__.tag)


def _wanted(message: ServerMessage, subscription: SubscriptionData) -> bool:
    """Whether ``subscription`` lets ``message`` through, as the server decides it."""
    kind = _kind(message)
    if kind not in PUBLISHABLE_TYPES:
        return True
    if kind not in subscription.channels:
        return False
    symbol = getattr(getattr(message, "data", None), "symbol", None)
    if symbol is None:
        return True
    if subscription.symbols is not None:
        return symbol in subscription.symbols
    return symbol not in subscription.except_symbols


def _answer(waiting: collections.deque[asyncio.Future[_T]], result: _T) -> None:
    """Answer the oldest request waiting: the server answers in order."""
    if waiting:
        request = waiting.popleft()
        if not request.done():
            request.set_result(result)


def _call_off(waiting: collections.deque[asyncio.Future[_T]], error: BaseException) -> None:
    """Fail every request still waiting for an answer that will not come."""
    while waiting:
        request = waiting.popleft()
        if not request.done():
            request.set_exception(error)
