"""``tickwire.parse``: every venue's documented messages, checked field by field against the wire.

Expected values are read from each fixture's own JSON (numbers kept as their text), never
typed in again, so a test states what the venue sent and what that means.
"""

from __future__ import annotations

import calendar
import json
import random
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import tickwire
from tickwire import BBO, BookUpdate, ParseError, Ticker, Trade, parse

FIXTURES = Path(__file__).parent / "fixtures"


def text_of(venue: str, name: str) -> str:
    return (FIXTURES / venue / name).read_text()


def wire(raw: str) -> Any:
    """The message with every number kept as the text the venue wrote."""
    return json.loads(raw, parse_float=str, parse_int=str)


def assert_exact(value: object, text: str) -> None:
    """``value`` is the Decimal the wire text spells: same value, same digits, same scale."""
    assert isinstance(value, Decimal), type(value)
    assert value == Decimal(text)
    assert value.as_tuple() == Decimal(text).as_tuple(), (value, text)


def ms_ns(text: str) -> int:
    return int(text) * 1_000_000


def rfc3339_ns(text: str) -> int:
    """Unix ns of a UTC RFC 3339 time, computed without floats."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z", text)
    assert match, text
    seconds = calendar.timegm(time.strptime(match[1], "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int((match[2] or "").ljust(9, "0"))


def parse_timed(venue: str, raw: str | bytes, kind: str = "spot") -> list[Any]:
    """``parse``, checking that every event's receive time was taken during the call."""
    before = time.monotonic_ns()
    events = parse(venue, raw, kind)
    after = time.monotonic_ns()
    assert isinstance(events, list)
    for event in events:
        assert before <= event.receive_time_ns <= after
    return events


def assert_levels(levels: list[tuple[Decimal, Decimal]], expected: list[tuple[str, str]]) -> None:
    assert isinstance(levels, list)
    assert len(levels) == len(expected)
    for level, (price, qty) in zip(levels, expected, strict=True):
        assert isinstance(level, tuple) and len(level) == 2
        assert_exact(level[0], price)
        assert_exact(level[1], qty)


# --- Binance -------------------------------------------------------------------------------------


def test_binance_trade_field_by_field() -> None:
    raw = text_of("binance", "trades_trade.json")
    data = wire(raw)["data"]
    [trade] = parse_timed("binance", raw)
    assert type(trade) is Trade
    assert trade.venue == "binance"
    assert trade.symbol == "BNB/BTC"
    assert trade.native_symbol == data["s"] == "BNBBTC"
    assert_exact(trade.price, data["p"])
    assert_exact(trade.qty, data["q"])
    assert data["m"] is True
    assert trade.side == "sell", "m: the buyer was the maker, so the taker sold"
    assert trade.trade_id == data["t"] == "12345"
    assert trade.exchange_time_ns == ms_ns(data["T"]) == 1_672_515_782_136_000_000


def test_binance_trade_time_is_the_trade_time_and_m_false_is_a_buy() -> None:
    raw = text_of("binance", "trades_trade.json").replace('"T":1672515782136', '"T":1672515781999')
    raw = raw.replace('"m":true', '"m":false')
    assert wire(raw)["data"]["E"] != wire(raw)["data"]["T"]
    [trade] = parse("binance", raw)
    assert trade.exchange_time_ns == 1_672_515_781_999_000_000, "T, not the event time E"
    assert trade.side == "buy"


def test_binance_raw_stream_payload_parses_like_the_combined_one() -> None:
    raw = text_of("binance", "trades_trade.json")
    payload = json.dumps(json.loads(raw)["data"])
    [combined] = parse("binance", raw)
    [plain] = parse("binance", payload)
    assert fields(plain) == fields(combined)


def test_binance_book_ticker_field_by_field() -> None:
    raw = text_of("binance", "bbo_book_ticker.json")
    data = wire(raw)["data"]
    [bbo] = parse_timed("binance", raw)
    assert type(bbo) is BBO
    assert (bbo.venue, bbo.symbol, bbo.native_symbol) == ("binance", "BNB/USDT", data["s"])
    assert_exact(bbo.bid_price, data["b"])
    assert_exact(bbo.bid_qty, data["B"])
    assert_exact(bbo.ask_price, data["a"])
    assert_exact(bbo.ask_qty, data["A"])
    assert str(bbo.bid_price) == "25.35190000", "trailing zeros kept"
    assert bbo.exchange_time_ns == 0, "bookTicker carries no time"


def test_binance_depth_update_field_by_field() -> None:
    raw = text_of("binance", "book_depth_update.json")
    data = wire(raw)["data"]
    [book] = parse_timed("binance", raw)
    assert type(book) is BookUpdate
    assert (book.venue, book.symbol, book.native_symbol) == ("binance", "BNB/BTC", "BNBBTC")
    assert book.is_snapshot is False
    assert_levels(book.bids, [tuple(level) for level in data["b"]])
    assert_levels(book.asks, [tuple(level) for level in data["a"]])
    assert book.first_sequence == int(data["U"]) == 157
    assert book.last_sequence == int(data["u"]) == 160
    assert book.prev_sequence is None
    assert book.checksum is None
    assert book.exchange_time_ns == ms_ns(data["E"])


def test_binance_ticker_field_by_field() -> None:
    raw = text_of("binance", "ticker_24hr.json")
    data = wire(raw)["data"]
    [ticker] = parse_timed("binance", raw)
    assert type(ticker) is Ticker
    assert (ticker.venue, ticker.symbol, ticker.native_symbol) == ("binance", "BNB/BTC", "BNBBTC")
    for attribute, key in [
        ("last_price", "c"),
        ("bid_price", "b"),
        ("bid_qty", "B"),
        ("ask_price", "a"),
        ("ask_qty", "A"),
        ("open_24h", "o"),
        ("high_24h", "h"),
        ("low_24h", "l"),
        ("volume_24h", "v"),
        ("quote_volume_24h", "q"),
        ("change_24h", "p"),
        ("change_pct_24h", "P"),
    ]:
        assert_exact(getattr(ticker, attribute), data[key])
    assert ticker.exchange_time_ns == ms_ns(data["E"])


