"""Errors raised by tickwire.

Every error tickwire raises on purpose derives from :class:`TickwireError`, and each one carries the
URL it concerns. Network failures are also :class:`ConnectionError` and timeouts are also
:class:`TimeoutError`, so code written against the standard library's classes keeps working::

    TickwireError
    ├── NetworkError          (also ConnectionError)  DNS failure, refused, reset, unreachable
    │   └── TlsError                                  certificate or TLS handshake failure
    ├── HandshakeError        (also ConnectionError)  the server refused the WebSocket upgrade
    ├── ConnectionClosed      (also ConnectionError)  the connection is closed; code and reason
    │   └── ProtocolError                             closed because the peer broke RFC 6455
    ├── TickwireTimeoutError  (also TimeoutError)     opening took longer than open_timeout
    ├── SubscriptionError                             a venue refused or never confirmed them
    └── ParseError            (also ValueError)       a message its venue's parser refused

Invalid arguments raise :class:`ValueError` or :class:`TypeError`, as usual in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BookSnapshotError",
    "ConnectionClosed",
    "HandshakeError",
    "NetworkError",
    "ParseError",
    "ProtocolError",
    "SubscriptionError",
    "TickwireError",
    "TickwireTimeoutError",
    "TlsError",
]

#: Close codes that mean "closed on purpose": iteration over a connection ends quietly on these.
NORMAL_CLOSE_CODES = frozenset({1000, 1001})


class TickwireError(Exception):
    """Base class of every error tickwire raises on purpose.

    Attributes:
        url: The WebSocket URL the error concerns.
    """

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class NetworkError(TickwireError, ConnectionError):
    """The network failed: the host name did not resolve, the peer refused or reset the
    connection, or it could not be reached.

    Attributes:
        url: The WebSocket URL the error concerns.
    """


class TlsError(NetworkError):
    """The TLS layer failed: an untrusted or invalid certificate, a name mismatch, an unreadable
    ``ca_file``, or a failed TLS handshake."""


class HandshakeError(TickwireError, ConnectionError):
    """The server did not accept the WebSocket upgrade.

    Attributes:
        url: The WebSocket URL the error concerns.
        status: The HTTP status the server answered with (``403``, ``404`` …), or ``None`` when
            the answer was not a valid HTTP response.
    """

    def __init__(self, message: str, url: str, status: int | None) -> None:
        super().__init__(message, url)
        self.status = status


class ConnectionClosed(TickwireError, ConnectionError):
    """The connection is closed; raised by ``recv()``, ``send()`` and iteration once it is.

    Attributes:
        url: The WebSocket URL of the connection.
        code: The close code: the peer's when it closed first, ours when we did (``1009``
            message too big, ``1007`` invalid UTF-8, ``1002`` protocol error), ``1006`` when the
            TCP connection ended without a closing handshake.
        reason: The close reason, possibly empty.
    """

    def __init__(self, message: str, url: str, code: int, reason: str) -> None:
        super().__init__(message, url)
        self.code = code
        self.reason = reason


class ProtocolError(ConnectionClosed):
    """The peer broke the WebSocket protocol, so tickwire failed the connection with the close
    code RFC 6455 prescribes (``1002``, ``1007`` or ``1009``); ``code`` and ``reason`` say which."""


class TickwireTimeoutError(TickwireError, TimeoutError):
    """Opening the connection (DNS, TCP, TLS and the upgrade) took longer than ``open_timeout``.

    A closing handshake that outlasts ``close_timeout`` raises nothing: the TCP connection is
    dropped and the connection ends with close code 1006.

    Attributes:
        url: The WebSocket URL the error concerns.
        timeout: The limit that ran out, in seconds.
    """

    def __init__(self, message: str, url: str, timeout: float) -> None:
        super().__init__(message, url)
        self.timeout = timeout


class SubscriptionError(TickwireError):
    """A venue refused subscriptions, or never confirmed them, ``attempts`` times in a row; the
    feed stopped asking for them.

    Attributes:
        url: The venue's URL.
        venue: The venue's name.
        subscriptions: The (symbol, channel) pairs given up on.
        reason: The venue's last answer, or the missing confirmation.
        attempts: Requests made for them.
    """

    def __init__(
        self,
        message: str,
        url: str,
        venue: str,
        subscriptions: Sequence[tuple[str, str]],
        reason: str,
        attempts: int,
    ) -> None:
        super().__init__(message, url)
        self.venue = venue
        self.subscriptions = list(subscriptions)
        self.reason = reason
        self.attempts = attempts


class AuthenticationError(SubscriptionError):
    """A venue refused our credentials (a wrong key, a bad signature, a revoked key) for
    private subscriptions, ``attempts`` times in a row; the feed stopped asking. The message
    says what the venue said, never a key or secret.

    Attributes: as :class:`SubscriptionError`.
    """


class BookSnapshotError(TickwireError):
    """A venue's REST book snapshot could not be fetched (unreachable, refused, timed out);
    the book stays invalid and another fetch follows, paced by the feed's resync breaker.

    Attributes:
        url: The snapshot's URL.
        venue: The venue's name.
        symbol: The book's symbol.
    """

    def __init__(self, message: str, url: str, venue: str, symbol: str) -> None:
        super().__init__(message, url)
        self.venue = venue
        self.symbol = symbol


class ParseError(TickwireError, ValueError):
    """A message that is not what its venue's protocol says: malformed JSON, a missing or
    mistyped field, a number that is not a decimal. Raised by :func:`tickwire.parse`; a feed
    reports it through ``on_error`` and goes on with the next message.

    Attributes:
        url: The connection's URL, or ``""`` from :func:`tickwire.parse`.
        venue: The venue whose parser refused the message.
        reason: What was wrong.
        raw: The whole message, as text (bytes decoded as UTF-8, bad bytes replaced).
    """

    def __init__(self, message: str, url: str, venue: str, reason: str, raw: str) -> None:
        super().__init__(message, url)
        self.venue = venue
        self.reason = reason
        self.raw = raw
