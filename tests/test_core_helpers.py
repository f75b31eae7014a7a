"""The compiled helpers ``tickwire._core.Subscriptions`` and ``tickwire._core.LatencyHistogram``.

The logic behind them is tested in Rust (``rust/subscribe/``, ``rust/metrics.rs``); these tests
check the crossing: argument checks, conversions of ids, times and results, and that every
method answers as its stub says.
"""

from __future__ import annotations

import math

import pytest

from tickwire._core import LatencyHistogram, Subscriptions

SECOND_NS = 1_000_000_000
# A realistic time.monotonic_ns() reading, so nothing depends on time starting at zero.
T0 = 1_000 * SECOND_NS


def subscriptions(
    batch_size: int = 200,
    rate_count: int = 1000,
    rate_per: float = 1.0,
    burst: int = 1000,
    confirm_timeout: float = 10.0,
    retry_delay: float = 1.0,
    max_attempts: int = 3,
) -> Subscriptions:
    """A manager whose rate limit stays out of the way unless a test tightens it."""
    return Subscriptions(batch_size, rate_count, rate_per, burst, confirm_timeout, retry_delay, max_attempts)


def send_one(subs: Subscriptions, now_ns: int) -> tuple[int, bool, list[int]]:
    requests = subs.next_requests(now_ns)
    assert len(requests) == 1, requests
    return requests[0]


# Subscriptions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override",
    [
        {"batch_size": 0},
        {"batch_size": -1},
        {"rate_count": 0},
        {"rate_count": 2**32},
        {"burst": 0},
        {"max_attempts": -3},
        {"rate_per": 0.0},
        {"rate_per": -1.0},
        {"confirm_timeout": math.nan},
        {"confirm_timeout": math.inf},
        {"retry_delay": 1e19},
    ],
)
def test_subscriptions_refuse_zero_negative_and_out_of_range_settings(override: dict[str, float]) -> None:
    name = next(iter(override))
    with pytest.raises(ValueError, match=name):
        subscriptions(**override)  # type: ignore[arg-type]


def test_five_hundred_ids_go_out_in_batches_of_at_most_batch_size() -> None:
    subs = subscriptions(batch_size=200)
    assert subs.request(list(range(500))) == 500
    assert subs.request(list(range(500))) == 0, "pending ids are not wanted again"

    requests = subs.next_requests(T0)
    assert [len(ids) for _, _, ids in requests] == [200, 200, 100]
    assert all(is_subscribe for _, is_subscribe, _ in requests)
    sent = [i for _, _, ids in requests for i in ids]
    assert sorted(sent) == list(range(500)), "every id exactly once"
    assert len({request_id for request_id, _, _ in requests}) == 3
    assert subs.counts() == {
        "requested": 500,
        "active": 0,
        "in_flight": 3,
        "retrying": 0,
        "requests_sent": 3,
        "failed_attempts": 0,
    }
    assert subs.next_wakeup_ns() == T0 + 10 * SECOND_NS, "the confirmation deadline"

    for request_id, _, _ in requests:
        assert subs.confirm(request_id) is True
    assert subs.active() == list(range(500))
    assert subs.is_active(0) and subs.is_active(499) and not subs.is_active(500)
    assert subs.next_requests(T0) == []
    assert subs.next_wakeup_ns() is None, "everything settled"
    assert subs.counts()["active"] == 500


def test_the_rate_limit_holds_requests_back() -> None:
    subs = subscriptions(batch_size=1, rate_count=1, rate_per=1.0, burst=2)
    subs.request([1, 2, 3])
    assert len(subs.next_requests(T0)) == 2, "the burst"
    assert subs.next_wakeup_ns() == T0 + SECOND_NS
    assert subs.next_requests(T0 + SECOND_NS - 1) == []
    assert send_one(subs, T0 + SECOND_NS)[2] == [3]


