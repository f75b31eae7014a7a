"""Venues registered at run time through ``tickwire._core.register_venue``.

A registered venue's name works where a built-in one's does: the event constructors take it,
map the unified symbol to the venue's native style and give the name back; bad options are a
``ValueError`` naming what is wrong. Registrations are process-wide and permanent, so each
test uses names of its own.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tickwire import _core
from tickwire._core import BBO, BookUpdate, Ticker, Trade


def test_events_take_a_registered_venue_and_name_it() -> None:
    _core.register_venue("gateio", symbol_separator="_", book_sync="snapshot_then_range")
    trade = Trade("gateio", "BTC/USDT", "65000.10", "0.5", "buy", 7, 1_700_000_000_000_000_000)
    assert (trade.venue, trade.symbol, trade.native_symbol) == ("gateio", "BTC/USDT", "BTC_USDT")
    assert trade.price == Decimal("65000.10")
    bbo = BBO("GateIO", "eth/usdt", "1", "2", "3", "4", 0)
    assert (bbo.venue, bbo.symbol, bbo.native_symbol) == ("gateio", "ETH/USDT", "ETH_USDT")
    update = BookUpdate(
        "gateio",
        "BTC/USDT",
        False,
        [("65000", "1")],
        [],
        0,
        first_sequence=101,
        last_sequence=103,
    )
    assert (update.venue, update.native_symbol) == ("gateio", "BTC_USDT")
    assert (update.first_sequence, update.last_sequence) == (101, 103)
    ticker = Ticker("gateio", "SOL/USDT", 0, last_price="150")
    assert (ticker.venue, ticker.native_symbol) == ("gateio", "SOL_USDT")
    assert trade == Trade("gateio", "BTC/USDT", "65000.10", "0.5", "buy", 7, 1_700_000_000_000_000_000)


@pytest.mark.parametrize(
    ("name", "separator", "native"),
    [
        ("reg-plain", "", "BTCUSDT"),
        ("reg-underscore", "_", "BTC_USDT"),
        ("reg-hyphen", "-", "BTC-USDT"),
        ("reg-slash", "/", "BTC/USDT"),
    ],
)
def test_each_separator_gives_its_native_symbol(name: str, separator: str, native: str) -> None:
    _core.register_venue(name, symbol_separator=separator)  # type: ignore[arg-type]
    assert Trade(name, "BTC/USDT", "1", "1", "sell", "x", 0).native_symbol == native


def test_registering_again_is_idempotent_and_conflicts_are_refused() -> None:
    _core.register_venue("mexc", book_sync="rest_snapshot")
    _core.register_venue("mexc", book_sync="rest_snapshot")
    with pytest.raises(ValueError, match=r'venue "mexc" is already registered with'):
        _core.register_venue("mexc", book_sync="snapshot_then_next")
    with pytest.raises(ValueError, match="already registered"):
        _core.register_venue("mexc", symbol_separator="_", book_sync="rest_snapshot")
    assert Trade("mexc", "BTC/USDT", "1", "1", "buy", 1, 0).native_symbol == "BTCUSDT"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "it is empty"),
        ({"name": "Gate"}, "only lower-case"),
        ({"name": "gate.io"}, "only lower-case"),
        ({"name": "x" * 33}, "longer than 32 characters"),
        ({"name": "binance"}, "built-in venue"),
        ({"name": "reg-bad-sep", "symbol_separator": ":"}, 'symbol_separator ":" is not one of'),
        ({"name": "reg-bad-sync", "book_sync": "okx"}, 'book_sync "okx" is not one of rest_snapshot'),
        ({"name": "reg-bad-sync", "book_sync": "checksum"}, "is not one of"),
    ],
)
def test_bad_registrations_are_value_errors(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _core.register_venue(**kwargs)  # type: ignore[arg-type]


def test_registered_venues_map_spot_only_and_have_no_rust_adapter() -> None:
    _core.register_venue("reg-spot", symbol_separator="_")
    with pytest.raises(ValueError, match="perpetual instrument, which tickwire does not map on reg-spot"):
        Trade("reg-spot", "BTC/USDT-PERP", "1", "1", "buy", 1, 0)
    with pytest.raises(ValueError, match="is a registered venue: it has no Rust adapter"):
        _core.parse("reg-spot", "{}")
    with pytest.raises(ValueError, match="no Rust adapter"):
        _core.VenueProtocol("reg-spot")
    with pytest.raises(ValueError, match=r'unknown venue "reg-never" \(expected .* or a registered venue\)'):
        Trade("reg-never", "BTC/USDT", "1", "1", "buy", 1, 0)


def test_a_concatenating_venue_needs_a_known_quote() -> None:
    _core.register_venue("reg-concat")
    with pytest.raises(ValueError, match="not a known quote"):
        Trade("reg-concat", "BTC/XYZ", "1", "1", "buy", 1, 0)
