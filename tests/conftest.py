"""Shared fixtures and configuration for tickwire's test suite.

Peers run in their own threads (see ``servers.py``); tests talk to them over 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from servers import WsServer

_AUTOBAHN_REPORT = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "autobahn: the Autobahn TestSuite conformance run (kosoku); deselect with -m 'not autobahn'",
    )
    config.stash[_AUTOBAHN_REPORT] = []


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(_AUTOBAHN_REPORT, [])
    if lines:
        terminalreporter.section("Autobahn conformance (kosoku)")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def autobahn_report(request: pytest.FixtureRequest) -> list[str]:
    """Lines appended here are printed in the terminal summary at the end of the run."""
    return request.config.stash[_AUTOBAHN_REPORT]


@pytest.fixture(autouse=True)
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Collect what reaches the test loop's exception handler; fail the test if anything did.

    tickwire runs its wake-up callback and ``on_message`` callbacks on the loop, where an
    exception would otherwise only be logged. A test that expects such errors takes this fixture
    and empties the list after checking it.
    """
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield errors
    finally:
        loop.set_exception_handler(previous)
    assert not errors, f"unexpected errors reached the event loop's exception handler: {errors!r}"


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


@pytest.fixture(scope="session")
def echo_server() -> Iterator[WsServer]:
    """A ``websockets`` echo server (text back as text, binary as binary), shared by the session."""
    with WsServer(_echo) as server:
        yield server