def test_a_rejected_request_is_retried_then_reported_as_a_failure() -> None:
    subs = subscriptions()
    subs.request([7, 8, 9])
    first_id, _, ids = send_one(subs, T0)
    assert subs.reject(first_id, "invalid symbol", T0) is True
    assert subs.counts()["retrying"] == 1
    assert subs.next_wakeup_ns() == T0 + SECOND_NS, "after retry_delay"
    assert subs.next_requests(T0 + SECOND_NS - 1) == []

    now = T0
    request_id = first_id
    for _ in range(2):
        now += SECOND_NS
        retry_id, is_subscribe, retry_ids = send_one(subs, now)
        assert (is_subscribe, retry_ids) == (True, ids)
        assert retry_id > request_id, "every attempt has its own request id"
        assert subs.take_failures() == []
        assert subs.reject(retry_id, "invalid symbol", now) is True
        request_id = retry_id

    assert subs.take_failures() == [(True, [7, 8, 9], "rejected: invalid symbol", 3)]
    assert subs.take_failures() == [], "failures are handed out once"
    assert subs.active() == [] and subs.counts()["requested"] == 0
    assert subs.counts()["failed_attempts"] == 3
    assert subs.request([7]) == 1, "a failed id can be asked for again"


def test_unknown_request_ids_answer_false_without_raising() -> None:
    subs = subscriptions()
    subs.request([1])
    request_id, _, _ = send_one(subs, T0)
    for unknown in (request_id + 1, 0, -1):
        assert subs.confirm(unknown) is False
        assert subs.reject(unknown, "nope", T0) is False
    assert subs.confirm(request_id) is True
    assert subs.confirm(request_id) is False, "already answered"


def test_an_unanswered_request_expires_is_retried_and_finally_fails() -> None:
    subs = subscriptions(max_attempts=2)
    subs.request([4, 5])
    first_id, _, _ = send_one(subs, T0)
    assert subs.expire(T0 + 10 * SECOND_NS - 1) == 0
    assert subs.expire(T0 + 10 * SECOND_NS) == 1
    assert subs.confirm(first_id) is False, "a timed-out attempt's late ack is ignored"

    now = T0 + 11 * SECOND_NS
    send_one(subs, now)
    assert subs.expire(now + 10 * SECOND_NS) == 1
    assert subs.take_failures() == [(True, [4, 5], "no confirmation within 10s", 2)]


def test_unsubscribing_an_active_id_sends_an_unsubscribe() -> None:
    subs = subscriptions()
    subs.request([1, 2, 3])
    request_id, _, _ = send_one(subs, T0)
    subs.confirm(request_id)
    subs.request([50])

    assert subs.unrequest([2, 50, 99]) == 2
    assert subs.active() == [1, 3]
    requests = subs.next_requests(T0)
    assert [(is_subscribe, ids) for _, is_subscribe, ids in requests] == [(False, [2])], "50 was never sent"
    subs.confirm(requests[0][0])
    assert subs.active() == [1, 3]
    assert subs.next_wakeup_ns() is None


def test_a_reconnect_resends_the_whole_wanted_set() -> None:
    subs = subscriptions(batch_size=4)
    subs.request(list(range(10)))
    old = subs.next_requests(T0)
    for request_id, _, _ in old[:2]:
        subs.confirm(request_id)
    assert subs.active() == list(range(8))
    subs.unrequest([3])

    subs.on_reconnect()
    assert subs.active() == [], "a new connection has nothing confirmed"
    assert subs.confirm(old[2][0]) is False, "answers from the old connection are ignored"
    fresh = subs.next_requests(T0)
    assert all(is_subscribe for _, is_subscribe, _ in fresh)
    assert [i for _, _, ids in fresh for i in ids] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert min(request_id for request_id, _, _ in fresh) > max(request_id for request_id, _, _ in old)
    for request_id, _, _ in fresh:
        assert subs.confirm(request_id)
    assert subs.active() == [0, 1, 2, 4, 5, 6, 7, 8, 9]


def test_ids_and_times_outside_their_integer_range_raise() -> None:
    subs = subscriptions()
    with pytest.raises(OverflowError):
        subs.request([-1])
    with pytest.raises(OverflowError):
        subs.request([2**32])
    with pytest.raises(OverflowError):
        subs.next_requests(-1)
    with pytest.raises(TypeError):
        subs.request("123")  # type: ignore[arg-type]
    assert repr(subs) == "<tickwire._core.Subscriptions requested=0 active=0 in_flight=0>"


# LatencyHistogram ----------------------------------------------------------------------------


def one_to_a_thousand() -> LatencyHistogram:
    histogram = LatencyHistogram()
    histogram.record_many(list(range(1, 1001)))
    return histogram


