"""Venues written in Python, composed of small behaviours, running on the Rust core.

A :class:`PythonVenue` says how to reach an exchange and how to read it; a
:class:`~tickwire.Feed` does everything else with the same machinery as the built-in venues:
the Rust session (reconnection with backoff, heartbeats, stale detection), the subscription
tracker (batches of ``batch_size``, paced by the venue's rate limit, answers matched to
requests, retries, resubscription after every reconnect), the books (kept and proven in Rust by
the venue's sequence numbers, resynced by themselves), the handler tables and the broadcast
server.

The venue is the sum of five behaviours. Each has defaults; a venue overrides what differs:

- :class:`ConnectionBehaviour`: the URL, extra upgrade headers, its own reconnect policy, and
  whether a lost connection is worth reconnecting;
- :class:`AuthenticationBehaviour`: credentials, the private channels, and the login messages
  sent first on every connection (none when the venue signs each request instead);
- :class:`SubscriptionBehaviour`: the subscribe and unsubscribe messages for (symbol,
  channel) pairs, the batch size and rate limit;
- :class:`HeartbeatBehaviour`: the venue's application ping and its interval (none by
  default: WebSocket pings are always sent);
- :class:`ParsingBehaviour`: raw message → events (``tickwire.Trade``, ``BBO``,
  ``BookUpdate``, ``Ticker``, the same classes the Rust venues produce; ``Order``, ``Balance``,
  ``Fill`` for private channels; ``Ack`` for answers), the venue's symbol spelling and book
  rule, and the REST snapshot for books that start from one.

Everything runs on the asyncio loop's thread: ``parse`` once per message, and the market events
of a batch go into Rust in one call.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable
from typing import ClassVar, Literal

from .. import _core
from .._core import BookUpdate
from ..events import Channel
from ..session import ReconnectPolicy, SessionEvent
from .credentials import Credentials

__all__ = [
    "AuthenticationBehaviour",
    "BookSync",
    "ConnectionBehaviour",
    "HeartbeatBehaviour",
    "ParsingBehaviour",
    "PythonVenue",
    "Subscription",
    "SubscriptionBehaviour",
    "http_base",
]

#: One subscription: (unified symbol such as ``"BTC/USDT"``, channel).
Subscription = tuple[str, Channel]

#: How a venue's books are proven (see :attr:`ParsingBehaviour.book_sync`).
BookSync = Literal["rest_snapshot", "snapshot_then_range", "snapshot_then_next", "prev_sequence"]


def http_base(ws_url: str) -> str:
    """``http(s)://host:port`` of a WebSocket URL: where a simulator serves a venue's REST
    snapshots too."""
    parts = urllib.parse.urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"


class ConnectionBehaviour:
    """Where the venue is and how its connection is kept.

    Attributes:
        url: The WebSocket URL (a feed's ``urls`` entry for the venue's name replaces it).
        reconnect: The venue's own retry policy; ``None`` takes the feed's.
    """

    url: str = ""
    reconnect: ReconnectPolicy | None = None

    def connect_url(self) -> str:
        """The URL the session connects to, built when the feed opens it (a token or region in
        it, say). Default: :attr:`url`."""
        return self.url

    def headers(self) -> dict[str, str]:
        """Extra HTTP headers of the WebSocket upgrade. Default: none."""
        return {}

    def should_reconnect(self, event: SessionEvent) -> bool:
        """Whether to keep reconnecting after ``event`` (``disconnected`` or
        ``connect_failed``, with the close ``code``/``reason`` where there was one). ``False``
        closes the venue's session for good (a venue saying the key was revoked, say); the
        session's first retry is immediate, so one more attempt may already be under way.
        Default: always reconnect."""
        return True


class AuthenticationBehaviour:
    """Credentials and how the venue is told who we are.

    Attributes:
        credentials: API credentials (:class:`~tickwire.Credentials`), or ``None``. Never
            written in code: ``Credentials.from_env(name)`` or ``Credentials.from_file(name)``.
        private_channels: The channels that need them (``"orders"``, ``"balances"``,
            ``"fills"`` …); subscribing to one without credentials is refused at once.
    """

    credentials: Credentials | None = None
    private_channels: ClassVar[frozenset[str]] = frozenset()

    def authenticate(self) -> list[str | bytes]:
        """Messages sent first on every connection, before any subscription (a login).
        Default: none — for venues that need no login, or that sign each private request in
        :meth:`SubscriptionBehaviour.subscribe_request` instead (Gate.io)."""
        return []


class SubscriptionBehaviour:
    """How subscriptions are asked for.

    Attributes:
        channels: The market-data channels the venue offers (private ones are
            :attr:`AuthenticationBehaviour.private_channels`).
        batch_size: Most (symbol, channel) pairs in one request.
        requests_per_second: Requests the venue accepts per second (sustained).
        burst: Requests that may go at once before the pacing starts.
        confirm_timeout: Seconds to wait for an answer before retrying a request.
        retry_delay: Seconds before a refused or unanswered request is retried.
        max_attempts: Attempts per request before its subscriptions are reported failed (an
            authentication failure is retried no more than this either: no retry storm).
    """

    channels: ClassVar[frozenset[str]] = frozenset({"trades", "bbo", "book", "ticker"})
    batch_size: int = 200
    requests_per_second: float = 5.0
    burst: int = 5
    confirm_timeout: float = 5.0
    retry_delay: float = 1.0
    max_attempts: int = 3

    def subscribe_request(self, request_id: int, subscriptions: list[Subscription]) -> str | bytes | list[str | bytes]:
        """The message (or messages) asking for ``subscriptions``, carrying ``request_id``
        where the venue echoes one."""
        raise NotImplementedError

    def unsubscribe_request(self, request_id: int, subscriptions: list[Subscription]) -> str | bytes | list[str | bytes]:
        """The message (or messages) cancelling ``subscriptions``."""
        raise NotImplementedError

    def answers_expected(self, pairs: int, messages: int) -> int:
        """How many answers (:class:`~tickwire.Ack`) the venue sends to one request of
        ``pairs`` pairs sent as ``messages`` messages, all of which must come before it counts
        as confirmed. Default: one per message."""
        return messages


class HeartbeatBehaviour:
    """The venue's application-level ping, besides WebSocket pings (always sent).

    Attributes:
        app_ping_interval: Seconds between pings while connected; ``None`` sends none.
    """

    app_ping_interval: float | None = None

    def app_ping(self) -> str | bytes:
        """The ping message; its answer reaches :meth:`ParsingBehaviour.parse` like any
        other message."""
        raise NotImplementedError


class ParsingBehaviour:
    """How the venue's messages become events.

    Attributes:
        symbol_separator: How the venue spells a spot symbol: ``""`` (``BTCUSDT``), ``"_"``
            (``BTC_USDT``), ``"-"`` or ``"/"``; events carry it as ``native_symbol``.
        book_sync: How its books are proven, when it supplies the sequence fields:
            ``"snapshot_then_range"`` (a snapshot in the stream, then deltas whose
            ``first_sequence`` is the previous ``last_sequence`` + 1; Gate.io),
            ``"rest_snapshot"`` (deltas with first/last sequence over a REST snapshot,
            Binance's procedure; MEXC), ``"snapshot_then_next"`` (``last_sequence`` + 1 per
            delta), ``"prev_sequence"`` (each delta names the previous one); ``None``: books
            are passed on unchecked and not kept.
    """

    symbol_separator: Literal["", "_", "-", "/"] = ""
    book_sync: BookSync | None = None

    def parse(self, message: str | bytes, receive_time_ns: int) -> Iterable[object]:
        """The events in ``message``: ``tickwire.Trade``, ``BBO``, ``BookUpdate``, ``Ticker``
        (market data, routed and books kept in Rust), ``tickwire.Order``, ``Balance``,
        ``Fill`` (private), ``tickwire.Ack`` (an answer to a request, or a refusal; with
        ``auth_failed`` for a credentials problem). Anything else is ignored. An exception is
        reported through the feed's ``on_error`` and the message is skipped.

        ``receive_time_ns`` (``time.monotonic_ns()`` clock) is when the message's batch
        reached Python, for the events' ``receive_time_ns``."""
        raise NotImplementedError

    def parse_batch(self, messages: list[str | bytes], receive_time_ns: int, on_error: Callable[[BaseException], object]) -> list[object]:
        """The events of a batch of messages, in order: :meth:`parse` of each, a message whose
        ``parse`` raises handed to ``on_error`` and skipped. Override it only to parse a whole
        batch at once faster; the feed calls it once per batch."""
        events: list[object] = []
        add = events.extend
        parse = self.parse
        for message in messages:
            try:
                add(parse(message, receive_time_ns))
            except Exception as error:  # noqa: BLE001 - one bad message is skipped, reported
                on_error(error)
        return events

    def snapshot_url(self, symbol: str) -> str | None:
        """For ``book_sync = "rest_snapshot"``: the REST URL of ``symbol``'s book snapshot.
        Default: ``None`` (books start from the stream)."""
        return None

    def parse_snapshot(self, symbol: str, body: bytes, receive_time_ns: int) -> BookUpdate:
        """The body of :meth:`snapshot_url` as a ``BookUpdate`` with ``is_snapshot`` and the
        snapshot's update id as ``last_sequence``."""
        raise NotImplementedError


class PythonVenue(ConnectionBehaviour, AuthenticationBehaviour, SubscriptionBehaviour, HeartbeatBehaviour, ParsingBehaviour):
    """Base class of a venue written in Python: the five behaviours together. Set ``name``
    and override what the venue does differently; register the class with
    :func:`tickwire.register_venue` to name it like a built-in venue, or pass an instance to
    :meth:`Feed.subscribe <tickwire.Feed.subscribe>`.

    Args:
        url: Replaces the class's :attr:`url` (a simulator's, say).
        credentials: For the private channels.

    Attributes:
        name: The venue's name, as events, metrics and the server carry it (1 to 32 of
            ``a-z0-9_-``).
    """

    name: str = "venue"

    def __init__(self, *, url: str | None = None, credentials: Credentials | None = None) -> None:
        if url is not None:
            self.url = url
        if credentials is not None:
            self.credentials = credentials

    @classmethod
    def name_in_core(cls) -> None:
        """Give the venue's name, symbol spelling and book rule to the Rust core, so events,
        books and the server take its name (again: nothing; other traits under the same name:
        ``ValueError``)."""
        _core.register_venue(cls.name, symbol_separator=cls.symbol_separator, book_sync=cls.book_sync)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.url}>"
