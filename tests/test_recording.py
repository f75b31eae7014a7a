"""Capture logs: a recording replays as the events its frames hold, survives being cut short,
and refuses files that are damaged or no capture log."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

import tickwire
from tickwire import BBO, BookUpdate, Ticker, Trade
from tickwire.recording import Event, Recorder, Recording, RecordingError, event_fields, replay

ALL_CHANNELS = ["trades", "bbo", "book", "ticker"]


def without_receive_time(event: Event) -> dict[str, object]:
    fields = event_fields(event)
    del fields["receive_time_ns"]
    return fields


async def record(path: Path, url: str, venue: str, symbols: list[str], channels: list[str], seconds: float) -> Recorder:
    recorder = Recorder(path, venue, symbols, channels, url=url)  # type: ignore[arg-type]
    async with recorder:
        await asyncio.wait_for(recorder.wait_connected(), 10)
        await asyncio.sleep(seconds)
    return recorder


async def test_replay_gives_exactly_the_events_the_recorded_frames_hold(tmp_path: Path) -> None:
    """Every recorded frame, parsed by ``tickwire.parse`` independently, gives the events the
    replay yields, in order and field by field, with the frame's recorded receive time."""
    path = tmp_path / "kraken.twrec"
    async with tickwire.Simulator(["kraken"], ["BTC/USD"], rate=500) as sim:
        recorder = await record(path, sim.url("kraken"), "kraken", ["BTC/USD"], ALL_CHANNELS, 1.5)
    recording = Recording(path)
    assert recording.header.venue == "kraken" and recording.header.endpoint == "kraken"
    assert recording.header.subscriptions == tuple(("BTC/USD", channel) for channel in ALL_CHANNELS)
    assert recording.header.url.startswith("ws://127.0.0.1:") and recording.header.kind == "spot"
    records = list(recording.records())
    assert len(records) == recorder.records and not recording.truncated
    # The session's connect is recorded too; Kraken's books need no REST snapshot.
    assert [record.kind for record in records if record.kind != "frame"] == ["session"]
    expected = [
        (event, record.receive_time_ns)
        for record in records
        if record.kind == "frame"
        for event in tickwire.parse("kraken", record.data)
    ]
    replayed = list(replay(path))
    assert [without_receive_time(event) for event in replayed] == [without_receive_time(event) for event, _ in expected]
    assert [event.receive_time_ns for event in replayed] == [received for _, received in expected]
    kinds = Counter(type(event) for event in replayed)
    assert all(kinds[kind] >= 10 for kind in (Trade, BBO, BookUpdate, Ticker)), kinds
    assert list(replay(path)) == replayed  # the same events every time


async def test_replayed_trades_and_book_updates_match_a_live_feed_on_the_same_market(tmp_path: Path) -> None:
    """A recorder and a feed on two connections to one simulated market at the same time.

    The two connections begin and end at slightly different moments, so the comparison is on
    the overlap: trades identified by their trade id, book deltas by their last update id.
    The overlap must be large (most of either side), and every event in it must be equal
    field by field (the receive time aside: each connection reads the frame itself).
    """
    path = tmp_path / "binance.twrec"
    async with tickwire.Simulator(["binance"], ["BTC/USDT"], rate=500) as sim:
        feed = tickwire.Feed(urls=sim.urls())
        feed.subscribe("binance", ["BTC/USDT"], ["trades", "book"])
        live: list[Event] = []
        feed.on_trade(live.append)
        feed.on_book(live.append)
        async with feed:
            await record(path, sim.url("binance"), "binance", ["BTC/USDT"], ["trades", "book"], 2.0)
    replayed = list(replay(path))

    def trades(events: list[Event]) -> dict[str, dict[str, object]]:
        return {e.trade_id: without_receive_time(e) for e in events if isinstance(e, Trade)}

    def deltas(events: list[Event]) -> dict[int | None, dict[str, object]]:
        return {e.last_sequence: without_receive_time(e) for e in events if isinstance(e, BookUpdate) and not e.is_snapshot}

    for key in (trades, deltas):
        live_by_id, replayed_by_id = key(live), key(replayed)
        overlap = live_by_id.keys() & replayed_by_id.keys()
        assert len(overlap) >= 100 and len(overlap) >= 0.8 * len(replayed_by_id), (len(overlap), len(replayed_by_id))
        assert all(live_by_id[i] == replayed_by_id[i] for i in overlap)


async def test_replay_keeps_the_recorded_pace_scaled_by_speed(tmp_path: Path) -> None:
    path = tmp_path / "pace.twrec"
    async with tickwire.Simulator(["binance"], ["BTC/USDT"], rate=100) as sim:
        await record(path, sim.url("binance"), "binance", ["BTC/USDT"], ["trades"], 1.5)
    times = [event.receive_time_ns for event in replay(path)]
    span_s = (times[-1] - times[0]) / 1e9
    assert span_s > 0.8
    started = time.monotonic()
    count = sum(1 for _ in replay(path))
    assert time.monotonic() - started < span_s / 2 and count == len(times)  # speed None: no waiting
    started = time.monotonic()
    async_count = 0
    async for _ in replay(path, speed=4):
        async_count += 1
    assert async_count == len(times)
    assert span_s / 4 * 0.9 <= time.monotonic() - started <= span_s / 4 + 2.0
    with pytest.raises(ValueError, match="speed"):
        replay(path, speed=0)


