"""The command line's main job: ``tickwire demo`` streams every venue from the simulator."""

from __future__ import annotations

import re
import subprocess
import sys

VENUES = ("binance", "bybit", "okx", "coinbase", "kraken")


def test_demo_runs_every_venue_and_exits_cleanly() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tickwire", "demo", "--duration", "3", "--rate", "1000"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for venue in VENUES:
        last = [line for line in lines if line.startswith(venue)][-1]
        assert " connected " in last, last
        total = int(re.search(r"total\s+([\d,]+)", last).group(1).replace(",", ""))  # type: ignore[union-attr]
        assert total > 100, last
        assert " books 2/2 valid" in last, last
        assert last.endswith("errors 0"), last
    assert lines[-1].startswith("received ") and all(venue in lines[-1] for venue in VENUES)


def test_demo_refuses_a_bad_duration() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tickwire", "demo", "--duration", "0"], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2 and "--duration must be positive" in done.stderr