@pytest.mark.parametrize(
    "name",
    [
        "control_subscribe_ack.json",
        "control_unsubscribe_ack.json",
        "control_error.json",
        "control_error_flat.json",
        "control_list_subscriptions.json",
        "control_server_shutdown.json",
    ],
)
def test_binance_control_messages_give_no_events(name: str) -> None:
    assert parse("binance", text_of("binance", name)) == []


def test_binance_unknown_streams_give_no_events() -> None:
    for raw in [
        '{"stream":"bnbbtc@kline_1m","data":{"e":"kline","E":1}}',
        '{"stream":"bnbbtc@aggTrade","data":{"e":"aggTrade","a":1}}',
        '{"hello":"world"}',
        "{}",
    ]:
        assert parse("binance", raw) == [], raw


# --- Bybit ---------------------------------------------------------------------------------------


def test_bybit_trade_field_by_field_spot_and_linear() -> None:
    raw = text_of("bybit", "trades_snapshot.json")
    [item] = wire(raw)["data"]
    for kind, symbol in [("spot", "BTC/USDT"), ("linear", "BTC/USDT-PERP"), ("perpetual", "BTC/USDT-PERP")]:
        [trade] = parse_timed("bybit", raw, kind)
        assert type(trade) is Trade
        assert (trade.venue, trade.symbol, trade.native_symbol) == ("bybit", symbol, item["s"])
        assert_exact(trade.price, item["p"])
        assert_exact(trade.qty, item["v"])
        assert item["S"] == "Buy"
        assert trade.side == "buy", "S is the taker's side"
        assert trade.trade_id == item["i"] == "20f43950-d8dd-5b31-9112-a178eb6023af"
        assert trade.exchange_time_ns == ms_ns(item["T"]) != ms_ns(wire(raw)["ts"]), "T, the fill time"


def test_bybit_every_trade_of_a_batch_in_order() -> None:
    raw = (
        '{"topic":"publicTrade.ETHUSDT","type":"snapshot","ts":3,"data":['
        '{"T":1,"s":"ETHUSDT","S":"Sell","v":"1.10","p":"2000","i":"7","BT":false},'
        '{"T":2,"s":"ETHUSDT","S":"Buy","v":"0.5","p":"2000.50","i":"8","BT":false}]}'
    )
    trades = parse("bybit", raw)
    assert [(t.side, t.trade_id, t.exchange_time_ns) for t in trades] == [
        ("sell", "7", 1_000_000),
        ("buy", "8", 2_000_000),
    ]
    assert [str(t.price) for t in trades] == ["2000", "2000.50"]
    assert [str(t.qty) for t in trades] == ["1.10", "0.5"]
    assert {t.symbol for t in trades} == {"ETH/USDT"}


@pytest.mark.parametrize("name", ["book_snapshot.json", "book_delta.json", "book_snapshot_restart.json"])
def test_bybit_book_field_by_field(name: str) -> None:
    raw = text_of("bybit", name)
    message = wire(raw)
    data = message["data"]
    [book] = parse_timed("bybit", raw)
    assert type(book) is BookUpdate
    assert book.venue == "bybit"
    assert book.native_symbol == data["s"]
    assert book.symbol == data["s"].replace("USDT", "/USDT")
    assert book.is_snapshot is (message["type"] == "snapshot")
    assert_levels(book.bids, [tuple(level) for level in data["b"]])
    assert_levels(book.asks, [tuple(level) for level in data["a"]])
    assert book.last_sequence == int(data["u"])
    assert (book.first_sequence, book.prev_sequence, book.checksum) == (None, None, None)
    # cts (matching-engine time) where sent, else ts.
    assert book.exchange_time_ns == ms_ns(message.get("cts", message["ts"]))


def test_bybit_book_delta_keeps_removals_and_uses_cts() -> None:
    [book] = parse("bybit", text_of("bybit", "book_delta.json"))
    assert book.bids[-1] == (Decimal("30240.00"), Decimal("0"))
    assert book.asks[0][1] == 0 and book.asks[3][1] == 0
    assert book.exchange_time_ns == 1_687_940_967_464_000_000
    [restart] = parse("bybit", text_of("bybit", "book_snapshot_restart.json"))
    assert (restart.is_snapshot, restart.last_sequence, restart.symbol) == (True, 1, "ETH/USDT")


def test_bybit_level_one_book_is_a_bbo() -> None:
    raw = text_of("bybit", "bbo_snapshot.json")
    message = wire(raw)
    data = message["data"]
    [bbo] = parse_timed("bybit", raw, "linear")
    assert type(bbo) is BBO
    assert (bbo.venue, bbo.symbol, bbo.native_symbol) == ("bybit", "BTC/USDT-PERP", "BTCUSDT")
    assert_exact(bbo.bid_price, data["b"][0][0])
    assert_exact(bbo.bid_qty, data["b"][0][1])
    assert_exact(bbo.ask_price, data["a"][0][0])
    assert_exact(bbo.ask_qty, data["a"][0][1])
    assert bbo.exchange_time_ns == ms_ns(message["cts"])
    [spot] = parse("bybit", raw)
    assert spot.symbol == "BTC/USDT"


