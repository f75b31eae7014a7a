"""The command line: ``tickwire demo`` streams every venue from the simulator; ``serve``,
``stream``, ``record`` and ``replay`` do what their help says, with meaningful exit statuses."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import time
import urllib.request
import sys
from pathlib import Path

from tickwire import Simulator

VENUES = ("binance", "bybit", "okx", "coinbase", "kraken")


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tickwire", *args], capture_output=True, text=True, timeout=timeout, check=False)


def run_fetching_the_dashboard(*args: str) -> str:
    """Runs ``tickwire *args``, whose first line names the dashboard's URL; fetches the page
    while the command runs; returns the rest of its stdout once it has exited 0."""
    process = subprocess.Popen([sys.executable, "-m", "tickwire", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
    return rest


def test_demo_runs_every_venue_and_exits_cleanly_with_the_dashboard_answering_meanwhile() -> None:
    rest = run_fetching_the_dashboard("demo", "--duration", "4", "--rate", "1000", "--port", "0")
    lines = rest.splitlines()
    for venue in VENUES:
        last = [line for line in lines if line.startswith(venue)][-1]
        assert " connected " in last, last
        total = int(re.search(r"total\s+([\d,]+)", last).group(1).replace(",", ""))  # type: ignore[union-attr]
        assert total > 100, last
        assert " books 2/2 valid" in last, last
        assert last.endswith("errors 0"), last
    assert lines[-1].startswith("received ") and all(venue in lines[-1] for venue in VENUES)


def test_demo_json_gives_an_object_per_second_and_a_summary() -> None:
    done = run_cli("demo", "--duration", "3", "--rate", "1000", "--port", "0", "--json")
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]  # every line is JSON
    assert "dashboard http://" in done.stderr  # notes for people stay off stdout
    *seconds, last = reports
    assert len(seconds) >= 2 and all(set(report) == {"elapsed_s", "rows"} for report in seconds)
    final = {row["venue"]: row for row in seconds[-1]["rows"]}
    assert set(final) == set(VENUES)
    for row in final.values():
        assert row["connected"] and row["total"] > 100 and row["books_valid"] == row["books"] == 2, row
        assert row["errors"] == 0 and row["p99_us"] >= row["p50_us"] > 0, row
    assert set(last["summary"]["by_venue"]) == set(VENUES) and last["summary"]["events"] >= sum(r["total"] for r in final.values())


def test_demo_quiet_prints_only_the_summary() -> None:
    done = run_cli("demo", "--duration", "2", "--rate", "500", "--port", "0", "--quiet")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 and done.stdout.startswith("received ")


def test_demo_draws_a_live_table_on_a_terminal() -> None:
    """On a terminal (a pseudo-terminal here) the status is a table redrawn in place."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "tickwire", "demo", "--duration", "3", "--rate", "500", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=os.environ | {"COLUMNS": "100", "LINES": "40", "TERM": "xterm-256color"},
    )
    os.close(terminal)
    output = bytearray()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the terminal's other end closed: the demo exited
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode("utf-8", "replace"))
    assert "\x1b[" in output.decode("utf-8", "replace")  # drawn with cursor movement, not lines
    header = [line for line in text.splitlines() if line.split()[:2] == ["venue", "state"]]
    assert header and "p50 µs" in header[-1] and "books" in header[-1], text[-2000:]
    final_table = text[text.rindex("venue "):]
    for venue in VENUES:
        row = next(line for line in final_table.splitlines() if line.split()[:1] == [venue])
        assert row.split()[1] == "up" and "2/2" in row.split(), row
    assert text.rstrip().splitlines()[-1].startswith("received ")


def test_demo_refuses_a_bad_duration() -> None:
    done = run_cli("demo", "--duration", "0", timeout=30)
    assert done.returncode == 2 and "--duration must be positive" in done.stderr


def test_serve_runs_the_server_fed_by_the_simulator_and_the_dashboard_answers() -> None:
    rest = run_fetching_the_dashboard("serve", "--port", "0", "--venues", "binance,kraken", "--duration", "4")
    counters = [line for line in rest.splitlines() if line.startswith("clients")]
    assert counters and int(re.search(r"published\s+([\d,]+)", counters[-1]).group(1).replace(",", "")) > 100  # type: ignore[union-attr]


def test_serve_refuses_an_unknown_venue() -> None:
    done = run_cli("serve", "--venues", "nope", timeout=30)
    assert done.returncode == 2 and "unknown ['nope']" in done.stderr


