"""Gate.io spot WebSocket v4, written in Python on the Rust core.

Public channels: ``spot.trades`` (trades, the taker's side), ``spot.book_ticker`` (best bid
and offer), ``spot.tickers`` (``ticker``: last price, best bid and ask, 24 h figures) and
``spot.order_book_update`` (the L2 book: a ``full`` snapshot after subscribing, then deltas
``U``…``u`` that must follow on without a gap — the ``snapshot_then_range`` rule, checked in
Rust, resubscribing on a gap). Private channels, with credentials: ``spot.orders``
(``orders``), ``spot.usertrades`` (``fills``: one per fill of our orders, its fee included) and
``spot.balances`` (``balances``); each private request is signed,
``HMAC-SHA512(secret, "channel=<channel>&event=<event>&time=<time>")`` in hex, with the
request's own ``time`` (so every resubscription after a reconnect is signed afresh). A refusal
with Gate's code 4 is an authentication failure (:class:`~tickwire.AuthenticationError`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, ClassVar, Literal

import msgspec

from .._core import BBO, BookUpdate, Ticker, Trade
from ..events import Ack, Balance, Fill, Order
from .base import PythonVenue, Subscription
from .credentials import Credentials

__all__ = ["GateioVenue", "sign"]

#: Channel names by tickwire channel.
_CHANNELS: dict[str, str] = {
    "trades": "spot.trades",
    "bbo": "spot.book_ticker",
    "book": "spot.order_book_update",
    "ticker": "spot.tickers",
    "orders": "spot.orders",
    "fills": "spot.usertrades",
    "balances": "spot.balances",
}
#: Gate's channels whose requests are signed.
_SIGNED = frozenset({"spot.orders", "spot.usertrades", "spot.balances"})
#: Gate's error code for an authentication failure.
AUTH_FAILED = 4


def sign(secret: bytes, channel: str, event: str, timestamp: int) -> str:
    """Gate v4's request signature: hex HMAC-SHA512 of ``channel=…&event=…&time=…``."""
    return hmac.new(secret, f"channel={channel}&event={event}&time={timestamp}".encode(), hashlib.sha512).hexdigest()


class _Error(msgspec.Struct, frozen=True):
    code: int
    message: str = ""


class _Envelope(msgspec.Struct, frozen=True):
    channel: str = ""
    event: str = ""
    id: int | None = None
    time: int = 0
    time_ms: int | None = None
    error: _Error | None = None
    result: msgspec.Raw = msgspec.Raw(b"null")


class _Trade(msgspec.Struct, frozen=True):
    id: int
    create_time_ms: str
    side: Literal["buy", "sell"]
    currency_pair: str
    amount: str
    price: str


class _BookTicker(msgspec.Struct, frozen=True):
    t: int
    s: str
    b: str
    B: str
    a: str
    A: str


class _BookUpdate(msgspec.Struct, frozen=True):
    t: int
    s: str
    U: int
    u: int
    b: list[tuple[str, str]] = []
    a: list[tuple[str, str]] = []
    full: bool = False


class _Order(msgspec.Struct, frozen=True):
    id: str
    currency_pair: str
    side: Literal["buy", "sell"]
    type: str
    amount: Decimal
    price: Decimal
    left: Decimal
    event: str
    update_time_ms: Decimal
    text: str = ""
    finish_as: str = ""


class _Balance(msgspec.Struct, frozen=True):
    currency: str
    total: Decimal
    available: Decimal
    change: Decimal
    timestamp_ms: Decimal


class _Ticker(msgspec.Struct, frozen=True):
    currency_pair: str
    last: str
    lowest_ask: str
    highest_bid: str
    change_percentage: str
    base_volume: str
    quote_volume: str
    high_24h: str
    low_24h: str


class _UserTrade(msgspec.Struct, frozen=True):
    id: int
    order_id: str
    currency_pair: str
    create_time_ms: Decimal
    side: Literal["buy", "sell"]
    amount: Decimal
    role: Literal["maker", "taker"]
    price: Decimal
    fee: Decimal
    fee_currency: str