def test_bybit_spot_ticker_field_by_field() -> None:
    raw = text_of("bybit", "ticker_spot_snapshot.json")
    message = wire(raw)
    data = message["data"]
    [ticker] = parse_timed("bybit", raw)
    assert type(ticker) is Ticker
    assert (ticker.venue, ticker.symbol, ticker.native_symbol) == ("bybit", "BTC/USDT", "BTCUSDT")
    assert_exact(ticker.last_price, data["lastPrice"])
    assert_exact(ticker.open_24h, data["prevPrice24h"])
    assert_exact(ticker.high_24h, data["highPrice24h"])
    assert_exact(ticker.low_24h, data["lowPrice24h"])
    assert_exact(ticker.volume_24h, data["volume24h"])
    assert_exact(ticker.quote_volume_24h, data["turnover24h"])
    # price24hPcnt is a fraction (0.0196); the event's change is in percent.
    assert ticker.change_pct_24h == Decimal(data["price24hPcnt"]) * 100 == Decimal("1.96")
    assert (ticker.bid_price, ticker.bid_qty, ticker.ask_price, ticker.ask_qty) == (None, None, None, None)
    assert ticker.change_24h is None
    assert ticker.exchange_time_ns == ms_ns(message["ts"])


def test_bybit_linear_ticker_snapshot_and_delta() -> None:
    raw = text_of("bybit", "ticker_linear_snapshot.json")
    message = wire(raw)
    data = message["data"]
    [ticker] = parse_timed("bybit", raw, "linear")
    assert (ticker.symbol, ticker.native_symbol) == ("BTC/USDT-PERP", "BTCUSDT")
    for attribute, key in [
        ("last_price", "lastPrice"),
        ("bid_price", "bid1Price"),
        ("bid_qty", "bid1Size"),
        ("ask_price", "ask1Price"),
        ("ask_qty", "ask1Size"),
        ("open_24h", "prevPrice24h"),
        ("high_24h", "highPrice24h"),
        ("low_24h", "lowPrice24h"),
        ("volume_24h", "volume24h"),
        ("quote_volume_24h", "turnover24h"),
    ]:
        assert_exact(getattr(ticker, attribute), data[key])
    assert ticker.change_pct_24h == Decimal(data["price24hPcnt"]) * 100 == Decimal("-15.8315")
    assert ticker.exchange_time_ns == ms_ns(message["ts"])

    delta_raw = text_of("bybit", "ticker_linear_delta.json")
    delta = wire(delta_raw)["data"]
    [ticker] = parse("bybit", delta_raw, "linear")
    assert_exact(ticker.last_price, delta["lastPrice"])
    assert_exact(ticker.bid_price, delta["bid1Price"])
    assert_exact(ticker.bid_qty, delta["bid1Size"])
    assert ticker.change_pct_24h == Decimal("-15.8314")
    assert (ticker.ask_price, ticker.ask_qty, ticker.open_24h, ticker.volume_24h) == (None, None, None, None)


@pytest.mark.parametrize(
    "name",
    [
        "ack_linear_subscribe.json",
        "ack_spot_subscribe.json",
        "error_args_size.json",
        "error_unknown_topic.json",
        "pong_linear.json",
        "pong_option.json",
        "pong_spot.json",
    ],
)
def test_bybit_acks_pongs_and_errors_give_no_events(name: str) -> None:
    raw = text_of("bybit", name)
    assert parse("bybit", raw) == []
    assert parse("bybit", raw, "linear") == []


def test_bybit_unknown_topics_give_no_events() -> None:
    assert parse("bybit", '{"topic":"kline.5.BTCUSDT","type":"snapshot","ts":1,"data":[]}') == []
    assert parse("bybit", "{}") == []


# --- OKX -----------------------------------------------------------------------------------------


def test_okx_trade_field_by_field() -> None:
    raw = text_of("okx", "trades_push.json")
    [row] = wire(raw)["data"]
    [trade] = parse_timed("okx", raw)
    assert type(trade) is Trade
    assert (trade.venue, trade.symbol, trade.native_symbol) == ("okx", "BTC/USDT", row["instId"])
    assert_exact(trade.price, row["px"])
    assert_exact(trade.qty, row["sz"])
    assert trade.side == row["side"] == "buy"
    assert trade.trade_id == row["tradeId"]
    assert trade.exchange_time_ns == ms_ns(row["ts"])
    [sell] = parse("okx", raw.replace('"side": "buy"', '"side": "sell"'))
    assert sell.side == "sell"


def test_okx_bbo_tbt_field_by_field() -> None:
    raw = text_of("okx", "bbo-tbt_push.json")
    [row] = wire(raw)["data"]
    [bbo] = parse_timed("okx", raw)
    assert type(bbo) is BBO
    assert (bbo.venue, bbo.symbol, bbo.native_symbol) == ("okx", "BCH/USDT-PERP", "BCH-USDT-SWAP")
    assert_exact(bbo.bid_price, row["bids"][0][0])
    assert_exact(bbo.bid_qty, row["bids"][0][1])
    assert_exact(bbo.ask_price, row["asks"][0][0])
    assert_exact(bbo.ask_qty, row["asks"][0][1])
    assert bbo.exchange_time_ns == ms_ns(row["ts"])


@pytest.mark.parametrize("name", ["books_snapshot.json", "books_update.json"])
def test_okx_books_field_by_field(name: str) -> None:
    raw = text_of("okx", name)
    message = wire(raw)
    [row] = message["data"]
    [book] = parse_timed("okx", raw)
    assert type(book) is BookUpdate
    assert (book.venue, book.symbol, book.native_symbol) == ("okx", "BTC/USDT", "BTC-USDT")
    assert book.is_snapshot is (message["action"] == "snapshot")
    assert_levels(book.bids, [(level[0], level[1]) for level in row["bids"]])
    assert_levels(book.asks, [(level[0], level[1]) for level in row["asks"]])
    assert str(book.asks[1][0]) == "8477" and str(book.bids[3][0]) == "8475.3"
    assert book.first_sequence is None
    assert book.last_sequence == int(row["seqId"])
    # A snapshot's prevSeqId is -1: there is no previous message.
    expected_prev = None if row["prevSeqId"] == "-1" else int(row["prevSeqId"])
    assert book.prev_sequence == expected_prev
    assert book.checksum == int(row["checksum"]) == -855_196_043
    assert book.exchange_time_ns == ms_ns(row["ts"])