def test_percentiles_of_known_data() -> None:
    histogram = one_to_a_thousand()
    assert histogram.count == 1000
    assert [histogram.percentile_ns(q) for q in (0, 50, 95, 99, 100)] == [1, 500, 950, 990, 1000]
    assert histogram.mean_ns == pytest.approx(500.5)
    assert histogram.max_ns == 1000
    assert histogram.clamped == 0
    assert histogram.summary() == {
        "count": 1000,
        "mean_ns": pytest.approx(500.5),
        "p50_ns": 500,
        "p95_ns": 950,
        "p99_ns": 990,
        "max_ns": 1000,
        "clamped": 0,
    }


def test_large_values_keep_three_significant_digits() -> None:
    histogram = LatencyHistogram()
    histogram.record(123_456_789)
    assert histogram.percentile_ns(50) == pytest.approx(123_456_789, rel=1e-3)


def test_share_below() -> None:
    histogram = one_to_a_thousand()
    assert histogram.share_below(0) == 0.0
    assert histogram.share_below(1) == pytest.approx(0.001)
    assert histogram.share_below(500) == pytest.approx(0.5)
    assert histogram.share_below(10**12) == 1.0
    assert LatencyHistogram().share_below(10**9) == 0.0, "empty"


def test_values_above_the_range_are_clamped_and_counted() -> None:
    histogram = LatencyHistogram(max_ns=10_000)
    histogram.record(5)
    histogram.record(10_001)
    histogram.record(2**63 - 1)
    assert (histogram.count, histogram.clamped) == (3, 2)
    assert histogram.max_ns == 10_000, "never above the range's top"
    assert histogram.percentile_ns(100) == 10_000
    assert histogram.share_below(5) == pytest.approx(1 / 3)

    default = LatencyHistogram()
    default.record(61 * SECOND_NS)
    assert (default.clamped, default.max_ns) == (1, 60 * SECOND_NS)


def test_reset_forgets_everything() -> None:
    histogram = LatencyHistogram(max_ns=10_000, significant_digits=2)
    histogram.record_many([1, 20_000])
    histogram.reset()
    assert histogram.summary() == {
        "count": 0,
        "mean_ns": 0.0,
        "p50_ns": 0,
        "p95_ns": 0,
        "p99_ns": 0,
        "max_ns": 0,
        "clamped": 0,
    }
    histogram.record(7)
    assert histogram.summary()["p50_ns"] == 7


def test_negative_values_are_refused_and_record_many_is_all_or_nothing() -> None:
    histogram = LatencyHistogram()
    with pytest.raises(ValueError, match="ns must be at least 0"):
        histogram.record(-1)
    with pytest.raises(ValueError, match="at least 0"):
        histogram.record_many([1, 2, -3])
    assert histogram.count == 0
    with pytest.raises(ValueError, match="ns must be at least 0"):
        histogram.share_below(-1)


@pytest.mark.parametrize("q", [-0.1, 100.1, math.nan])
def test_percentiles_outside_0_to_100_are_refused(q: float) -> None:
    with pytest.raises(ValueError, match="q must be between 0 and 100"):
        one_to_a_thousand().percentile_ns(q)


@pytest.mark.parametrize(
    ("max_ns", "significant_digits", "message"),
    [
        (1, 3, "max_ns must be at least 2"),
        (0, 3, "max_ns must be at least 2"),
        (-5, 3, "max_ns must be at least 2"),
        (1000, 6, "significant_digits must be between 0 and 5"),
        (1000, -1, "significant_digits must be between 0 and 5"),
    ],
)
def test_invalid_ranges_are_refused(max_ns: int, significant_digits: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LatencyHistogram(max_ns, significant_digits)


def test_histogram_repr() -> None:
    histogram = one_to_a_thousand()
    assert repr(histogram) == "<tickwire._core.LatencyHistogram count=1000 p50_ns=500 max_ns=1000>"



async def test_quiesce_waits_for_awaitables_in_flight_and_returns_at_once_without() -> None:
    import asyncio
    import socket
    import time

    import tickwire

    started = time.monotonic()
    assert tickwire._core.quiesce(5.0) == 0
    assert time.monotonic() - started < 0.5, "nothing in flight: no wait"
    # A peer that accepts TCP (the backlog does) and never answers the upgrade: connect() stays
    # in flight on the I/O thread until its open_timeout.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}/"
        pending = asyncio.ensure_future(tickwire.connect(url, open_timeout=1.5))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        assert tickwire._core.quiesce(0.2) == 1
        assert time.monotonic() - started >= 0.2
        with pytest.raises(tickwire.TickwireTimeoutError):
            await pending
    assert tickwire._core.quiesce(1.0) == 0
