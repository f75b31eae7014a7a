"""Venues written in Python: what a :class:`~tickwire.Feed` needs to know about an exchange.

A venue says where to connect, how to ask for subscriptions, and how to turn a message into
events. The feed does the rest: batching subscriptions to ``batch_size`` per request, pacing
requests by the venue's rate limit, matching :class:`~tickwire.events.Ack` answers to requests,
retrying unanswered or refused ones, resubscribing after every reconnect.
"""

from __future__ import annotations

from collections.abc import Iterable

from .events import Channel

__all__ = ["Subscription", "Venue"]

#: One subscription: (unified symbol such as ``"BTC/USDT"``, channel).
Subscription = tuple[str, Channel]


class Venue:
    """Base class of a venue written in Python. Override :meth:`subscribe_request`,
    :meth:`unsubscribe_request` and :meth:`parse`; set the class attributes.

    Attributes:
        name: The venue's name, as events and metrics carry it.
        url: The WebSocket URL.
        batch_size: Most subscriptions in one request.
        requests_per_second: Requests the venue accepts per second (sustained).
        burst: Requests that may go at once before the pacing starts.
        confirm_timeout: Seconds to wait for an answer before retrying a request.
        retry_delay: Seconds before a refused or unanswered request is retried.
        max_attempts: Attempts per request before its subscriptions are reported failed.
        app_ping_interval: Seconds between application-level pings (for venues that want a
            text or JSON ping besides WebSocket pings, such as OKX's ``"ping"``); ``None``
            sends none. The message comes from :meth:`app_ping`.
    """

    name: str = "venue"
    url: str = ""
    batch_size: int = 200
    requests_per_second: float = 5.0
    burst: int = 5
    confirm_timeout: float = 5.0
    retry_delay: float = 1.0
    max_attempts: int = 3
    app_ping_interval: float | None = None

    def app_ping(self) -> str | bytes:
        """The application-level ping message, sent every ``app_ping_interval`` seconds while
        connected. The venue's answer reaches :meth:`parse` like any other message."""
        raise NotImplementedError

    def subscribe_request(self, request_id: int, subscriptions: list[Subscription]) -> str | bytes:
        """The message asking for ``subscriptions``, carrying ``request_id`` for the answer."""
        raise NotImplementedError

    def unsubscribe_request(self, request_id: int, subscriptions: list[Subscription]) -> str | bytes:
        """The message cancelling ``subscriptions``, carrying ``request_id`` for the answer."""
        raise NotImplementedError

    def parse(self, message: str | bytes, receive_time_ns: int) -> Iterable[object]:
        """The events in ``message``: :class:`~tickwire.events.Trade`, ``BBO``, ``BookUpdate``,
        ``Ticker`` and ``Ack``; anything else is ignored. An exception is reported through the
        feed's ``on_error`` and the message is skipped; the feed goes on.

        ``receive_time_ns`` (``time.monotonic_ns()`` clock) is when the message's batch reached
        Python, for the events' ``receive_time_ns``."""
        raise NotImplementedError