def test_okx_books_zero_checksum_is_absent() -> None:
    raw = text_of("okx", "books_update.json").replace("-855196043", "0")
    [book] = parse("okx", raw)
    assert book.checksum is None
    assert (book.prev_sequence, book.last_sequence) == (123_456, 123_457)


def test_okx_ticker_field_by_field() -> None:
    raw = text_of("okx", "tickers_push.json")
    [row] = wire(raw)["data"]
    [ticker] = parse_timed("okx", raw)
    assert type(ticker) is Ticker
    assert (ticker.venue, ticker.symbol, ticker.native_symbol) == ("okx", "BTC/USDT", "BTC-USDT")
    for attribute, key in [
        ("last_price", "last"),
        ("bid_price", "bidPx"),
        ("bid_qty", "bidSz"),
        ("ask_price", "askPx"),
        ("ask_qty", "askSz"),
        ("open_24h", "open24h"),
        ("high_24h", "high24h"),
        ("low_24h", "low24h"),
        ("volume_24h", "vol24h"),
        ("quote_volume_24h", "volCcy24h"),
    ]:
        assert_exact(getattr(ticker, attribute), row[key])
    assert ticker.change_24h == Decimal(row["last"]) - Decimal(row["open24h"])
    assert str(ticker.change_24h) == "999.99"
    assert ticker.change_pct_24h is None
    assert ticker.exchange_time_ns == ms_ns(row["ts"])


@pytest.mark.parametrize(
    "name",
    ["subscribe_ack.json", "error_invalid_request.json", "notice_service_upgrade.json", "subscribe_request.json"],
)
def test_okx_acks_errors_notices_give_no_events(name: str) -> None:
    assert parse("okx", text_of("okx", name)) == []


def test_okx_pong_and_unknown_channels_give_no_events() -> None:
    assert parse("okx", "pong") == []
    assert parse("okx", b"pong") == []
    assert parse("okx", '{"arg":{"channel":"books5","instId":"BTC-USDT"},"data":[]}') == []


# --- Coinbase ------------------------------------------------------------------------------------


def test_coinbase_trade_snapshot_side_is_the_takers() -> None:
    raw = text_of("coinbase", "market_trades_snapshot.json")
    [item] = wire(raw)["events"][0]["trades"]
    [trade] = parse_timed("coinbase", raw)
    assert type(trade) is Trade
    assert (trade.venue, trade.symbol, trade.native_symbol) == ("coinbase", "ETH/USD", item["product_id"])
    assert_exact(trade.price, item["price"])
    assert_exact(trade.qty, item["size"])
    assert item["side"] == "BUY"
    assert trade.side == "sell", "side is the maker's: a maker BUY was hit by a selling taker"
    assert trade.trade_id == item["trade_id"] == "000000000"
    assert trade.exchange_time_ns == rfc3339_ns(item["time"]) == 1_565_815_347_265_000_000


def test_coinbase_trade_update_every_trade_in_order() -> None:
    raw = text_of("coinbase", "market_trades_update.json")
    items = wire(raw)["events"][0]["trades"]
    trades = parse_timed("coinbase", raw)
    assert len(trades) == len(items) == 2
    for trade, item in zip(trades, items, strict=True):
        assert (trade.symbol, trade.native_symbol) == ("BTC/USD", "BTC-USD")
        assert_exact(trade.price, item["price"])
        assert_exact(trade.qty, item["size"])
        assert trade.side == {"BUY": "sell", "SELL": "buy"}[item["side"]]
        assert trade.trade_id == item["trade_id"]
        assert trade.exchange_time_ns == rfc3339_ns(item["time"])
    assert [t.side for t in trades] == ["buy", "sell"]
    assert trades[0].exchange_time_ns == 1_736_892_679_104_385_000


def test_coinbase_ticker_gives_a_bbo_and_a_ticker() -> None:
    raw = text_of("coinbase", "ticker_snapshot.json")
    message = wire(raw)
    [item] = message["events"][0]["tickers"]
    bbo, ticker = parse_timed("coinbase", raw)
    when = rfc3339_ns(message["timestamp"])
    assert when == 1_675_974_637_167_359_596
    assert type(bbo) is BBO and type(ticker) is Ticker
    assert (bbo.venue, bbo.symbol, bbo.native_symbol) == ("coinbase", "BTC/USD", "BTC-USD")
    assert_exact(bbo.bid_price, item["best_bid"])
    assert_exact(bbo.bid_qty, item["best_bid_quantity"])
    assert_exact(bbo.ask_price, item["best_ask"])
    assert_exact(bbo.ask_qty, item["best_ask_quantity"])
    assert bbo.exchange_time_ns == when
    assert (ticker.symbol, ticker.native_symbol) == ("BTC/USD", "BTC-USD")
    assert_exact(ticker.last_price, item["price"])
    assert_exact(ticker.volume_24h, item["volume_24_h"])
    assert_exact(ticker.low_24h, item["low_24_h"])
    assert_exact(ticker.high_24h, item["high_24_h"])
    assert_exact(ticker.change_pct_24h, item["price_percent_chg_24_h"])
    assert_exact(ticker.bid_price, item["best_bid"])
    assert_exact(ticker.bid_qty, item["best_bid_quantity"])
    assert_exact(ticker.ask_price, item["best_ask"])
    assert_exact(ticker.ask_qty, item["best_ask_quantity"])
    assert (ticker.open_24h, ticker.quote_volume_24h, ticker.change_24h) == (None, None, None)
    assert ticker.exchange_time_ns == when


def test_coinbase_level2_snapshot_field_by_field() -> None:
    raw = text_of("coinbase", "level2_snapshot.json")
    message = wire(raw)
    [event] = message["events"]
    [book] = parse_timed("coinbase", raw)
    assert type(book) is BookUpdate
    assert (book.venue, book.symbol, book.native_symbol) == ("coinbase", "BTC/USD", event["product_id"])
    assert book.is_snapshot is True
    assert_levels(book.bids, [(u["price_level"], u["new_quantity"]) for u in event["updates"] if u["side"] == "bid"])
    assert book.asks == []
    assert book.last_sequence == int(message["sequence_num"]) == 0
    assert (book.first_sequence, book.prev_sequence, book.checksum) == (None, None, None)
    # The snapshot's levels carry the epoch as their time: the message's time stands in.
    assert book.exchange_time_ns == rfc3339_ns(message["timestamp"])


