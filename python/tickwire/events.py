"""Channels, the feed's control events, and the private events of venues written in Python.

Market data — ``tickwire.Trade``, ``BBO``, ``BookUpdate``, ``Ticker`` — is the same set of
Rust classes for every venue, built-in or written in Python (exact ``decimal.Decimal``
prices). A venue's private channels give the msgspec classes of this module: :class:`Order`,
:class:`Balance` and :class:`Fill`, amounts as ``decimal.Decimal`` too.

Times are nanoseconds: ``exchange_time_ns`` from the venue (Unix), ``receive_time_ns`` on
``time.monotonic_ns()``'s clock when the message was read.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

__all__ = [
    "CHANNELS",
    "PRIVATE_CHANNELS",
    "Ack",
    "Balance",
    "Channel",
    "Fill",
    "Lagged",
    "Order",
]

#: The channels a feed subscribes to: market data, then a venue's private channels.
Channel = Literal["trades", "bbo", "book", "ticker", "orders", "balances", "fills"]
#: The market-data channels, in a fixed order (every venue has them).
CHANNELS: tuple[Channel, ...] = ("trades", "bbo", "book", "ticker")
#: The private channels a venue written in Python may offer (with credentials).
PRIVATE_CHANNELS: tuple[Channel, ...] = ("orders", "balances", "fills")


class Order(msgspec.Struct, frozen=True, gc=False):
    """A change to one of our orders: placed, (partly) filled, cancelled.

    ``event`` is what happened (``"put"``, ``"update"``, ``"finish"``), ``status`` where the
    order stands (``"open"``, ``"filled"``, ``"cancelled"``); ``filled`` and ``left`` are base
    quantities."""

    venue: str
    symbol: str
    order_id: str
    client_order_id: str
    side: Literal["buy", "sell"]
    type: str
    price: Decimal
    amount: Decimal
    filled: Decimal
    left: Decimal
    status: str
    event: str
    exchange_time_ns: int
    receive_time_ns: int = 0


class Balance(msgspec.Struct, frozen=True, gc=False):
    """One currency's balance after a change (``change`` is the signed amount it changed by)."""

    venue: str
    currency: str
    total: Decimal
    available: Decimal
    change: Decimal
    exchange_time_ns: int
    receive_time_ns: int = 0


class Fill(msgspec.Struct, frozen=True, gc=False):
    """One fill of one of our orders."""

    venue: str
    symbol: str
    order_id: str
    trade_id: str
    side: Literal["buy", "sell"]
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_currency: str
    role: Literal["maker", "taker"]
    exchange_time_ns: int
    receive_time_ns: int = 0


class Ack(msgspec.Struct, frozen=True, gc=False):
    """A venue's answer to a subscription request: accepted, or refused with ``error``;
    ``auth_failed`` when the refusal is about credentials (reported as
    :class:`~tickwire.AuthenticationError`). ``request_id`` ``None``: the venue echoes no id
    and answers in order."""

    request_id: int | None
    error: str | None = None
    auth_failed: bool = False


class Lagged(msgspec.Struct, frozen=True, gc=False):
    """Yielded by ``async for event in feed`` in place of ``dropped`` events that were not kept
    because the iterating coroutine fell ``max_pending`` events behind. Callbacks and strategies
    still received them; only the iterator's copy was dropped, and this says how many."""

    dropped: int