_envelope = msgspec.json.Decoder(_Envelope)
_trade = msgspec.json.Decoder(_Trade)
_book_ticker = msgspec.json.Decoder(_BookTicker)
_book_update = msgspec.json.Decoder(_BookUpdate)
_orders = msgspec.json.Decoder(list[_Order])
_balances = msgspec.json.Decoder(list[_Balance])
_ticker = msgspec.json.Decoder(_Ticker)
_user_trades = msgspec.json.Decoder(list[_UserTrade])
_encode = msgspec.json.Encoder()


def _unified(pair: str) -> str:
    return pair.replace("_", "/")


def _native(symbol: str) -> str:
    return symbol.replace("/", "_")


def _ms_to_ns(ms: str | Decimal) -> int:
    """Gate's millisecond times, some with decimals (``"1606292218213.4578"``), as Unix ns."""
    return int(Decimal(ms) * 1_000_000)


class GateioVenue(PythonVenue):
    """Gate.io spot v4 (``wss://api.gateio.ws/ws/v4/``): trades, best bid/offer, books, and
    with credentials (``Credentials.from_env("gateio")``: ``TICKWIRE_GATEIO_API_KEY`` and
    ``…_API_SECRET``) our orders, fills and balances."""

    name = "gateio"
    url = "wss://api.gateio.ws/ws/v4/"
    symbol_separator = "_"
    book_sync = "snapshot_then_range"
    private_channels: ClassVar[frozenset[str]] = frozenset({"orders", "fills", "balances"})
    channels: ClassVar[frozenset[str]] = frozenset({"trades", "bbo", "book", "ticker"})
    # One channel per message and, for books, one pair per message (with its update speed).
    batch_size = 100
    requests_per_second = 10.0
    burst = 20
    app_ping_interval = 15.0
    #: The book stream's update speed (``"100ms"``: up to 100 levels a side; ``"20ms"``: 20).
    book_interval = "100ms"

    def app_ping(self) -> str:
        return _encode.encode({"time": int(time.time()), "channel": "spot.ping"}).decode()

    def subscribe_request(self, request_id: int, subscriptions: list[Subscription]) -> list[str | bytes]:
        return self._requests("subscribe", request_id, subscriptions)

    def unsubscribe_request(self, request_id: int, subscriptions: list[Subscription]) -> list[str | bytes]:
        return self._requests("unsubscribe", request_id, subscriptions)

    def _requests(self, event: str, request_id: int, subscriptions: list[Subscription]) -> list[str | bytes]:
        """One message per channel; a book's pair goes alone (with its interval)."""
        by_channel: dict[str, list[str]] = {}
        for symbol, channel in subscriptions:
            by_channel.setdefault(_CHANNELS[channel], []).append(_native(symbol))
        messages: list[str | bytes] = []
        now = int(time.time())
        for gate_channel, pairs in by_channel.items():
            if gate_channel == "spot.order_book_update":
                payloads: list[list[str]] = [[pair, self.book_interval] for pair in pairs]
            elif gate_channel == "spot.balances":
                payloads = [[]]  # the account's balances: no pair
            else:
                payloads = [pairs]
            for payload in payloads:
                request: dict[str, Any] = {"time": now, "id": request_id, "channel": gate_channel, "event": event, "payload": payload}
                if gate_channel in _SIGNED:
                    request["auth"] = self._auth(gate_channel, event, now)
                messages.append(_encode.encode(request).decode())
        return messages

    def _auth(self, channel: str, event: str, timestamp: int) -> dict[str, str]:
        credentials = self.credentials
        if credentials is None:
            credentials = self.credentials = Credentials.from_env(self.name)
        return {"method": "api_key", "KEY": credentials.key, "SIGN": sign(credentials.secret_bytes(), channel, event, timestamp)}

    def parse(self, message: str | bytes, receive_time_ns: int) -> Iterable[object]:
        envelope = _envelope.decode(message)
        event = envelope.event
        if event in ("subscribe", "unsubscribe"):
            error = envelope.error
            if error is None:
                return [Ack(envelope.id)]
            return [Ack(envelope.id, f"Gate.io error {error.code}: {error.message}", auth_failed=error.code == AUTH_FAILED)]
        if event != "update":
            return []  # spot.pong and notices
        channel, raw = envelope.channel, envelope.result
        if channel == "spot.trades":
            trade = _trade.decode(raw)
            return [
                Trade(
                    self.name,
                    _unified(trade.currency_pair),
                    trade.price,
                    trade.amount,
                    trade.side,
                    str(trade.id),
                    _ms_to_ns(trade.create_time_ms),
                    receive_time_ns,
                )
            ]
        if channel == "spot.book_ticker":
            quote = _book_ticker.decode(raw)
            return [BBO(self.name, _unified(quote.s), quote.b, quote.B, quote.a, quote.A, quote.t * 1_000_000, receive_time_ns)]
        if channel == "spot.order_book_update":
            update = _book_update.decode(raw)
            return [
                BookUpdate(
                    self.name,
                    _unified(update.s),
                    update.full,
                    update.b,
                    update.a,
                    update.t * 1_000_000,
                    receive_time_ns,
                    first_sequence=update.U,
                    last_sequence=update.u,
                )
            ]
        if channel == "spot.tickers":
            # The ticker carries no time of its own: the frame's is when Gate sent it.
            time_ms = envelope.time * 1_000 if envelope.time_ms is None else envelope.time_ms
            return [self._ticker(_ticker.decode(raw), time_ms * 1_000_000, receive_time_ns)]
        if channel == "spot.usertrades":
            return [
                Fill(
                    venue=self.name,
                    symbol=_unified(fill.currency_pair),
                    order_id=fill.order_id,
                    trade_id=str(fill.id),
                    side=fill.side,
                    price=fill.price,
                    qty=fill.amount,
                    fee=fill.fee,
                    fee_currency=fill.fee_currency,
                    role=fill.role,
                    exchange_time_ns=_ms_to_ns(fill.create_time_ms),
                    receive_time_ns=receive_time_ns,
                )
                for fill in _user_trades.decode(raw)
            ]
        if channel == "spot.orders":
            return [
                Order(
                    venue=self.name,
                    symbol=_unified(order.currency_pair),
                    order_id=order.id,
                    client_order_id=order.text,
                    side=order.side,
                    type=order.type,
                    price=order.price,
                    amount=order.amount,
                    filled=order.amount - order.left,
                    left=order.left,
                    status=_status(order),
                    event=order.event,
                    exchange_time_ns=_ms_to_ns(order.update_time_ms),
                    receive_time_ns=receive_time_ns,
                )
                for order in _orders.decode(raw)
            ]
        if channel == "spot.balances":
            return [
                Balance(
                    venue=self.name,
                    currency=balance.currency,
                    total=balance.total,
                    available=balance.available,
                    change=balance.change,
                    exchange_time_ns=_ms_to_ns(balance.timestamp_ms),
                    receive_time_ns=receive_time_ns,
                )
                for balance in _balances.decode(raw)
            ]
        return []

    def _ticker(self, ticker: _Ticker, exchange_time_ns: int, receive_time_ns: int) -> Ticker:
        # Gate sends "" for a figure it has none of (an empty book side): no value, not an error.
        return Ticker(
            self.name,
            _unified(ticker.currency_pair),
            exchange_time_ns,
            receive_time_ns,
            last_price=ticker.last or None,
            bid_price=ticker.highest_bid or None,
            ask_price=ticker.lowest_ask or None,
            high_24h=ticker.high_24h or None,
            low_24h=ticker.low_24h or None,
            volume_24h=ticker.base_volume or None,
            quote_volume_24h=ticker.quote_volume or None,
            change_pct_24h=ticker.change_percentage or None,
        )


def _status(order: _Order) -> str:
    if order.event != "finish":
        return "open"
    return "filled" if order.left == 0 or order.finish_as == "filled" else "cancelled"
