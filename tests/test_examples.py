"""The examples in examples/ run and do what their docstrings say."""

from __future__ import annotations

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
