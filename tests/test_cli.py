"""The command line's main job: ``tickwire demo`` streams every venue from the simulator."""

from __future__ import annotations

import re
import subprocess
import urllib.request
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


def test_serve_runs_the_server_fed_by_the_simulator_and_the_dashboard_answers() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tickwire", "serve", "--port", "0", "--venues", "binance,kraken", "--duration", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"dashboard (http://\S+)", first)
        assert match, first
        with urllib.request.urlopen(match.group(1), timeout=5) as response:  # noqa: S310 - loopback
            assert response.status == 200 and b"<html" in response.read().lower()
        rest, errors = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, errors
    counters = [line for line in rest.splitlines() if line.startswith("clients")]
    assert counters and int(re.search(r"published\s+([\d,]+)", counters[-1]).group(1).replace(",", "")) > 100  # type: ignore[union-attr]


def test_serve_refuses_an_unknown_venue() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tickwire", "serve", "--venues", "nope"], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2 and "unknown ['nope']" in done.stderr