def test_coinbase_level2_update_field_by_field() -> None:
    raw = text_of("coinbase", "level2_update.json")
    message = wire(raw)
    [event] = message["events"]
    [book] = parse_timed("coinbase", raw)
    assert book.is_snapshot is False
    assert_levels(book.bids, [(u["price_level"], u["new_quantity"]) for u in event["updates"] if u["side"] == "bid"])
    assert_levels(book.asks, [(u["price_level"], u["new_quantity"]) for u in event["updates"] if u["side"] == "offer"])
    assert book.bids[0][1] == 0
    assert book.last_sequence == int(message["sequence_num"]) == 2
    assert book.prev_sequence is None, "nothing was read before it"
    assert book.exchange_time_ns == max(rfc3339_ns(u["event_time"]) for u in event["updates"])
    assert book.exchange_time_ns == 1_675_974_771_123_456_789


@pytest.mark.parametrize(
    "name", ["heartbeats_message.json", "subscriptions_ack.json", "error_failure_to_subscribe.json"]
)
def test_coinbase_heartbeats_acks_errors_give_no_events(name: str) -> None:
    assert parse("coinbase", text_of("coinbase", name)) == []


# --- Kraken --------------------------------------------------------------------------------------


def test_kraken_trade_field_by_field() -> None:
    raw = text_of("kraken", "trade_update.json")
    [item] = wire(raw)["data"]
    [trade] = parse_timed("kraken", raw)
    assert type(trade) is Trade
    assert (trade.venue, trade.symbol, trade.native_symbol) == ("kraken", "MATIC/USD", item["symbol"])
    assert_exact(trade.price, item["price"])
    assert_exact(trade.qty, item["qty"])
    assert str(trade.qty) == "40.0", "the JSON number's own digits, not a float's"
    assert trade.side == item["side"] == "sell"
    assert trade.trade_id == item["trade_id"] == "4665906"
    assert trade.exchange_time_ns == rfc3339_ns(item["timestamp"]) == 1_695_628_177_708_706_000


@pytest.mark.parametrize("name", ["ticker_snapshot.json", "ticker_update.json"])
def test_kraken_ticker_gives_a_bbo_and_a_ticker(name: str) -> None:
    raw = text_of("kraken", name)
    [item] = wire(raw)["data"]
    bbo, ticker = parse_timed("kraken", raw)
    when = rfc3339_ns(item["timestamp"])
    assert type(bbo) is BBO and type(ticker) is Ticker
    assert (bbo.venue, bbo.symbol, bbo.native_symbol) == ("kraken", "ALGO/USD", "ALGO/USD")
    assert_exact(bbo.bid_price, item["bid"])
    assert_exact(bbo.bid_qty, item["bid_qty"])
    assert_exact(bbo.ask_price, item["ask"])
    assert_exact(bbo.ask_qty, item["ask_qty"])
    assert bbo.exchange_time_ns == when
    for attribute, key in [
        ("last_price", "last"),
        ("bid_price", "bid"),
        ("bid_qty", "bid_qty"),
        ("ask_price", "ask"),
        ("ask_qty", "ask_qty"),
        ("high_24h", "high"),
        ("low_24h", "low"),
        ("volume_24h", "volume"),
        ("change_24h", "change"),
        ("change_pct_24h", "change_pct"),
    ]:
        assert_exact(getattr(ticker, attribute), item[key])
    assert (ticker.open_24h, ticker.quote_volume_24h) == (None, None)
    assert ticker.exchange_time_ns == when


@pytest.mark.parametrize(
    ("name", "checksum"),
    [
        ("book_snapshot.json", 2_439_117_997),
        ("book_snapshot_checksum_guide.json", 3_310_070_434),
        ("book_update.json", 2_114_181_697),
    ],
)
def test_kraken_book_field_by_field(name: str, checksum: int) -> None:
    raw = text_of("kraken", name)
    message = wire(raw)
    [item] = message["data"]
    [book] = parse_timed("kraken", raw)
    assert type(book) is BookUpdate
    assert (book.venue, book.symbol, book.native_symbol) == ("kraken", item["symbol"], item["symbol"])
    assert book.is_snapshot is (message["type"] == "snapshot")
    assert_levels(book.bids, [(level["price"], level["qty"]) for level in item["bids"]])
    assert_levels(book.asks, [(level["price"], level["qty"]) for level in item["asks"]])
    assert book.checksum == int(item["checksum"]) == checksum, "unsigned 32-bit, as sent"
    assert (book.first_sequence, book.last_sequence, book.prev_sequence) == (None, None, None)
    assert book.exchange_time_ns == rfc3339_ns(item["timestamp"])


@pytest.mark.parametrize(
    "name",
    [
        "heartbeat.json",
        "pong.json",
        "status_update.json",
        "subscribe_ack.json",
        "unsubscribe_ack.json",
        "subscribe_error.json",
        "instrument_subscribe_ack.json",
        "instrument_snapshot.json",
    ],
)
def test_kraken_control_messages_give_no_events(name: str) -> None:
    assert parse("kraken", text_of("kraken", name)) == []


def test_kraken_unknown_channel_gives_no_events() -> None:
    assert parse("kraken", '{"channel":"ohlc","type":"update","data":[]}') == []


# --- Every venue ---------------------------------------------------------------------------------

