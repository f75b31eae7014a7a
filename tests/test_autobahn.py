"""Autobahn TestSuite conformance of the client, cases 1-7 and 10, run by kosoku.

kosoku's fuzzing server plays the Autobahn server; tickwire plays the test client:

1. ``/getCaseCount`` sends the number of cases as one text message;
2. ``/runCase?case=i&agent=…`` runs case ``i`` (1-based): the client echoes every message back,
   text as text and binary as binary, until the connection closes;
3. ``/updateReports?agent=…`` ends the run, after which ``get_result()`` returns the verdicts
   (or raises ``kosoku.FailureError`` carrying them when any case did not pass).

Groups 9 (performance) and 12/13 (compression, which tickwire never offers) are not run.
"""

from __future__ import annotations

import asyncio
import collections
from urllib.parse import quote

import kosoku
import pytest

import tickwire

pytestmark = pytest.mark.autobahn

CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"]
AGENT = "tickwire"
CASE_TIMEOUT = 30.0


async def _play_case(url: str) -> str | None:
    """Echo everything on one case's connection until it closes; return an error, if any."""
    try:
        conn = await tickwire.connect(url, open_timeout=10, close_timeout=5)
    except tickwire.TickwireError as exc:
        return f"connect failed: {exc!r}"
    try:
        async for message in conn:
            await conn.send(message)
    except tickwire.ConnectionClosed:
        pass  # Closed with a code other than 1000/1001: the case decides whether that is right.
    await conn.wait_closed()
    return None


@pytest.mark.timeout(360)
async def test_autobahn_client_conformance(autobahn_report: list[str]) -> None:
    async with kosoku.run_fuzzingserver(cases=CASES, port=0) as server:
        base = f"ws://{server.address}:{server.port}"

        async with asyncio.timeout(30):
            async with await tickwire.connect(f"{base}/getCaseCount") as conn:
                case_count = int(await conn.recv())
        assert case_count > 200, case_count

        driver_errors: dict[int, str] = {}
        for index in range(1, case_count + 1):
            url = f"{base}/runCase?case={index}&agent={quote(AGENT)}"
            try:
                async with asyncio.timeout(CASE_TIMEOUT):
                    error = await _play_case(url)
            except TimeoutError:
                error = f"the case did not finish within {CASE_TIMEOUT} s"
            if error is not None:
                driver_errors[index] = error

        async with asyncio.timeout(30):
            conn = await tickwire.connect(f"{base}/updateReports?agent={quote(AGENT)}")
            await conn.close()

        try:
            results = await asyncio.wait_for(server.get_result(), 300)
        except kosoku.FailureError as failure:
            results = failure.results

    verdicts = collections.Counter(
        (result.behavior.value, result.behavior_close.value) for result in results
    )
    lines = [f"{len(results)} cases; verdicts (behavior, close): {dict(verdicts)}"]
    for result in results:
        if result.behavior.value != "OK" or result.behavior_close.value != "OK":
            lines.append(
                f"  {result.case_id:8} {result.behavior.value:13} close={result.behavior_close.value:13}"
                f" {result.result} / {result.result_close}"
                f" (remote close code {result.remote_close_code})"
            )
    for index, error in driver_errors.items():
        lines.append(f"  driver: case #{index}: {error}")
    print("\n".join(lines))
    autobahn_report.extend(lines)

    assert len(results) == case_count
    failed = [
        f"{r.case_id}: {r.behavior.value}, close {r.behavior_close.value}: {r.result}; "
        f"{r.result_close} (remote close code {r.remote_close_code})"
        for r in results
        if r.behavior.value in ("FAILED", "ERROR")
    ]
    assert not failed, "Autobahn cases failed:\n" + "\n".join(failed)
    assert not driver_errors, driver_errors
