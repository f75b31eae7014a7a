"""Channels, feed control events, and the events venues written in Python produce.

The built-in venues produce ``tickwire.Trade``, ``BBO``, ``BookUpdate`` and ``Ticker``: Rust
objects with exact ``decimal.Decimal`` prices. A venue written in Python
(:class:`~tickwire.Venue`) produces the msgspec classes of this module with the same field
names, prices and quantities kept as the decimal strings the venue sent (exact;
``Decimal(trade.price)`` as the strategy needs), and a venue name of its own choosing. The two
sets become one when Python venues move onto the Rust model (so their books are checked in
Rust too).

Times are nanoseconds: ``exchange_time_ns`` from the venue, ``receive_time_ns`` on
``time.monotonic_ns()``'s clock when the message was read.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["BBO", "CHANNELS", "Ack", "BookUpdate", "Channel", "Lagged", "Level", "Ticker", "Trade"]

#: The channels a feed subscribes to.
Channel = Literal["trades", "bbo", "book", "ticker"]
#: Every channel, in a fixed order.
CHANNELS: tuple[Channel, ...] = ("trades", "bbo", "book", "ticker")

#: One book level: (price, quantity), quantity ``"0"`` meaning the level is removed.
Level = tuple[str, str]


class Trade(msgspec.Struct, frozen=True, gc=False):
    """A trade. ``side`` is the taker's side: ``"buy"`` or ``"sell"``."""

    venue: str
    symbol: str
    price: str
    qty: str
    side: Literal["buy", "sell"]
    trade_id: str
    exchange_time_ns: int
    receive_time_ns: int = 0


class BBO(msgspec.Struct, frozen=True, gc=False):
    """Best bid and offer."""

    venue: str
    symbol: str
    bid_price: str
    bid_qty: str
    ask_price: str
    ask_qty: str
    exchange_time_ns: int
    receive_time_ns: int = 0


class BookUpdate(msgspec.Struct, frozen=True, gc=False):
    """An L2 book snapshot or delta, levels in wire order."""

    venue: str
    symbol: str
    is_snapshot: bool
    bids: list[Level]
    asks: list[Level]
    sequence: int | None
    exchange_time_ns: int
    receive_time_ns: int = 0


class Ticker(msgspec.Struct, frozen=True, gc=False):
    """A 24-hour ticker."""

    venue: str
    symbol: str
    last_price: str
    volume_24h: str | None
    change_24h: str | None
    exchange_time_ns: int
    receive_time_ns: int = 0


class Ack(msgspec.Struct, frozen=True, gc=False):
    """A venue's answer to a subscription request: accepted, or refused with ``error``."""

    request_id: int
    error: str | None = None


class Lagged(msgspec.Struct, frozen=True, gc=False):
    """Yielded by ``async for event in feed`` in place of ``dropped`` events that were not kept
    because the iterating coroutine fell ``max_pending`` events behind. Callbacks and strategies
    still received them; only the iterator's copy was dropped, and this says how many."""

    dropped: int
