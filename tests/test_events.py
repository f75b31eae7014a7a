"""The event classes built from Python: ``Trade``, ``BBO``, ``BookUpdate`` and ``Ticker``.

Construction (which numbers are accepted), the getters, the native symbol each venue derives,
exact and float views of prices, equality and hashing, immutability and ``repr``.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

import tickwire
from tickwire import BBO, BookUpdate, Ticker, Trade

TICKER_DECIMALS = (
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
)


def trade_args(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "venue": "binance",
        "symbol": "BTC/USDT",
        "price": "67012.50",
        "qty": "0.00150",
        "side": "buy",
        "trade_id": "123456789",
        "exchange_time_ns": 1_700_000_000_123_456_789,
        "receive_time_ns": 42,
    }
    return {**args, **changes}


def bbo_args(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "venue": "okx",
        "symbol": "ETH/USDT-PERP",
        "bid_price": "3001.10",
        "bid_qty": "12",
        "ask_price": "3001.20",
        "ask_qty": "0.5",
        "exchange_time_ns": 1_700_000_000_000_000_001,
        "receive_time_ns": 7,
    }
    return {**args, **changes}


def book_args(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "venue": "kraken",
        "symbol": "BTC/USD",
        "is_snapshot": False,
        "bids": [("45283.5", "0.10000000"), ("45283.4", "0")],
        "asks": [("45285.2", "0.001")],
        "exchange_time_ns": 1_696_613_755_440_295_000,
        "receive_time_ns": 3,
        "first_sequence": 10,
        "last_sequence": 12,
        "prev_sequence": 9,
        "checksum": 3_310_070_434,
    }
    return {**args, **changes}


def ticker_args(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "venue": "coinbase",
        "symbol": "BTC/USD",
        "exchange_time_ns": 1_675_974_637_167_359_596,
        "receive_time_ns": 5,
        **{name: f"{index + 1}.{index}0" for index, name in enumerate(TICKER_DECIMALS)},
    }
    return {**args, **changes}


BUILDERS = {Trade: trade_args, BBO: bbo_args, BookUpdate: book_args, Ticker: ticker_args}


def assert_exact(value: object, text: str) -> None:
    assert isinstance(value, Decimal), type(value)
    assert value.as_tuple() == Decimal(text).as_tuple(), (value, text)


# --- Construction and getters --------------------------------------------------------------------


def test_trade_getters_return_what_was_given() -> None:
    trade = Trade(**trade_args())
    assert trade.venue == "binance"
    assert trade.symbol == "BTC/USDT"
    assert trade.native_symbol == "BTCUSDT"
    assert_exact(trade.price, "67012.50")
    assert_exact(trade.qty, "0.00150")
    assert trade.side == "buy"
    assert trade.trade_id == "123456789"
    assert trade.exchange_time_ns == 1_700_000_000_123_456_789
    assert trade.receive_time_ns == 42
    assert Trade(**trade_args(side="sell")).side == "sell"


def test_trade_positional_arguments_and_default_receive_time() -> None:
    trade = Trade("bybit", "SOL/USDT", "150", "2", "sell", 77, 1_000)
    assert (trade.venue, trade.symbol, trade.native_symbol) == ("bybit", "SOL/USDT", "SOLUSDT")
    assert (trade.price, trade.qty, trade.side) == (Decimal(150), Decimal(2), "sell")
    assert trade.trade_id == "77", "an int trade id becomes its text"
    assert (trade.exchange_time_ns, trade.receive_time_ns) == (1_000, 0)


@pytest.mark.parametrize(
    ("given", "text"),
    [
        ("0.001", "0.001"),
        ("100.500", "100.500"),
        (100, "100"),
        (0, "0"),
        (10**37, "1" + "0" * 37),
        (Decimal("0.00010"), "0.00010"),
        (Decimal("12345678901234567890.123456789012345678"), "12345678901234567890.123456789012345678"),
        ("9" * 38, "9" * 38),
        ("0." + "0" * 37 + "1", "0." + "0" * 37 + "1"),
    ],
)
def test_prices_accept_str_int_and_decimal_exactly(given: object, text: str) -> None:
    trade = Trade(**trade_args(price=given, qty=given))
    assert_exact(trade.price, text)
    assert_exact(trade.qty, text)
    bbo = BBO(**bbo_args(bid_price=given, bid_qty=given, ask_price=given, ask_qty=given))
    for value in (bbo.bid_price, bbo.bid_qty, bbo.ask_price, bbo.ask_qty):
        assert_exact(value, text)
    book = BookUpdate(**book_args(bids=[(given, given)], asks=[(given, given)]))
    assert_exact(book.bids[0][0], text)
    assert_exact(book.asks[0][1], text)
    ticker = Ticker(**ticker_args(last_price=given, change_pct_24h=given))
    assert_exact(ticker.last_price, text)
    assert_exact(ticker.change_pct_24h, text)


def test_decimal_with_an_exponent_keeps_its_value() -> None:
    assert Trade(**trade_args(price=Decimal("1.5E+3"))).price == Decimal(1500)
    assert Trade(**trade_args(price="1E-3")).price == Decimal("0.001")


@pytest.mark.parametrize("bad", [1.5, 0.0, float("nan"), True, False])
def test_float_and_bool_are_refused_everywhere(bad: object) -> None:
    for name in ("price", "qty"):
        with pytest.raises(TypeError):
            Trade(**trade_args(**{name: bad}))
    for name in ("bid_price", "bid_qty", "ask_price", "ask_qty"):
        with pytest.raises(TypeError):
            BBO(**bbo_args(**{name: bad}))
    for levels in ([(bad, "1")], [("1", bad)]):
        with pytest.raises(TypeError):
            BookUpdate(**book_args(bids=levels))
        with pytest.raises(TypeError):
            BookUpdate(**book_args(asks=levels))
    for name in TICKER_DECIMALS:
        with pytest.raises(TypeError):
            Ticker(**ticker_args(**{name: bad}))


@pytest.mark.parametrize(
    "bad",
    ["", "abc", "1.2.3", " 1", "1,5", ".5", "5.", "NaN", "inf", Decimal("NaN"), Decimal("Infinity"), "9" * 39, 10**38],
)
def test_text_that_is_not_a_decimal_is_a_value_error(bad: object) -> None:
    with pytest.raises(ValueError):
        Trade(**trade_args(price=bad))
    with pytest.raises(ValueError):
        BBO(**bbo_args(ask_qty=bad))
    with pytest.raises(ValueError):
        BookUpdate(**book_args(asks=[("1", bad)]))
    with pytest.raises(ValueError):
        Ticker(**ticker_args(volume_24h=bad))


@pytest.mark.parametrize("side", ["BUY", "Sell", "", "long", "b"])
def test_bad_side_is_a_value_error(side: str) -> None:
    with pytest.raises(ValueError):
        Trade(**trade_args(side=side))


def test_trade_id_longer_than_48_bytes_is_a_value_error() -> None:
    assert Trade(**trade_args(trade_id="x" * 48)).trade_id == "x" * 48
    with pytest.raises(ValueError):
        Trade(**trade_args(trade_id="x" * 49))


@pytest.mark.parametrize("venue", ["nope", "", "binance.us", "ftx"])
def test_unknown_venue_is_a_value_error(venue: str) -> None:
    for cls, build in BUILDERS.items():
        with pytest.raises(ValueError):
            cls(**build(venue=venue))


@pytest.mark.parametrize(
    ("venue", "symbol"),
    [
        ("binance", "BTC/USDT-PERP"),  # Binance is mapped for spot only
        ("binance", "BTC/XYZ"),  # not a known quote: BTCXYZ could not be split back
        ("binance", "BTCUSDT"),  # a native symbol, not a unified one
        ("bybit", "BTC/USDT-250328"),  # dated futures are not mapped on Bybit
        ("coinbase", "BTC/USD-PERP"),
        ("kraken", "XBT/USD"),  # Kraken v2 names bitcoin BTC
        ("kraken", "BTC/USD-PERP"),
        ("okx", "BTC-USDT"),
        ("okx", "BTC/USDT-SOON"),
        ("okx", ""),
        ("okx", "/USDT"),
        ("okx", "BTC/"),
        ("okx", "BT C/USDT"),
    ],
)
def test_unmappable_symbol_is_a_value_error(venue: str, symbol: str) -> None:
    for cls, build in BUILDERS.items():
        with pytest.raises(ValueError):
            cls(**build(venue=venue, symbol=symbol))


@pytest.mark.parametrize(
    ("venue", "symbol", "native"),
    [
        ("binance", "BTC/USDT", "BTCUSDT"),
        ("binance", "BNB/BTC", "BNBBTC"),
        ("bybit", "BTC/USDT", "BTCUSDT"),
        ("bybit", "BTC/USDT-PERP", "BTCUSDT"),
        ("okx", "BTC/USDT", "BTC-USDT"),
        ("okx", "BTC/USDT-PERP", "BTC-USDT-SWAP"),
        ("okx", "BTC/USD-250328", "BTC-USD-250328"),
        ("coinbase", "ETH/USD", "ETH-USD"),
        ("kraken", "BTC/USD", "BTC/USD"),
        ("kraken", "MATIC/USD", "MATIC/USD"),
    ],
)
def test_native_symbol_is_derived_per_venue(venue: str, symbol: str, native: str) -> None:
    for cls, build in BUILDERS.items():
        event = cls(**build(venue=venue, symbol=symbol))
        assert (event.venue, event.symbol, event.native_symbol) == (venue, symbol, native), cls


def test_symbols_and_venues_are_canonicalized() -> None:
    trade = Trade(**trade_args(venue="OKX", symbol="btc/usdt-perp"))
    assert (trade.venue, trade.symbol, trade.native_symbol) == ("okx", "BTC/USDT-PERP", "BTC-USDT-SWAP")
    assert trade == Trade(**trade_args(venue="okx", symbol="BTC/USDT-PERP"))


def test_bbo_getters() -> None:
    bbo = BBO(**bbo_args())
    assert (bbo.venue, bbo.symbol, bbo.native_symbol) == ("okx", "ETH/USDT-PERP", "ETH-USDT-SWAP")
    assert_exact(bbo.bid_price, "3001.10")
    assert_exact(bbo.bid_qty, "12")
    assert_exact(bbo.ask_price, "3001.20")
    assert_exact(bbo.ask_qty, "0.5")
    assert bbo.bid_price_float == 3001.1
    assert bbo.ask_price_float == 3001.2
    assert (bbo.exchange_time_ns, bbo.receive_time_ns) == (1_700_000_000_000_000_001, 7)
    assert BBO("binance", "BTC/USDT", "1", "2", "3", "4", 5).receive_time_ns == 0


def test_book_update_levels_in_the_given_order() -> None:
    # Deliberately not sorted: the levels are kept as given, duplicates included.
    bids = [("100.5", "1"), ("101", "2.50"), ("99", "0"), ("101", "3")]
    asks = [(Decimal("103.25"), 7), (102, Decimal("0.0100"))]
    book = BookUpdate(**book_args(bids=bids, asks=asks))
    assert isinstance(book.bids, list) and isinstance(book.asks, list)
    assert all(type(level) is tuple and len(level) == 2 for level in book.bids + book.asks)
    assert [(str(p), str(q)) for p, q in book.bids] == [("100.5", "1"), ("101", "2.50"), ("99", "0"), ("101", "3")]
    assert [(str(p), str(q)) for p, q in book.asks] == [("103.25", "7"), ("102", "0.0100")]
    assert all(isinstance(x, Decimal) for level in book.bids + book.asks for x in level)


def test_book_update_accepts_any_iterable_of_pairs_and_empty_sides() -> None:
    from_generator = BookUpdate(**book_args(bids=(pair for pair in [("2", "1"), ("1", "1")]), asks=()))
    assert from_generator.bids == [(Decimal(2), Decimal(1)), (Decimal(1), Decimal(1))]
    assert from_generator.asks == []
    from_tuple = BookUpdate(**book_args(bids=(("2", "1"), ("1", "1")), asks=iter([])))
    assert from_tuple.bids == from_generator.bids
    assert from_tuple == from_generator


@pytest.mark.parametrize("levels", [[("1",)], [("1", "2", "3")], 5, [5], ["12"]])
def test_book_update_bad_levels_are_refused(levels: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        BookUpdate(**book_args(bids=levels))


def test_book_update_getters_and_optional_sequences() -> None:
    book = BookUpdate(**book_args())
    assert (book.venue, book.symbol, book.native_symbol) == ("kraken", "BTC/USD", "BTC/USD")
    assert book.is_snapshot is False
    assert (book.first_sequence, book.last_sequence, book.prev_sequence) == (10, 12, 9)
    assert book.checksum == 3_310_070_434, "Kraken's unsigned 32-bit checksum fits"
    assert (book.exchange_time_ns, book.receive_time_ns) == (1_696_613_755_440_295_000, 3)
    assert BookUpdate(**book_args(checksum=-855_196_043)).checksum == -855_196_043, "OKX's is signed"

    bare = BookUpdate("binance", "BNB/BTC", True, [], [], 1)
    assert bare.is_snapshot is True
    assert (bare.first_sequence, bare.last_sequence, bare.prev_sequence, bare.checksum) == (None, None, None, None)
    assert (bare.bids, bare.asks, bare.receive_time_ns) == ([], [], 0)
    with pytest.raises(TypeError):
        BookUpdate("binance", "BNB/BTC", True, [], [], 1, 0, 5)  # sequences are keyword-only


def test_ticker_fields_not_given_are_none() -> None:
    bare = Ticker("bybit", "BTC/USDT", 1_673_853_746_003_000_000)
    assert (bare.venue, bare.symbol, bare.native_symbol) == ("bybit", "BTC/USDT", "BTCUSDT")
    assert (bare.exchange_time_ns, bare.receive_time_ns) == (1_673_853_746_003_000_000, 0)
    for name in TICKER_DECIMALS:
        assert getattr(bare, name) is None, name
    for name in TICKER_DECIMALS:
        one = Ticker("bybit", "BTC/USDT", 1, **{name: "1.50"})
        for other in TICKER_DECIMALS:
            value = getattr(one, other)
            if other == name:
                assert_exact(value, "1.50")
            else:
                assert value is None, (name, other)
    explicit_none = Ticker("bybit", "BTC/USDT", 1, last_price=None)
    assert explicit_none.last_price is None
    assert explicit_none == Ticker("bybit", "BTC/USDT", 1)


def test_ticker_getters_return_what_was_given() -> None:
    ticker = Ticker(**ticker_args())
    for index, name in enumerate(TICKER_DECIMALS):
        assert_exact(getattr(ticker, name), f"{index + 1}.{index}0")
    assert Ticker(**ticker_args(change_24h="-0.00017")).change_24h == Decimal("-0.00017")


def test_classes_are_exported_and_final() -> None:
    assert (tickwire.Trade, tickwire.BBO, tickwire.BookUpdate, tickwire.Ticker) == (Trade, BBO, BookUpdate, Ticker)
    for cls in BUILDERS:
        with pytest.raises(TypeError):
            type("Sub", (cls,), {})


# --- Floats --------------------------------------------------------------------------------------

FLOAT_CASES = [
    "0.1",
    "2.675",
    "0.30000000000000004",
    "9007199254740993",  # 2^53 + 1: a tie, to even
    "9007199254740995",
    "1.0000000000000001110223024625156540423",  # just below the midpoint of 1 and the next float
    "1.0000000000000001110223024625156540424",  # just above it
    "123456789012345678901234567890.12345678",
    "0.00000000000000000000000000000000000001",
    "99999999999999999999999999999999999999",
    "67012.50",
    "0",
]


@pytest.mark.parametrize("text", FLOAT_CASES)
def test_float_views_are_the_nearest_float(text: str) -> None:
    expected = float(Decimal(text))
    trade = Trade(**trade_args(price=text, qty=text))
    assert trade.price_float == expected
    assert trade.qty_float == expected
    assert type(trade.price_float) is float
    bbo = BBO(**bbo_args(bid_price=text, ask_price=text))
    assert bbo.bid_price_float == expected
    assert bbo.ask_price_float == expected


def test_float_views_of_random_decimals() -> None:
    rng = random.Random(99)
    for _ in range(3000):
        digits = rng.randint(1, 38)
        mantissa = str(rng.randrange(10 ** (digits - 1), 10**digits))
        scale = rng.randint(0, 38)
        text = mantissa if scale == 0 else f"{mantissa[:-scale] or '0'}.{mantissa[-scale:].rjust(scale, '0')}"
        trade = Trade(**trade_args(price=text))
        assert trade.price_float == float(Decimal(text)), text
        assert trade.price == Decimal(text)


# --- Equality and hashing ------------------------------------------------------------------------

# For each class, a different value for every field it has.
DIFFERENT = {
    Trade: {
        "venue": "bybit",
        "symbol": "ETH/USDT",
        "price": "67012.51",
        "qty": "0.0016",
        "side": "sell",
        "trade_id": "123456790",
        "exchange_time_ns": 1_700_000_000_123_456_790,
        "receive_time_ns": 43,
    },
    BBO: {
        "venue": "bybit",
        "symbol": "BTC/USDT-PERP",
        "bid_price": "3001.11",
        "bid_qty": "13",
        "ask_price": "3001.21",
        "ask_qty": "0.6",
        "exchange_time_ns": 2,
        "receive_time_ns": 8,
    },
    BookUpdate: {
        "venue": "coinbase",
        "symbol": "ETH/USD",
        "is_snapshot": True,
        "bids": [("45283.4", "0"), ("45283.5", "0.10000000")],  # same levels, other order
        "asks": [("45285.2", "0.002")],
        "exchange_time_ns": 1,
        "receive_time_ns": 4,
        "first_sequence": None,
        "last_sequence": 13,
        "prev_sequence": 8,
        "checksum": None,
    },
    Ticker: {
        "venue": "kraken",
        "symbol": "BTC/EUR",
        "exchange_time_ns": 1,
        "receive_time_ns": 6,
        **{name: None for name in TICKER_DECIMALS},
    },
}


@pytest.mark.parametrize("cls", list(BUILDERS), ids=lambda cls: cls.__name__)
def test_equal_fields_make_equal_events_with_equal_hashes(cls: type) -> None:
    build = BUILDERS[cls]
    a, b = cls(**build()), cls(**build())
    assert a is not b
    assert a == b and not (a != b)
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert {a: "x"}[b] == "x"


@pytest.mark.parametrize(
    ("cls", "field"),
    [(cls, field) for cls, changes in DIFFERENT.items() for field in changes],
    ids=lambda value: value.__name__ if isinstance(value, type) else value,
)
def test_any_field_differing_makes_events_unequal(cls: type, field: str) -> None:
    build = BUILDERS[cls]
    changed = build(**{field: DIFFERENT[cls][field]})
    a, b = cls(**build()), cls(**changed)
    assert a != b and not (a == b)
    assert b != a
    assert len({a, b}) == 2


def test_equality_is_by_value_and_hash_agrees() -> None:
    # Decimal('1.0') == Decimal('1.00'): equal events must then hash alike.
    for cls, build, change in [
        (Trade, trade_args, {"price": "67012.5"}),
        (BBO, bbo_args, {"bid_price": "3001.100"}),
        (BookUpdate, book_args, {"bids": [("45283.50", "0.1"), ("45283.4", "0.0")]}),
        (Ticker, ticker_args, {"last_price": "1.000"}),
    ]:
        a, b = cls(**build()), cls(**build(**change))
        assert a == b, cls
        assert hash(a) == hash(b), cls


@pytest.mark.parametrize("cls", list(BUILDERS), ids=lambda cls: cls.__name__)
def test_comparison_with_other_types_is_false_not_an_error(cls: type) -> None:
    event = cls(**BUILDERS[cls]())
    for other in [None, 0, "x", 1.5, Decimal(1), object(), (), [event]]:
        assert (event == other) is False
        assert (event != other) is True
        assert (other == event) is False
    assert event.__eq__(1) is NotImplemented
    for other_cls in BUILDERS:
        if other_cls is not cls:
            assert event != other_cls(**BUILDERS[other_cls]())


# --- Immutability and repr -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", list(BUILDERS), ids=lambda cls: cls.__name__)
def test_events_are_immutable(cls: type) -> None:
    event = cls(**BUILDERS[cls]())
    before = repr(event)
    names = [name for name in dir(cls) if not name.startswith("_")]
    assert "venue" in names and "symbol" in names
    for name in names:
        with pytest.raises(AttributeError):
            setattr(event, name, getattr(event, name))
        with pytest.raises(AttributeError):
            delattr(event, name)
    with pytest.raises(AttributeError):
        event.extra = 1  # type: ignore[attr-defined]
    assert repr(event) == before
    assert event == cls(**BUILDERS[cls]())


def test_levels_returned_are_copies() -> None:
    book = BookUpdate(**book_args())
    bids = book.bids
    bids.clear()
    assert len(book.bids) == 2


def test_repr_shows_the_values() -> None:
    trade = Trade(**trade_args())
    text = repr(trade)
    assert text.startswith("Trade(")
    for part in ["binance", "BTC/USDT", "67012.50", "0.00150", "buy", "123456789", "1700000000123456789"]:
        assert part in text, part

    bbo = repr(BBO(**bbo_args()))
    for part in ["BBO(", "okx", "ETH/USDT-PERP", "3001.10", "3001.20", "12", "0.5"]:
        assert part in bbo, part

    ticker = repr(Ticker(**ticker_args()))
    for part in ["Ticker(", "coinbase", "BTC/USD", "1.00"]:
        assert part in ticker, part

    book = repr(BookUpdate(**book_args()))
    for part in ["BookUpdate(", "kraken", "BTC/USD", "3310070434", "12"]:
        assert part in book, part
