"""The broadcast server's WebSocket protocol: the one definition.

Every message is a JSON object with ``type``, ``seq`` (the server's sequence number: every
message a server sends takes the next one), ``timestamp`` (ISO 8601, UTC), and optionally
``data`` (the payload of the type) and ``message`` (words for people). The message types
follow the "WebSocket Communication" functional requirements (FR-WEBSOCKET-002), with
``Resume``, ``Resumed``, ``ResyncRequired``, ``BookTop`` and ``MarketTrade`` added.

These msgspec classes are the definition: the Rust server writes what they describe (the tests
decode every message the server sends with :func:`decode_server`), :func:`json_schema`
generates the published JSON Schema (``protocol.schema.json`` in the package, checked to be
current by the tests), and :class:`tickwire.Client` decodes into them.

Server → client: ``Connected``, ``MarketData``, ``ChartUpdate``, ``PositionUpdate``,
``TradeExecuted``, ``AISignalReceived``, ``BotStatusUpdate``, ``Error``, ``Pong``,
``SubscriptionConfirmed``, ``Resumed``, ``ResyncRequired``, ``BookTop``, ``MarketTrade``.
Client → server: ``Ping``, ``Subscribe``, ``Unsubscribe``, ``Resume``.

Delivery: ``TradeExecuted``, ``PositionUpdate`` and ``Error`` are critical: never dropped
silently, kept in a bounded history for ``Resume``. Everything else is market data: a client
that falls behind gets the latest message per type and symbol (and timeframe) instead of every
one.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import msgspec

__all__ = [
    "AISignalReceived",
    "BookTop",
    "BotStatusUpdate",
    "CRITICAL_TYPES",
    "Candle",
    "ChartUpdate",
    "ClientMessage",
    "Connected",
    "Error",
    "MarketData",
    "MarketTrade",
    "PUBLISHABLE_TYPES",
    "Ping",
    "Pong",
    "PositionUpdate",
    "Resume",
    "Resumed",
    "ResyncRequired",
    "ServerMessage",
    "Subscribe",
    "SubscriptionConfirmed",
    "TradeExecuted",
    "Unsubscribe",
    "decode_server",
    "json_schema",
]


# ---- payloads -------------------------------------------------------------------------------


class ConnectedData(msgspec.Struct, frozen=True):
    """What a client learns on connecting."""

    server: str
    version: str
    client_id: int
    heartbeat_interval: float
    #: The server's last sequence number when the client connected.
    last_seq: int
    #: Names the server instance: when it changes, the server restarted and sequence
    #: numbers started again (``Resume`` from an old number is meaningless then). Empty from
    #: servers that do not say.
    instance: str = ""


class MarketDataData(msgspec.Struct, frozen=True):
    """A symbol's price and 24 h statistics (from a venue's ticker)."""

    symbol: str
    price: float
    timestamp: int
    venue: str | None = None
    price_change_24h: float | None = None
    price_change_percent_24h: float | None = None
    volume_24h: float | None = None
    bid: float | None = None
    ask: float | None = None


class Candle(msgspec.Struct, frozen=True):
    """One OHLCV candle; ``timestamp`` is its open time (Unix ms)."""

    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    is_closed: bool


class ChartUpdateData(msgspec.Struct, frozen=True):
    """A candle of a symbol and timeframe, as it grows and when it closes."""

    symbol: str
    timeframe: Literal["1m", "5m", "1h"]
    candle: Candle
    latest_price: float
    timestamp: int
    venue: str | None = None
    price_change_24h: float | None = None
    price_change_percent_24h: float | None = None
    volume_24h: float | None = None


class PositionUpdateData(msgspec.Struct, frozen=True):
    """A position's side, profit and loss."""

    symbol: str
    side: str
    pnl: float
    current_price: float
    unrealized_pnl: float
    timestamp: int


class TradeExecutedData(msgspec.Struct, frozen=True):
    """A trade the strategy executed."""

    symbol: str
    side: str
    quantity: float
    price: float
    timestamp: int
    pnl: float | None = None


class AISignalReceivedData(msgspec.Struct, frozen=True):
    """A model's trading signal."""

    symbol: str
    signal: str
    confidence: float
    timestamp: int
    model_type: str | None = None
    timeframe: str | None = None
    reasoning: str | None = None
    strategy_scores: dict[str, float] | None = None


class BotStatusUpdateData(msgspec.Struct, frozen=True):
    """The bot's health and counters."""

    status: str
    active_positions: int
    total_pnl: float
    total_trades: int
    uptime: float


class ErrorData(msgspec.Struct, frozen=True):
    """An error: words, a machine-readable code (``INVALID_JSON``, ``LAGGED``,
    ``RATE_LIMITED``, ``INVALID_MESSAGE`` …) and details."""

    message: str
    code: str | None = None
    details: Any = None


class SubscriptionData(msgspec.Struct, frozen=True):
    """A client's subscription as it stands: the message types it gets, and the symbols
    (``None``: every symbol, except ``except_symbols``). Messages without a symbol pass the
    symbol filter."""

    channels: list[str]
    symbols: list[str] | None = None
    except_symbols: list[str] = []


class ResumedData(msgspec.Struct, frozen=True):
    """The critical messages after ``from_seq`` that the client missed were sent again."""

    from_seq: int
    replayed: int


class ResyncRequiredData(msgspec.Struct, frozen=True):
    """Critical messages after ``last_seq`` are no longer in the history (it starts at
    ``oldest_seq``): the client must resynchronise its state by other means."""

    last_seq: int
    oldest_seq: int


class BookTopData(msgspec.Struct, frozen=True):
    """The top levels of a symbol's order book, ``[price, qty]`` best first, and whether the
    book is proven valid."""

    symbol: str
    venue: str
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    is_valid: bool
    timestamp: int
    reason: str | None = None