DATA_FIXTURES = [
    ("binance", "trades_trade.json", "spot"),
    ("binance", "bbo_book_ticker.json", "spot"),
    ("binance", "book_depth_update.json", "spot"),
    ("binance", "ticker_24hr.json", "spot"),
    ("bybit", "trades_snapshot.json", "linear"),
    ("bybit", "bbo_snapshot.json", "spot"),
    ("bybit", "book_delta.json", "spot"),
    ("bybit", "book_snapshot.json", "spot"),
    ("bybit", "ticker_linear_snapshot.json", "linear"),
    ("bybit", "ticker_spot_snapshot.json", "spot"),
    ("okx", "trades_push.json", "spot"),
    ("okx", "bbo-tbt_push.json", "spot"),
    ("okx", "books_snapshot.json", "spot"),
    ("okx", "tickers_push.json", "spot"),
    ("coinbase", "market_trades_update.json", "spot"),
    ("coinbase", "ticker_snapshot.json", "spot"),
    ("coinbase", "level2_update.json", "spot"),
    ("kraken", "trade_update.json", "spot"),
    ("kraken", "ticker_snapshot.json", "spot"),
    ("kraken", "book_snapshot.json", "spot"),
]

COMMON = ("venue", "symbol", "native_symbol", "exchange_time_ns")
FIELDS = {
    Trade: (*COMMON, "price", "qty", "price_float", "qty_float", "side", "trade_id"),
    BBO: (*COMMON, "bid_price", "bid_qty", "ask_price", "ask_qty", "bid_price_float", "ask_price_float"),
    BookUpdate: (
        *COMMON,
        "is_snapshot",
        "bids",
        "asks",
        "first_sequence",
        "last_sequence",
        "prev_sequence",
        "checksum",
    ),
    Ticker: (
        *COMMON,
        "last_price",
        "bid_price",
        "bid_qty",
        "ask_price",
        "ask_qty",
        "open_24h",
        "high_24h",
        "low_24h",
        "volume_24h",
        "quote_volume_24h",
        "change_24h",
        "change_pct_24h",
    ),
}


def fields(event: Any) -> tuple[Any, ...]:
    """Every field but the receive time, decimals as their text (so the scale counts)."""

    def exact(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, list):
            return [tuple(exact(part) for part in level) for level in value]
        return value

    return (type(event), *(exact(getattr(event, name)) for name in FIELDS[type(event)]))


@pytest.mark.parametrize(("venue", "name", "kind"), DATA_FIXTURES)
def test_bytes_and_str_give_the_same_events(venue: str, name: str, kind: str) -> None:
    raw = text_of(venue, name)
    from_str = parse(venue, raw, kind)
    from_bytes = parse(venue, raw.encode(), kind)
    assert from_str, "a data message gives events"
    assert [fields(event) for event in from_bytes] == [fields(event) for event in from_str]
    # Apart from the receive time, they are equal events.
    for a, b in zip(from_str, from_bytes, strict=True):
        same_time = type(a)(**{**constructor_args(b), "receive_time_ns": a.receive_time_ns})
        assert same_time == a


def constructor_args(event: Any) -> dict[str, Any]:
    """The keyword arguments rebuilding ``event`` with its class's constructor."""
    names = [n for n in FIELDS[type(event)] if n not in ("native_symbol", "price_float", "qty_float")]
    names = [n for n in names if not n.endswith("_price_float")]
    args = {name: getattr(event, name) for name in names}
    args["receive_time_ns"] = event.receive_time_ns
    return args


def test_parse_is_exported_and_venue_names_ignore_case() -> None:
    assert tickwire.parse is parse
    raw = text_of("binance", "trades_trade.json")
    [upper] = parse("BINANCE", raw)
    assert upper.venue == "binance"
    assert fields(upper) == fields(parse("binance", raw)[0])


# --- Malformed input -----------------------------------------------------------------------------

TRADE_FIXTURES = {
    "binance": "trades_trade.json",
    "bybit": "trades_snapshot.json",
    "okx": "trades_push.json",
    "coinbase": "market_trades_update.json",
    "kraken": "trade_update.json",
}

# (venue, wire text of the price in the trade fixture, how it is written around it)
PRICE_SPOTS = {
    "binance": ('"p":"0.001"', '"p":"{}"'),
    "bybit": ('"p": "16578.50"', '"p": "{}"'),
    "okx": ('"px": "42219.9"', '"px": "{}"'),
    "coinbase": ('"price": "96251.47"', '"price": "{}"'),
    "kraken": ('"price":0.5117', '"price":{}'),
}


