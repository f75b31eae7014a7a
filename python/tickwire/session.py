"""Reconnecting sessions: :func:`open_session` and :class:`Session`.

A session is one logical connection that the Rust core keeps open: it reconnects by a
:class:`ReconnectPolicy` (first retry at once after a lost connection, then exponential backoff
with jitter), leaves a venue alone for a while when its :class:`BreakerPolicy` trips, and sends
the ``on_connect`` messages (subscriptions) on every new connection. Messages from all its
connections arrive through one stream, with :class:`SessionEvent` state changes in their place
between them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Unpack

from . import _core
from ._stream import Consumer, MessageStream
from .client import ConnectOptions, connect_options
from .exceptions import ConnectionClosed

__all__ = ["BreakerPolicy", "ReconnectPolicy", "Session", "SessionEvent", "StateCallback", "open_session"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """When a session retries after its connection ends or fails to open.

    Attributes:
        max_attempts: Retries since the last reset before giving up; ``None`` retries forever.
        initial_delay: Seconds before the first retry that backs off (the first retry after a
            lost connection is immediate).
        backoff_factor: What each further delay is multiplied by.
        max_delay: Longest delay in seconds, jitter included.
        jitter: Fraction by which each delay varies at random (0.1 = ±10 %).
        reset_on_1005: A peer's close without a status code starts the sequence over.
        stable_after: Seconds a connection must stay up for the sequence to start over.
        handshake_4xx_attempts: Upgrades refused for good (HTTP 4xx but 429, certificate
            failures) in a row before giving up.
    """

    max_attempts: int | None = None
    initial_delay: float = 1.0
    backoff_factor: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.1
    reset_on_1005: bool = True
    stable_after: float = 30.0
    handshake_4xx_attempts: int = 3


@dataclasses.dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a session stops trying a venue for a while: after ``failure_threshold`` failed
    opens within ``window`` seconds it waits ``open_for`` seconds, then tries once."""

    failure_threshold: int = 5
    window: float = 60.0
    open_for: float = 30.0


@dataclasses.dataclass(frozen=True, slots=True)
class SessionEvent:
    """A change in a session's state, delivered in order with its messages.

    Attributes:
        event: ``connecting``, ``connected``, ``connect_failed``, ``disconnected``,
            ``reconnecting``, ``circuit_open``, ``gave_up`` or ``closed``.
        message: A readable description.
        attempt: The attempt number (connecting, connected, reconnecting).
        delay: Seconds before the next attempt (reconnecting).
        code: The close code (disconnected).
        reason: The close reason (disconnected).
        retry_in: Seconds until the breaker lets an attempt through (circuit_open).
    """

    event: str
    message: str
    attempt: int | None = None
    delay: float | None = None
    code: int | None = None
    reason: str | None = None
    retry_in: float | None = None


#: A callback given to :meth:`Session.on_state`; its return value is ignored.
StateCallback = Callable[[SessionEvent], object]

_QUIET_EVENTS = frozenset({"connecting", "connected"})


def open_session(
    url: str,
    *,
    on_connect: Iterable[str | bytes] = (),
    reconnect: ReconnectPolicy | None = None,
    breaker: BreakerPolicy | None = None,
    **options: Unpack[ConnectOptions],
) -> Session:
    """Start a session that keeps a connection to ``url`` open; it connects in the background.

    Must be called with an asyncio loop running. Await :meth:`Session.wait_connected` to wait
    for the first connection.

    Args:
        url: The ``ws://`` or ``wss://`` URL.
        on_connect: Messages sent on every new connection before anything else (subscriptions);
            change them later with :meth:`Session.set_on_connect`.
        reconnect: The retry policy (default: :class:`ReconnectPolicy()`).
        breaker: The venue's circuit breaker; ``None`` for none.
        **options: Connection options, as for :func:`tickwire.connect`.

    Raises:
        ValueError: The URL, an option or a policy is invalid.
        TypeError: An option name is unknown.
    """
    return _open(url, on_connect, reconnect, breaker, options, None)


def _open(
    url: str,
    on_connect: Iterable[str | bytes],
    reconnect: ReconnectPolicy | None,
    breaker: BreakerPolicy | None,
    options: ConnectOptions,
    venue: _core.VenueProtocol | None,
) -> Session:
    """:func:`open_session`, and for a feed's built-in venue, with the venue's decoder."""
    loop = asyncio.get_running_loop()
    policy = dataclasses.asdict(reconnect or ReconnectPolicy())
    breaker_options = dataclasses.asdict(breaker) if breaker is not None else None
    core = _core.open_session(url, connect_options(**options), policy, breaker_options, list(on_connect), venue)
    return Session(core, loop)


