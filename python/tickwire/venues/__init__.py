"""Venues written in Python: the composable base class, credentials, and the registry that
names them like built-in venues.

:func:`register_venue` makes a :class:`PythonVenue` subclass usable by name everywhere a
built-in venue is: ``Feed.subscribe("gateio", …)``, :func:`tickwire.parse`, the command line
(``tickwire stream gateio BTC/USDT``) and the broadcast server. tickwire ships two: Gate.io
(``"gateio"``) and MEXC (``"mexc"``).
"""

from __future__ import annotations

import time

from .. import _core
from .._core import BBO, BookUpdate, Ticker, Trade
from ..events import Balance, Fill, Order
from ..exceptions import ParseError
from .base import (
    AuthenticationBehaviour,
    BookSync,
    ConnectionBehaviour,
    HeartbeatBehaviour,
    ParsingBehaviour,
    PythonVenue,
    Subscription,
    SubscriptionBehaviour,
)
from .credentials import Credentials, CredentialsError

__all__ = [
    "AuthenticationBehaviour",
    "BookSync",
    "ConnectionBehaviour",
    "Credentials",
    "CredentialsError",
    "HeartbeatBehaviour",
    "ParsingBehaviour",
    "PythonVenue",
    "Subscription",
    "SubscriptionBehaviour",
    "register_venue",
    "parse",
    "registered_venue",
    "registered_venues",
]

_REGISTRY: dict[str, type[PythonVenue]] = {}


def register_venue(name: str, venue: type[PythonVenue]) -> None:
    """Name ``venue`` (a :class:`PythonVenue` subclass) ``name``, so feeds, :func:`tickwire.parse`,
    the command line and the server take it like a built-in venue. Its events carry ``name``;
    its ``symbol_separator`` and ``book_sync`` are registered with the Rust core. Registering
    the same class again does nothing.

    Raises:
        TypeError: ``venue`` is not a :class:`PythonVenue` subclass.
        ValueError: A bad name (1 to 32 of ``a-z0-9_-``), a built-in venue's name, a name taken
            by another class, or a ``name`` other than the class's own ``name``.
    """
    if not (isinstance(venue, type) and issubclass(venue, PythonVenue)):
        raise TypeError(f"register_venue takes a PythonVenue subclass, not {venue!r}")
    if venue.name != name:
        raise ValueError(f"{venue.__name__}.name is {venue.name!r}: register it under that name, not {name!r}")
    known = _REGISTRY.get(name)
    if known is not None and known is not venue:
        raise ValueError(f"venue {name!r} is already registered to {known.__module__}.{known.__qualname__}")
    venue.name_in_core()
    _REGISTRY[name] = venue


def registered_venue(name: str) -> type[PythonVenue] | None:
    """The class registered as ``name``, or ``None``."""
    return _REGISTRY.get(name)


def registered_venues() -> dict[str, type[PythonVenue]]:
    """Every registered venue by name."""
    return dict(_REGISTRY)


#: One instance per registered venue for :func:`parse`.
_PARSERS: dict[str, PythonVenue] = {}


def parse(
    venue: str, raw: str | bytes, kind: str = "spot", receive_time_ns: int | None = None
) -> list[Trade | BBO | BookUpdate | Ticker | Order | Balance | Fill]:
    """The events in one message ``raw`` of ``venue``, parsed as a feed parses them: a
    built-in venue's by its Rust adapter (``kind`` ``"spot"`` or ``"perpetual"``), a registered
    venue's by its ``parse`` (one instance per venue, kept). ``[]`` for acks and heartbeats.
    ``receive_time_ns`` defaults to now (``time.monotonic_ns()``).

    Raises:
        ParseError: A malformed message (the raw text kept).
        ValueError: An unknown venue or kind.
    """
    venue_class = _REGISTRY.get(venue)
    if venue_class is None:
        return _core.parse(venue, raw, kind, receive_time_ns)  # type: ignore[return-value]
    parser = _PARSERS.get(venue)
    if parser is None:
        parser = _PARSERS[venue] = venue_class()
    try:
        events = parser.parse(raw, time.monotonic_ns() if receive_time_ns is None else receive_time_ns)
        return [event for event in events if isinstance(event, (Trade, BBO, BookUpdate, Ticker, Order, Balance, Fill))]
    except Exception as error:  # noqa: BLE001 - whatever the venue's parser raised: a ParseError
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        reason = f"{type(error).__name__}: {error}"
        raise ParseError(f"{venue}: cannot parse message: {reason}", "", venue, reason, text) from error


def _register_shipped() -> None:
    """The venues tickwire ships, imported here so their names work from the start."""
    from .gateio import GateioVenue
    from .mexc import MexcVenue

    register_venue("gateio", GateioVenue)
    register_venue("mexc", MexcVenue)
