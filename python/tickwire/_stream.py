"""The consumer side shared by :class:`~tickwire.Connection` and :class:`~tickwire.Session`.

Both read from an inbox in the Rust core that wakes the asyncio loop through one file
descriptor when it goes from empty to non-empty. Python is entered once per wake-up, however
many messages wait: ``recv()`` pops them one by one without suspending, and a callback set with
``on_message`` or ``on_batch`` receives the whole batch in one call into Rust.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from . import _core
from .exceptions import NORMAL_CLOSE_CODES, ConnectionClosed

#: A callback given to ``on_message``; its return value is ignored.
MessageCallback = Callable[[str | bytes], object]
#: A callback given to ``on_batch``; its return value is ignored.
BatchCallback = Callable[[list[str | bytes]], object]

#: What delivery goes to: a user's callback, or a feed's handler tables (decoded sessions).
Consumer = Callable[[Any], object] | _core.Dispatch


class _Inbox(Protocol):
    """What the consumer needs of a core handle."""

    @property
    def terminated(self) -> bool: ...
    def fileno(self) -> int: ...
    def queue_len(self) -> int: ...
    def clear_wake(self) -> None: ...
    def try_recv(self) -> Any: ...


class MessageStream:
    """Reading messages from a core inbox: ``recv()``, ``async for``, ``on_message``, ``on_batch``.

    Subclasses supply the delivery calls of their core handle and what to do with a session
    event found among the messages.
    """

    __slots__ = ("__weakref__", "_batch", "_callback", "_closed", "_inbox", "_loop", "_reading", "_waiter")

    def __init__(self, inbox: _Inbox, loop: asyncio.AbstractEventLoop) -> None:
        self._inbox = inbox
        self._loop = loop
        self._callback: Consumer | None = None
        self._batch = False
        self._waiter: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] = loop.create_future()
        self._reading = True
        loop.add_reader(inbox.fileno(), self._on_wake)

    # ---- what subclasses supply ---------------------------------------------------------

    def _dispatch(self, callback: Consumer) -> bool:
        raise NotImplementedError

    def _dispatch_batch(self, callback: Consumer) -> bool:
        raise NotImplementedError

    def _on_event(self, event: dict[str, Any]) -> None:
        """A session event met by ``recv()``; lone connections have none."""
        raise AssertionError(f"unexpected event {event!r}")

    # ---- reading ------------------------------------------------------------------------

    async def recv(self) -> str | bytes:
        """Return the next message, waiting for one if none is queued.

        Raises:
            ConnectionClosed: The stream has ended and every message before the end has been
                returned; ``code`` and ``reason`` say how it ended.
            RuntimeError: A callback is set with ``on_message``/``on_batch``, or another
                coroutine is already waiting in ``recv()``.
        """
        if self._callback is not None:
            raise RuntimeError("recv() cannot be used while an on_message()/on_batch() callback is set")
        if self._waiter is not None:
            raise RuntimeError("another coroutine is already waiting in recv()")
        inbox = self._inbox
        while True:
            message = inbox.try_recv()
            if message is not None:
                if type(message) is dict:
                    self._on_event(message)
                    continue
                return message  # type: ignore[no-any-return]
            waiter = self._loop.create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> str | bytes:
        """Return the next message; iteration ends after a normal close (1000 or 1001).

        Raises:
            ConnectionClosed: The stream ended any other way.
        """
        try:
            return await self.recv()
        except ConnectionClosed as closed:
            if closed.code in NORMAL_CLOSE_CODES:
                raise StopAsyncIteration from None
            raise

    def on_message(self, callback: MessageCallback | None) -> None:
        """Deliver every message to ``callback`` on the asyncio loop's thread, in order.

        All messages queued at a wake-up are delivered in one pass through Rust, entering
        Python once per batch rather than once per message; on a quiet stream each batch holds
        one message, so nothing waits for a batch to fill. An exception raised by the callback
        goes to the loop's exception handler (logged by default), is counted in
        ``stats()["callback_errors"]``, and delivery goes on with the next message.

        While the callback runs the I/O thread keeps reading into the bounded queue and keeps
        answering pings. Replaces any callback set before; pass ``None`` to go back to
        ``recv()``.
        """
        self._set_callback(callback, batch=False)

    def on_batch(self, callback: BatchCallback | None) -> None:
        """Deliver messages to ``callback`` as lists, one call per wake-up, in order.

        Like :meth:`on_message`, but the callback receives every message queued at a wake-up
        (up to 2048) in one ``list``, saving one Python call per message: the fastest way to
        consume a busy stream. An exception raised by the callback goes to the loop's exception
        handler and is counted; the messages of that list count as delivered. Replaces any
        callback set before; pass ``None`` to go back to ``recv()``.
        """
        self._set_callback(callback, batch=True)

    def _set_callback(self, callback: Consumer | None, *, batch: bool) -> None:
        self._callback = callback
        self._batch = batch
        if callback is not None:
            # Messages queued before the callback was set must not wait for the next wake-up.
            self._loop.call_soon(self._on_wake)

    async def wait_closed(self) -> None:
        """Wait until the stream has ended, however it ends; never raises for the end."""
        await asyncio.shield(self._closed)

    # ---- wake-ups -----------------------------------------------------------------------

    def _on_wake(self) -> None:
        """Reader callback of the wake-up descriptor: one Python entry per batch."""
        callback = self._callback
        if callback is None:
            self._inbox.clear_wake()
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if self._inbox.terminated:
                # Nothing will be queued any more: recv() now returns what is left, then raises.
                self._finish()
            return
        try:
            drained = self._dispatch_batch(callback) if self._batch else self._dispatch(callback)
        except BaseException:
            # The core left a wake-up pending for whatever is behind the failed delivery.
            self._after_delivery(drained=self._inbox.terminated and self._inbox.queue_len() == 0)
            raise
        self._after_delivery(drained=drained)

    def _after_delivery(self, *, drained: bool) -> None:
        if drained:
            self._finish()
        elif not self._reading:
            # The descriptor is no longer watched (the stream ended in recv() mode and a
            # callback was set afterwards): keep delivering from the loop directly.
            self._loop.call_soon(self._on_wake)

    def _finish(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._inbox.fileno())
        if not self._closed.done():
            self._closed.set_result(None)

    def __del__(self) -> None:
        if getattr(self, "_reading", False) and not self._loop.is_closed():
            self._loop.remove_reader(self._inbox.fileno())