def malformed(venue: str) -> list[str]:
    raw = text_of(venue, TRADE_FIXTURES[venue]).strip()
    spot, template = PRICE_SPOTS[venue]
    assert spot in raw
    return [
        "",
        " ",
        "{",
        "not json",
        "\x00\x01\x02",
        raw[: len(raw) // 2],
        raw[:-1],
        raw + "}",
        raw.replace(spot, template.format("9" * 39)),  # 39 significant digits
        raw.replace(spot, template.format("1" + "0" * 38)),  # 10^38: 39 digits
        raw.replace(spot, template.format("0." + "0" * 38 + "1")),  # scale 39
        raw.replace(spot, template.format("abc" if venue != "kraken" else '"abc"')),
        raw.replace(spot, template.format("1.2.3" if venue != "kraken" else '"1.2.3"')),
    ]


@pytest.mark.parametrize("venue", sorted(TRADE_FIXTURES))
def test_malformed_input_raises_parse_error_with_the_whole_input(venue: str) -> None:
    for raw in malformed(venue):
        with pytest.raises(ParseError) as caught:
            parse(venue, raw)
        error = caught.value
        assert isinstance(error, ValueError)
        assert isinstance(error, tickwire.TickwireError)
        assert error.raw == raw
        assert error.venue == venue
        assert error.url == ""
        assert error.reason and error.reason in str(error)
        with pytest.raises(ParseError) as caught_bytes:
            parse(venue, raw.encode())
        assert caught_bytes.value.raw == raw


# Wrong types in otherwise valid messages, one per venue and field kind.
WRONG_TYPES = [
    ("binance", ('"p":"0.001"', '"p":0.001')),
    ("binance", ('"t":12345', '"t":"12345"')),
    ("binance", ('"m":true', '"m":"yes"')),
    ("binance", ('"T":1672515782136', '"T":"1672515782136"')),
    ("bybit", ('"v": "0.001"', '"v": 0.001')),
    ("bybit", ('"T": 1672304486865', '"T": "soon"')),
    ("bybit", ('"S": "Buy"', '"S": "buy-ish"')),
    ("okx", ('"sz": "0.12060306"', '"sz": 0.12060306')),
    ("okx", ('"ts": "1630048897897"', '"ts": "yesterday"')),
    ("okx", ('"side": "buy"', '"side": 1')),
    ("coinbase", ('"size": "0.00049321"', '"size": ["1"]')),
    ("coinbase", ('"time": "2025-01-14T22:11:19.104385Z"', '"time": "2025-13-14T22:11:19Z"')),
    ("coinbase", ('"side": "SELL"', '"side": "SIDEWAYS"')),
    ("kraken", ('"qty":40.0', '"qty":-40.0')),
    ("kraken", ('"timestamp":"2023-09-25T07:49:37.708706Z"', '"timestamp":17')),
    ("kraken", ('"side":"sell"', '"side":null')),
]


@pytest.mark.parametrize(("venue", "edit"), WRONG_TYPES)
def test_wrong_types_raise_parse_error(venue: str, edit: tuple[str, str]) -> None:
    raw = text_of(venue, TRADE_FIXTURES[venue])
    assert edit[0] in raw
    bad = raw.replace(edit[0], edit[1])
    with pytest.raises(ParseError) as caught:
        parse(venue, bad)
    assert (caught.value.raw, caught.value.venue) == (bad, venue)


@pytest.mark.parametrize("venue", sorted(TRADE_FIXTURES))
def test_binary_garbage_raises_parse_error_with_replaced_text(venue: str) -> None:
    valid = text_of(venue, TRADE_FIXTURES[venue]).encode()
    for garbage in [b"\xff\xfe\x00", b"\x80\x81\x82", bytes(range(256)), valid[:20] + b"\xff\xfe" + valid[20:]]:
        with pytest.raises(ParseError) as caught:
            parse(venue, garbage)
        assert caught.value.raw == garbage.decode("utf-8", "replace")
        assert caught.value.venue == venue


def test_unknown_venue_or_kind_is_a_value_error_not_a_parse_error() -> None:
    raw = text_of("binance", "trades_trade.json")
    for venue, kind in [
        ("nope", "spot"),
        ("", "spot"),
        ("binance", "future"),
        ("binance", "SPOT"),
        ("binance", "perpetual"),
        ("coinbase", "perpetual"),
        ("kraken", "linear"),
    ]:
        with pytest.raises(ValueError) as caught:
            parse(venue, raw, kind)
        assert not isinstance(caught.value, ParseError), (venue, kind)


def test_raw_of_another_type_is_a_type_error() -> None:
    raw = text_of("binance", "trades_trade.json")
    for wrong in [12, None, bytearray(raw.encode()), ["x"]]:
        with pytest.raises(TypeError):
            parse("binance", wrong)  # type: ignore[arg-type]


def test_boundaries_of_the_decimal_range_parse_exactly() -> None:
    raw = text_of("binance", "trades_trade.json")
    for text in ["9" * 38, "0." + "0" * 37 + "1", "0." + "1" * 38, "0", "0.000"]:
        [trade] = parse("binance", raw.replace('"p":"0.001"', f'"p":"{text}"'))
        assert_exact(trade.price, text)
        assert format(trade.price, "f") == text


# --- Exactness property --------------------------------------------------------------------------


def random_decimal_text(rng: random.Random) -> str:
    """A plain decimal of 1 to 18 digits at a random scale; a third end in zeros (kept as sent)."""
    digits = rng.randint(1, 18)
    zeros = rng.randint(1, digits) if rng.random() < 0.3 else 0
    mantissa = "".join(rng.choice("0123456789") for _ in range(digits - zeros)) + "0" * zeros
    scale = rng.randint(0, digits)
    whole = mantissa[: digits - scale].lstrip("0") or "0"
    fraction = mantissa[digits - scale :]
    return f"{whole}.{fraction}" if fraction else whole


def test_binance_trades_keep_every_decimal_exactly() -> None:
    rng = random.Random(20261125)
    template = (
        '{{"stream":"btcusdt@trade","data":{{"e":"trade","E":1,"s":"BTCUSDT","t":{id},'
        '"p":"{price}","q":"{qty}","T":{ms},"m":{maker},"M":true}}}}'
    )
    texts = set()
    for _ in range(3000):
        price, qty = random_decimal_text(rng), random_decimal_text(rng)
        texts.add(price)
        trade_id, ms, maker = rng.randrange(2**63), rng.randrange(10**13), rng.random() < 0.5
        raw = template.format(id=trade_id, price=price, qty=qty, ms=ms, maker=str(maker).lower())
        [trade] = parse("binance", raw)
        expected = Decimal(price)
        assert Decimal(str(trade.price)) == expected
        assert trade.price.as_tuple() == expected.as_tuple(), price
        assert format(trade.price, "f") == price
        # str() is the text itself unless Python writes the value in E notation (below 1e-6).
        if expected.adjusted() >= -6:
            assert str(trade.price) == price
        assert trade.qty.as_tuple() == Decimal(qty).as_tuple(), qty
        assert trade.price_float == float(expected)
        assert trade.qty_float == float(Decimal(qty))
        assert trade.trade_id == str(trade_id)
        assert trade.exchange_time_ns == ms * 1_000_000
        assert trade.side == ("sell" if maker else "buy")
    assert len(texts) > 2500
    assert any(t.endswith("0") and "." in t for t in texts), "trailing zeros were generated"
    assert any(len(t.replace(".", "").lstrip("0")) == 18 for t in texts), "18 digits were generated"


def test_kraken_json_numbers_keep_every_decimal_exactly() -> None:
    rng = random.Random(7)
    raw = text_of("kraken", "trade_update.json")
    for _ in range(1000):
        price, qty = random_decimal_text(rng), random_decimal_text(rng)
        message = raw.replace('"price":0.5117', f'"price":{price}').replace('"qty":40.0', f'"qty":{qty}')
        [trade] = parse("kraken", message)
        assert trade.price.as_tuple() == Decimal(price).as_tuple(), price
        assert trade.qty.as_tuple() == Decimal(qty).as_tuple(), qty
        assert trade.price_float == float(Decimal(price))


def test_rfc3339_times_are_exact_to_the_nanosecond() -> None:
    rng = random.Random(3339)
    coinbase = text_of("coinbase", "market_trades_snapshot.json")
    kraken = text_of("kraken", "trade_update.json")
    for _ in range(1000):
        seconds = rng.randrange(0, 4_102_444_800)  # 1970 to 2100
        digits = rng.randint(0, 9)
        fraction = "".join(rng.choice("0123456789") for _ in range(digits))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + (f".{fraction}" if digits else "") + "Z"
        expected = seconds * 1_000_000_000 + int(fraction.ljust(9, "0"))
        assert rfc3339_ns(stamp) == expected
        [trade] = parse("coinbase", coinbase.replace("2019-08-14T20:42:27.265Z", stamp))
        assert trade.exchange_time_ns == expected, stamp
        [trade] = parse("kraken", kraken.replace("2023-09-25T07:49:37.708706Z", stamp))
        assert trade.exchange_time_ns == expected, stamp


def test_coinbase_times_with_an_offset_are_converted_to_utc() -> None:
    raw = text_of("coinbase", "market_trades_snapshot.json")
    [utc] = parse("coinbase", raw)
    for stamp in ["2019-08-14T21:42:27.265+01:00", "2019-08-14T19:12:27.265-01:30"]:
        [trade] = parse("coinbase", raw.replace("2019-08-14T20:42:27.265Z", stamp))
        assert trade.exchange_time_ns == utc.exchange_time_ns == 1_565_815_347_265_000_000


@pytest.mark.parametrize(
    ("venue", "spot", "bad"),
    [
        ("coinbase", "2019-08-14T20:42:27.265Z", "2019-02-29T20:42:27Z"),
        ("coinbase", "2019-08-14T20:42:27.265Z", "1969-12-31T23:59:59Z"),
        ("coinbase", "2019-08-14T20:42:27.265Z", "2019-08-14T20:42:27.1234567890Z"),
        ("kraken", "2023-09-25T07:49:37.708706Z", "2023-09-25T24:00:00Z"),
        ("kraken", "2023-09-25T07:49:37.708706Z", "2023-09-25 07:49:37Z"),
    ],
)
def test_impossible_times_raise_parse_error(venue: str, spot: str, bad: str) -> None:
    name = "market_trades_snapshot.json" if venue == "coinbase" else "trade_update.json"
    raw = text_of(venue, name).replace(spot, bad)
    with pytest.raises(ParseError) as caught:
        parse(venue, raw)
    assert caught.value.raw == raw


# JSON arrays where the venue's documents have objects: each would be read field by field in
# declaration order if the parser took arrays for objects. A venue never sends these shapes.
ARRAYS_FOR_OBJECTS = {
    "binance": [
        '{"stream":"bnbbtc@trade","data":["BNBBTC",12345,"0.001","100",1672515782136,true]}',
    ],
    "bybit": [
        '["publicTrade.BTCUSDT","snapshot",1,null,'
        '[{"T":1,"s":"BTCUSDT","S":"Buy","v":"1","p":"2","i":"x"}],null,null,null,null]',
        "[]",
    ],
    "okx": [
        '[null,null,null,null,["trades","BTC-USDT"],null,'
        '[{"instId":"BTC-USDT","tradeId":"1","px":"1","sz":"1","side":"buy","ts":"1"}]]',
        "[]",
        "[null]",
    ],
    "coinbase": [
        '{"channel":"market_trades","timestamp":"2023-02-09T20:19:35Z","sequence_num":0,"events":'
        '[{"type":"update","trades":[["1","ETH-USD","1","1","BUY","2019-08-14T20:42:27.265Z"]]}]}',
    ],
    "kraken": [
        '["trade","update",[{"symbol":"MATIC/USD","side":"sell","price":0.5,"qty":1,"ord_type":"market",'
        '"trade_id":1,"timestamp":"2023-09-25T07:49:37.708706Z"}],null,null,null,null,null]',
        "[]",
    ],
}


@pytest.mark.parametrize("venue", sorted(ARRAYS_FOR_OBJECTS))
def test_arrays_in_place_of_objects_raise_parse_error(venue: str) -> None:
    for raw in ARRAYS_FOR_OBJECTS[venue]:
        try:
            events = parse(venue, raw)
        except ParseError as error:
            assert (error.raw, error.venue) == (raw, venue)
        else:
            pytest.fail(f"{venue} read a JSON array as an object: {raw} -> {events}")


def test_str_that_is_not_encodable_raises_parse_error() -> None:
    # A lone surrogate has no UTF-8 form: malformed input, like undecodable bytes.
    raw = '{"stream":"\ud800"}'
    with pytest.raises(ParseError) as caught:
        parse("binance", raw)
    assert caught.value.venue == "binance"
    assert caught.value.raw in (raw, raw.encode("utf-8", "replace").decode("utf-8"))


def test_parse_stamps_the_given_receive_time() -> None:
    raw = '{"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"1.5","q":"2","T":1,"m":false,"M":true}'
    [given] = tickwire.parse("binance", raw, receive_time_ns=123_456)
    assert given.receive_time_ns == 123_456
    before = time.monotonic_ns()
    [now] = tickwire.parse("binance", raw)
    assert before <= now.receive_time_ns <= time.monotonic_ns()
    assert (given.price, given.trade_id) == (now.price, now.trade_id)
