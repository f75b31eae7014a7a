"""The examples in examples/ run and do what their docstrings say."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_the_venues_example_streams_trades_from_both_venues() -> None:
    trades = await _load("venues").run(1.0)
    assert set(trades) == {"binance", "okx"}
    assert all(count > 50 for count in trades.values()), trades


async def test_the_books_example_reports_the_dropped_update_and_keeps_both_books() -> None:
    mids, invalid = await _load("books").run(2.0)
    assert set(mids) == {"binance", "kraken"}
    assert all(mid > 0 for mid in mids.values()), mids
    # Binance numbers its updates: the drop is always seen. Kraken's checksum sees it unless a
    # later update of the same level healed the book first.
    assert any(event.venue == "binance" and event.reason == "gap" for event in invalid), invalid


async def test_the_quickstart_prints_trades_with_the_spread(capsys: pytest.CaptureFixture[str]) -> None:
    await _load("quickstart").main(1.5)
    lines = capsys.readouterr().out.splitlines()
    trades = [line for line in lines if " @ " in line and " spread " in line]
    assert len(trades) > 50, lines[:5]
    assert all(line.split()[0] in ("buy", "sell") for line in trades)


async def test_the_python_venue_example_gets_every_trade_the_built_in_venue_gets() -> None:
    """The dozen-line Binance venue written in Python and the built-in (Rust) one, on two
    connections to the same simulated market: the trades they share are equal field by field
    but for the venue's name."""
    module = _load("python_venue")
    import tickwire

    python_trades: list[tickwire.Trade] = []
    rust_trades: list[tickwire.Trade] = []
    async with tickwire.Simulator(["binance"], ["BTC/USDT"], rate=1_000) as sim:
        feed = tickwire.Feed(urls=sim.urls())
        feed.subscribe(module.BinanceTrades(url=sim.url("binance")), ["BTC/USDT"], ["trades"])
        feed.subscribe("binance", ["BTC/USDT"], ["trades"])
        feed.on_trade(lambda t: (python_trades if t.venue == "binance-py" else rust_trades).append(t))
        async with feed:
            await asyncio.sleep(1.5)

    def key(trade: tickwire.Trade) -> tuple[object, ...]:
        return (trade.symbol, trade.price, trade.qty, trade.side, trade.trade_id, trade.exchange_time_ns)

    by_id = {t.trade_id: key(t) for t in rust_trades}
    shared = [t for t in python_trades if t.trade_id in by_id]
    assert len(shared) >= 0.8 * len(python_trades) and len(shared) > 200
    assert all(key(t) == by_id[t.trade_id] for t in shared)
    assert python_trades[0].native_symbol == "BTCUSDT"
    ids = [int(t.trade_id) for t in python_trades]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # none lost, none twice