# ---- stream, record, replay ---------------------------------------------------------------

async def test_stream_prints_the_simulator_s_events_readable_and_as_json() -> None:
    async with Simulator(["binance"], ["BTC/USDT"], rate=300) as sim:
        url = sim.url("binance")
        readable = run_cli("stream", "binance", "BTC/USDT", "--channels", "trades,bbo", "--url", url, "--duration", "2")
        as_json = run_cli("stream", "binance", "BTC/USDT", "--url", url, "--duration", "2", "--json")
    assert readable.returncode == 0, readable.stderr
    lines = readable.stdout.splitlines()
    assert sum(" trade " in line for line in lines) > 20 and sum(" bbo " in line for line in lines) > 20
    assert all(line.split()[1:3] == ["binance", "BTC/USDT"] for line in lines)
    assert as_json.returncode == 0, as_json.stderr
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(events) > 20 and all(e["type"] == "trade" and e["symbol"] == "BTC/USDT" for e in events)


def test_stream_refuses_unknown_names_with_status_2() -> None:
    for args, message in (
        (("nope", "BTC/USDT"), "unknown venue 'nope'"),
        (("binance", "BTCUSDT"), "not a unified symbol"),
        (("binance", "BTC/USDT", "--channels", "trades,candles"), "unknown channel(s) ['candles']"),
    ):
        done = run_cli("stream", *args, timeout=30)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)


def test_stream_gives_up_on_an_unreachable_host_with_the_reason() -> None:
    started = time.monotonic()
    done = run_cli("stream", "binance", "BTC/USDT", "--url", "ws://127.0.0.1:9/stream", "--connect-timeout", "2", timeout=30)
    assert time.monotonic() - started < 15
    assert done.returncode == 1, done.stderr
    assert "could not connect to ws://127.0.0.1:9/stream within 2 s" in done.stderr
    assert "refused" in done.stderr.lower()


async def test_record_then_replay_through_the_command_line(tmp_path: Path) -> None:
    log = tmp_path / "btc.twrec"
    async with Simulator(["binance"], ["BTC/USDT"], rate=300) as sim:
        recorded = run_cli("record", "binance", "BTC/USDT", "-o", str(log), "--channels", "trades,book", "--url", sim.url("binance"), "--duration", "2")
    assert recorded.returncode == 0, recorded.stderr
    assert re.search(r"wrote [\d,]+ frames to ", recorded.stderr)
    readable = run_cli("replay", str(log), "--speed", "max")
    assert readable.returncode == 0, readable.stderr
    assert sum(" trade " in line for line in readable.stdout.splitlines()) > 20 and " book " in readable.stdout
    as_json = run_cli("replay", str(log), "--speed", "max", "--json", "--quiet")
    assert as_json.returncode == 0 and as_json.stderr == ""
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(events) == len(readable.stdout.splitlines()) and {e["type"] for e in events} == {"trade", "book"}

    cut = tmp_path / "cut.twrec"
    cut.write_bytes(log.read_bytes()[: log.stat().st_size * 2 // 3])
    truncated = run_cli("replay", str(cut), "--speed", "max", "--json", "--quiet")
    assert truncated.returncode == 0 and "is cut short" in truncated.stderr
    assert 0 < len(truncated.stdout.splitlines()) < len(events)
    assert truncated.stdout.splitlines() == as_json.stdout.splitlines()[: len(truncated.stdout.splitlines())]

    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello\n")
    done = run_cli("replay", str(foreign))
    assert done.returncode == 2 and "not a tickwire capture log" in done.stderr
    damaged = tmp_path / "damaged.twrec"
    data = bytearray(log.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(range(64))
    damaged.write_bytes(bytes(data))
    done = run_cli("replay", str(damaged), "--speed", "max")
    assert done.returncode == 2 and "corrupt" in done.stderr


async def test_record_stops_on_ctrl_c_with_status_130_and_a_complete_log(tmp_path: Path) -> None:
    log = tmp_path / "interrupted.twrec"
    async with Simulator(["binance"], ["BTC/USDT"], rate=300) as sim:
        process = subprocess.Popen(
            [sys.executable, "-m", "tickwire", "record", "binance", "BTC/USDT", "-o", str(log), "--url", sim.url("binance")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(2.5)
            process.send_signal(signal.SIGINT)
            _, errors = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 130, errors
    done = run_cli("replay", str(log), "--speed", "max", "--quiet")
    assert done.returncode == 0 and done.stderr == "" and len(done.stdout.splitlines()) > 20
