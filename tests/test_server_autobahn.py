"""Autobahn TestSuite conformance of the broadcast server's WebSocket side, cases 1-7 and 10,
run by kosoku's fuzzing client against ``/echo``: the server's own accept path, tungstenite
configuration and close-code policy, with an echo in place of the broadcast protocol.

Groups 9 (performance) and 12/13 (compression, which the server never offers) are not run.
"""

from __future__ import annotations

import kosoku
import pytest

import tickwire

pytestmark = pytest.mark.autobahn

CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"]


@pytest.mark.timeout(360)
async def test_autobahn_server_conformance(autobahn_report: list[str]) -> None:
    # Cases send messages up to 16 MiB (group 10 and 1.1.x); the broadcast endpoint's 64 KiB
    # limit is a policy, not conformance.
    async with tickwire.Server(port=0, echo_route=True, max_message_size=16 * 1024 * 1024, client_rate=1_000_000, client_burst=1_000_000) as server:
        try:
            results = await kosoku.run_fuzzingclient(f"ws://127.0.0.1:{server.port}/echo", cases=CASES, concurrency=4)
        except kosoku.FailureError as failure:
            results = failure.results
        by_behavior: dict[str, int] = {}
        for result in results:
            behavior = result.behavior.value
            by_behavior[behavior] = by_behavior.get(behavior, 0) + 1
            if behavior not in ("OK", "INFORMATIONAL"):
                autobahn_report.append(
                    f"  server {result.case_id} {behavior}, close {result.behavior_close.value}: {result.result}"
                )
        autobahn_report.append(f"server cases: {by_behavior}")
        assert len(results) > 200, len(results)
        failed = [
            f"{r.case_id}: {r.behavior.value}, close {r.behavior_close.value}: {r.result}; {r.result_close}"
            for r in results
            if r.behavior.value in ("FAILED", "ERROR") or r.behavior_close.value in ("FAILED", "ERROR")
        ]
        assert not failed, "Autobahn server cases failed:\n" + "\n".join(failed)
