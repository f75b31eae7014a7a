"""The share of a venue written in Python's per-message cost that is its own ``parse``: the
``examples/python_venue.py`` venue parsing the firehose's Binance trade frame, in-process
(timeit, best of 5), to subtract from ``compare.py``'s ``tickwire-pyvenue`` CPU per message —
what is left is tickwire's side (the Rust read path and session, the batch hand-over, the
dispatch into Rust and the routing to the callback).

Run: ``python benches/python_venue_parse.py``.
"""

from __future__ import annotations

import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tickwire  # noqa: E402
from firehose import trade_payload  # noqa: E402
from python_venue import BinanceTrades  # noqa: E402


def main() -> None:
    frame = trade_payload(12345)
    venue = BinanceTrades()
    venue.unified["BTCUSDT"] = "BTC/USDT"
    tickwire._core.register_venue(venue.name)
    batch = [frame] * 2000
    now = time.monotonic_ns()

    def parse_one() -> object:
        return venue.parse(frame, now)

    def parse_batch() -> object:
        return venue.parse_batch(batch, now, print)

    def trade_only() -> object:
        return tickwire.Trade(venue.name, "BTC/USDT", "60000.01000000", "0.50000000", "sell", "12345", 1, now)

    n = 200_000
    one = min(timeit.repeat(parse_one, number=n, repeat=5)) / n * 1e6
    per_batch = min(timeit.repeat(parse_batch, number=50, repeat=5)) / (50 * len(batch)) * 1e6
    trade = min(timeit.repeat(trade_only, number=n, repeat=5)) / n * 1e6
    print(f"parse, one frame:          {one:.3f} µs")
    print(f"parse_batch, per frame:    {per_batch:.3f} µs  (what the feed calls, once per batch)")
    print(f"of which tickwire.Trade(): {trade:.3f} µs  (the normalized, exact-decimal event)")


if __name__ == "__main__":
    main()