class MarketTradeData(msgspec.Struct, frozen=True):
    """A trade on a venue's market (``side`` is the taker's)."""

    symbol: str
    venue: str
    price: float
    quantity: float
    side: str
    timestamp: int


class SubscribeData(msgspec.Struct, frozen=True):
    """What to add to (``Subscribe``) or remove from (``Unsubscribe``) a subscription."""

    channels: list[str] | None = None
    symbols: list[str] | None = None


class ResumeData(msgspec.Struct, frozen=True):
    """The last sequence number the client received."""

    last_seq: int


# ---- messages -------------------------------------------------------------------------------


class _Server(msgspec.Struct, frozen=True, tag_field="type", kw_only=True):
    seq: int
    timestamp: str
    message: str | None = None


class Connected(_Server, frozen=True, tag="Connected"):
    """Sent once, first, on every connection."""

    data: ConnectedData | None = None


class MarketData(_Server, frozen=True, tag="MarketData"):
    """A symbol's price and 24 h statistics."""

    data: MarketDataData | None = None


class ChartUpdate(_Server, frozen=True, tag="ChartUpdate"):
    """A candle, growing or closed."""

    data: ChartUpdateData | None = None


class PositionUpdate(_Server, frozen=True, tag="PositionUpdate"):
    """A position changed (critical)."""

    data: PositionUpdateData | None = None


class TradeExecuted(_Server, frozen=True, tag="TradeExecuted"):
    """A trade was executed (critical)."""

    data: TradeExecutedData | None = None


class AISignalReceived(_Server, frozen=True, tag="AISignalReceived"):
    """A model's signal."""

    data: AISignalReceivedData | None = None


class BotStatusUpdate(_Server, frozen=True, tag="BotStatusUpdate"):
    """The bot's status."""

    data: BotStatusUpdateData | None = None


class Error(_Server, frozen=True, tag="Error"):
    """An error (critical)."""

    data: ErrorData | None = None


class Pong(_Server, frozen=True, tag="Pong"):
    """The answer to a ``Ping``."""


class SubscriptionConfirmed(_Server, frozen=True, tag="SubscriptionConfirmed"):
    """The subscription after a ``Subscribe`` or ``Unsubscribe``."""

    data: SubscriptionData | None = None


class Resumed(_Server, frozen=True, tag="Resumed"):
    """After a ``Resume``: the missed critical messages have been sent again."""

    data: ResumedData | None = None


class ResyncRequired(_Server, frozen=True, tag="ResyncRequired"):
    """After a ``Resume``: missed critical messages are gone from the history."""

    data: ResyncRequiredData | None = None


class BookTop(_Server, frozen=True, tag="BookTop"):
    """A symbol's top of book."""

    data: BookTopData | None = None


class MarketTrade(_Server, frozen=True, tag="MarketTrade"):
    """A venue trade."""

    data: MarketTradeData | None = None


ServerMessage = (
    Connected
    | MarketData
    | ChartUpdate
    | PositionUpdate
    | TradeExecuted
    | AISignalReceived
    | BotStatusUpdate
    | Error
    | Pong
    | SubscriptionConfirmed
    | Resumed
    | ResyncRequired
    | BookTop
    | MarketTrade
)


class _Client(msgspec.Struct, frozen=True, tag_field="type", kw_only=True):
    timestamp: str | None = None


class Ping(_Client, frozen=True, tag="Ping"):
    """Asks for a ``Pong``."""


class Subscribe(_Client, frozen=True, tag="Subscribe"):
    """Adds channels and symbols; the first that names channels (or symbols) narrows "all" to
    those named."""

    data: SubscribeData = SubscribeData()


class Unsubscribe(_Client, frozen=True, tag="Unsubscribe"):
    """Removes channels and symbols."""

    data: SubscribeData = SubscribeData()


class Resume(_Client, frozen=True, tag="Resume"):
    """After a reconnect: send again the critical messages after ``data.last_seq``."""

    data: ResumeData


ClientMessage = Ping | Subscribe | Unsubscribe | Resume

#: Never dropped silently; kept in the history for ``Resume``.
CRITICAL_TYPES: frozenset[str] = frozenset({"TradeExecuted", "PositionUpdate", "Error"})

#: What ``Server.publish`` accepts, with the payload class of each.
PUBLISHABLE_TYPES: dict[str, type[msgspec.Struct]] = {
    "MarketData": MarketDataData,
    "ChartUpdate": ChartUpdateData,
    "PositionUpdate": PositionUpdateData,
    "TradeExecuted": TradeExecutedData,
    "AISignalReceived": AISignalReceivedData,
    "BotStatusUpdate": BotStatusUpdateData,
    "Error": ErrorData,
    "BookTop": BookTopData,
    "MarketTrade": MarketTradeData,
}

_SERVER_DECODER: msgspec.json.Decoder[ServerMessage] = msgspec.json.Decoder(ServerMessage)


def decode_server(raw: str | bytes) -> ServerMessage:
    """Decodes and validates one server message.

    Raises:
        msgspec.ValidationError: Not a message of this protocol.
    """
    return _SERVER_DECODER.decode(raw)


def json_schema() -> dict[str, Any]:
    """The protocol as a JSON Schema (draft 2020-12): ``server`` and ``client`` messages."""
    (server, client), components = msgspec.json.schema_components(
        [ServerMessage, ClientMessage], ref_template="#/$defs/{name}"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "tickwire broadcast protocol",
        "description": (__doc__ or "").strip().split("\n\n")[1],
        "$defs": components,
        "properties": {"server": server, "client": client},
    }


if __name__ == "__main__":
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