class Session(MessageStream):
    """A reconnecting connection; made by :func:`open_session`, not directly.

    Read it like a :class:`~tickwire.Connection` (``recv()``, ``async for``, ``on_message``,
    ``on_batch``); state changes go to :meth:`on_state` callbacks in their place in the stream,
    or to the ``tickwire.session`` logger when no callback is set. Reading ends with
    ``ConnectionClosed`` once the session is closed or gives up.
    """

    __slots__ = ("_core", "_last_event", "_state_callbacks")

    def __init__(self, core: _core.Session, loop: asyncio.AbstractEventLoop) -> None:
        self._core = core
        self._state_callbacks: list[StateCallback] = []
        self._last_event: SessionEvent | None = None
        super().__init__(core, loop)

    def __repr__(self) -> str:
        return f"<tickwire.Session {self._core.url} {self.state}>"

    @property
    def url(self) -> str:
        """The URL every connection of the session opens."""
        return self._core.url

    @property
    def state(self) -> str:
        """The name of the last event delivered (``"connecting"`` before any)."""
        return self._last_event.event if self._last_event is not None else "connecting"

    @property
    def is_connected(self) -> bool:
        """Whether a connection is open now (the I/O side's view, ahead of delivered events)."""
        return self._core.connected

    def on_state(self, callback: StateCallback) -> None:
        """Call ``callback`` with every :class:`SessionEvent`, on the loop's thread, in order
        with the messages. Any number may be added; an exception in one goes to the loop's
        exception handler and the others still run."""
        self._state_callbacks.append(callback)

    async def wait_connected(self) -> None:
        """Wait until a connection of the session is open and its on-connect messages are sent.

        This watches the I/O side directly, so it returns even when nobody reads the stream
        yet; the ``connected`` event is still delivered in its place in the stream.

        Raises:
            ConnectionClosed: The session ended (closed or gave up) first.
        """
        while not self._core.connected:  # a cold-path wait, bounded by the session's own end
            if self._core.terminated:
                raise ConnectionClosed(
                    f"session to {self._core.url} ended before connecting", self._core.url, 1006, "session ended"
                )
            await asyncio.sleep(0.005)

    def set_on_connect(self, messages: Iterable[str | bytes]) -> None:
        """Replace the messages sent on every new connection (from the next one on)."""
        self._core.set_on_connect(list(messages))

    async def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Send one message on the open connection.

        Raises:
            ConnectionClosed: No connection is open (the session is reconnecting or ended).
            TypeError: ``data`` is neither ``str`` nor bytes-like.
        """
        if not self._core.try_send(data):
            await self._core.send_wait(data)

    async def close(self) -> None:
        """Stop reconnecting, close the open connection with 1000, and wait for the end."""
        await self._core.close()
        await self.wait_closed()

    def stats(self) -> dict[str, Any]:
        """Counters: ``connected``, ``reconnects``, ``queue_len``, ``queue_capacity``,
        ``messages_delivered``, ``batches_delivered``, ``callback_errors``, and while connected
        the open connection's ``messages_in``, ``bytes_in``, ``queue_full_events`` and
        ``ping_rtt_ns``."""
        return self._core.stats()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _on_market(self, dispatch: _core.Dispatch) -> None:
        """Route decoded market events through ``dispatch`` (a feed's built-in venue)."""
        self._set_callback(dispatch, batch=False)

    def _dispatch(self, callback: Consumer) -> bool:
        if isinstance(callback, _core.Dispatch):
            return self._core.dispatch_market(callback)
        return self._core.dispatch(callback, self._on_event)

    def _dispatch_batch(self, callback: Consumer) -> bool:
        assert not isinstance(callback, _core.Dispatch)  # market dispatch is per message
        return self._core.dispatch_batch(callback, self._on_event)

    def _on_event(self, fields: dict[str, Any]) -> None:
        event = SessionEvent(**fields)
        self._last_event = event
        if not self._state_callbacks:
            level = logging.DEBUG if event.event in _QUIET_EVENTS else logging.WARNING
            logger.log(level, "%s: %s", self._core.url, event.message)
        for callback in self._state_callbacks:
            try:
                callback(event)
            except Exception as error:  # noqa: BLE001 - reported, and the other callbacks run
                self._loop.call_exception_handler(
                    {"message": f"on_state callback {callback!r} failed", "exception": error}
                )