async def test_a_log_cut_short_replays_up_to_its_last_whole_record(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "full.twrec"
    async with tickwire.Simulator(["binance"], ["BTC/USDT"], rate=500) as sim:
        await record(path, sim.url("binance"), "binance", ["BTC/USDT"], ALL_CHANNELS, 1.0)
    data = path.read_bytes()
    whole = list(Recording(path).records())
    assert len(whole) > 100
    cut = tmp_path / "cut.twrec"
    first_batch = Recording(path)._data_offset  # noqa: SLF001 - where the header ends
    for size in (len(data) - 1, len(data) * 2 // 3, len(data) // 3, first_batch + 10):
        cut.write_bytes(data[:size])
        recording = Recording(cut)
        caplog.clear()
        records = list(recording.records())
        assert recording.truncated
        # Cutting off a batch's checksum alone leaves every record whole.
        assert records == whole[: len(records)] and (len(records) < len(whole) or size == len(data) - 1)
        assert "cut short" in caplog.text
        replayed = replay(cut)
        assert len(list(replayed)) <= len(list(replay(path))) and replayed.truncated
    assert not Recording(path).truncated
    cut.write_bytes(data[: first_batch - 5])
    with pytest.raises(RecordingError, match="cut short inside its header"):
        Recording(cut)


def test_a_damaged_or_foreign_file_is_refused_clearly(tmp_path: Path) -> None:
    foreign = tmp_path / "notes.txt"
    foreign.write_text("just some text\n")
    with pytest.raises(RecordingError, match="not a tickwire capture log"):
        Recording(foreign)
    empty = tmp_path / "empty.twrec"
    empty.write_bytes(b"")
    with pytest.raises(RecordingError, match="not a tickwire capture log"):
        Recording(empty)


async def test_garbage_in_place_of_a_batch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "good.twrec"
    async with tickwire.Simulator(["binance"], ["BTC/USDT"], rate=500) as sim:
        await record(path, sim.url("binance"), "binance", ["BTC/USDT"], ["trades", "book"], 0.5)
    data = bytearray(path.read_bytes())
    middle = Recording(path)._data_offset + 40  # noqa: SLF001 - inside the first batch's zstd frame
    data[middle : middle + 16] = b"\xff" * 16
    damaged = tmp_path / "damaged.twrec"
    damaged.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match="corrupt batch"):
        list(Recording(damaged).records())


def test_a_recorder_refuses_symbols_on_two_endpoints_and_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="different endpoints"):
        Recorder(tmp_path / "x", "bybit", ["BTC/USDT", "BTC/USDT-PERP"])
    with pytest.raises(ValueError, match="unknown venue"):
        Recorder(tmp_path / "x", "nope", ["BTC/USDT"])
    with pytest.raises(ValueError, match="unknown channel"):
        Recorder(tmp_path / "x", "binance", ["BTC/USDT"], ["candles"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="not a unified symbol"):
        Recorder(tmp_path / "x", "binance", ["BTCUSDT"])


async def test_bybit_perpetuals_are_recorded_from_the_linear_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "perp.twrec"
    async with tickwire.Simulator(["bybit"], ["BTC/USDT-PERP"], rate=500) as sim:
        recorder = Recorder(path, "bybit", ["BTC/USDT-PERP"], ["trades"], url=sim.urls()["bybit-linear"])
        assert recorder.endpoint == "bybit-linear"
        async with recorder:
            await asyncio.wait_for(recorder.wait_connected(), 10)
            await asyncio.sleep(1.0)
    header = Recording(path).header
    assert (header.endpoint, header.kind) == ("bybit-linear", "perpetual")
    trades = list(replay(path))
    assert len(trades) > 20 and all(isinstance(t, Trade) and t.symbol == "BTC/USDT-PERP" for t in trades)


@pytest.mark.parametrize("venue", ["gateio", "mexc"])
async def test_a_venue_written_in_python_records_and_replays(tmp_path: Path, venue: str) -> None:
    """The same log format for a registered venue: its frames (MEXC's binary pushes too)
    replay through its own parser, and MEXC's REST book snapshot is recorded and replayed
    where it was fetched."""
    path = tmp_path / f"{venue}.twrec"
    async with tickwire.Simulator([venue], ["BTC/USDT"], rate=500) as sim:
        await record(path, sim.url(venue), venue, ["BTC/USDT"], ["trades", "bbo", "book"], 1.5)
    recording = Recording(path)
    assert recording.header.venue == venue and recording.header.endpoint == venue
    records = list(recording.records())
    frames = [r for r in records if r.kind == "frame"]
    assert any(isinstance(r.data, bytes) for r in frames) == (venue == "mexc")  # protobuf pushes
    expected = [event for r in frames for event in tickwire.parse(venue, r.data, receive_time_ns=r.receive_time_ns)]
    replayed = list(replay(path))
    snapshots = [e for e in replayed if isinstance(e, BookUpdate) and e.is_snapshot]
    if venue == "mexc":  # books from REST: the recorded fetch comes back as the snapshot
        assert [r.kind for r in records].count("snapshot") == 1 and len(snapshots) == 1
        replayed = [e for e in replayed if e not in snapshots]
    else:  # Gate.io's snapshot is in the stream
        assert [r.kind for r in records].count("snapshot") == 0 and len(snapshots) == 1
    assert [without_receive_time(e) for e in replayed] == [without_receive_time(e) for e in expected]
    kinds = Counter(type(event) for event in replayed)
    assert all(kinds[kind] >= 10 for kind in (Trade, BBO, BookUpdate)), kinds
