"""The broadcast server: normalized data out to dashboards and tools over WebSocket.

A :class:`Server` runs in the Rust core: an HTTP server with the WebSocket endpoint at ``/ws``,
the dashboard at ``/``, ``/health`` and ``/metrics`` (Prometheus). Every message follows
:mod:`tickwire.protocol` (the one definition, JSON Schema in ``protocol.schema.json``), is
serialized once and shared by every recipient, and carries a sequence number. Each client
chooses what it gets (``Subscribe`` / ``Unsubscribe``: message types × symbols). A slow client
gets the latest market data per type and symbol instead of every message; critical messages
(``TradeExecuted``, ``PositionUpdate``, ``Error``) are never dropped silently: a client that
cannot keep up with them is told (``Error`` ``LAGGED``) and disconnected, and gets them back
with ``Resume`` (or ``/ws?resume=<last seq>``) from a bounded history, or ``ResyncRequired``.

Example::

    async with tickwire.Server(port=8080) as server:
        server.publish("TradeExecuted", {"symbol": "BTCUSDT", "side": "BUY", "quantity": 0.5,
                                         "price": 50000.0, "timestamp": 1609459200000})

Safe defaults for a local deployment: loopback, pages admitted from the server's own and
loopback origins only. For a public one: ``host="0.0.0.0"``, a ``token`` (or the
``TICKWIRE_SERVER_TOKEN`` environment variable), the dashboard's origins in
``allowed_origins``, and TLS (``tls_cert``, ``tls_key``) or TLS in front.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec

from . import _core
from .protocol import PUBLISHABLE_TYPES

__all__ = ["Server"]

logger = logging.getLogger("tickwire.server")

#: The dashboard's files, shipped in the package.
DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboard"
#: How often the server's log lines are handed to ``logging``.
LOG_INTERVAL = 0.5
#: A candle's timeframe, as the conflation sub-key that keeps timeframes apart.
_TIMEFRAME_KEY = {"1m": 1, "5m": 2, "1h": 3}


class Server:
    """A broadcast server run by the Rust core; use as ``async with`` or call :meth:`start`
    and :meth:`stop`.

    Args:
        host: Address to listen on (default loopback).
        port: Port; 0 for any free one (see :attr:`port`).
        token: Required from clients as ``?token=`` or ``Authorization: Bearer``; default
            the ``TICKWIRE_SERVER_TOKEN`` environment variable, else none. Refused: 401.
        allowed_origins: Origins whose pages may connect (``["*"]``: any); default the
            server's own and loopback origins. Refused: 403.
        max_connections: Connections at once; more are refused with 503.
        max_message_size: Largest client message; larger closes the connection (1009).
        client_rate: Client messages per second; more are dropped with ``RATE_LIMITED``.
        client_burst: Client messages allowed at once before the rate applies.
        heartbeat_interval: Seconds between server pings; a client silent for two is dropped.
        history: Critical messages kept for ``Resume``.
        queue_soft_limit: Queued messages beyond which a client's market data is conflated.
        critical_limit: Critical messages queued beyond which a client is told ``LAGGED`` and
            dropped.
        dashboard: Serve the dashboard at ``/`` (default True).
        tls_cert: PEM certificate chain (leaf first): serve ``https``/``wss`` with it.
        tls_key: Its PEM private key.
        echo_route: Also serve ``/echo``, echoing every message through the same accept path
            and close-code policy as ``/ws`` (for conformance tests; default False).

    Raises:
        ValueError: A setting out of range (at :meth:`start`).
        OSError: The address cannot be listened on (at :meth:`start`).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        token: str | None = None,
        allowed_origins: list[str] | None = None,
        max_connections: int = 1000,
        max_message_size: int = 64 * 1024,
        client_rate: int = 50,
        client_burst: int = 100,
        heartbeat_interval: float = 30.0,
        history: int = 10_000,
        queue_soft_limit: int = 1024,
        critical_limit: int = 4096,
        dashboard: bool = True,
        echo_route: bool = False,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
    ) -> None:
        self.tls = tls_cert is not None
        self.host = host
        self._port = port
        self._options: dict[str, Any] = {
            "token": token if token is not None else os.environ.get("TICKWIRE_SERVER_TOKEN") or None,
            "allowed_origins": allowed_origins,
            "max_connections": max_connections,
            "max_message_size": max_message_size,
            "client_rate": client_rate,
            "client_burst": client_burst,
            "heartbeat_interval": heartbeat_interval,
            "history": history,
            "queue_soft_limit": queue_soft_limit,
            "critical_limit": critical_limit,
            "dashboard_dir": str(DASHBOARD_DIR) if dashboard and DASHBOARD_DIR.is_dir() else None,
            "echo_route": echo_route,
            "tls_cert": None if tls_cert is None else os.fspath(tls_cert),
            "tls_key": None if tls_key is None else os.fspath(tls_key),
        }
        self._core: _core.Server | None = None
        self._logs: asyncio.Task[None] | None = None

    async def start(self) -> Server:
        """Binds and starts serving; returns the server."""
        if self._core is None:
            self._core = _core.start_server(self.host, self._port, **self._options)
            self._logs = asyncio.get_running_loop().create_task(self._forward_logs(), name="tickwire-server-logs")
        return self

    async def stop(self, timeout: float = 2.0) -> None:
        """Stops accepting, closes every connection (1001 "server shutting down") and waits,
        at most ``timeout`` seconds, until they have ended."""
        core, self._core = self._core, None
        if core is None:
            return
        if self._logs is not None:
            self._logs.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._logs
        self._log(core)
        await core.stop(timeout)

    async def __aenter__(self) -> Server:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """Whether it is serving."""
        return self._core is not None

    @property
    def port(self) -> int:
        """The port it listens on (the one chosen, for port 0)."""
        return self._running().port

    @property
    def url(self) -> str:
        """``http://host:port``: the dashboard."""
        return f"{'https' if self.tls else 'http'}://{self._url_host()}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://host:port/ws``: the WebSocket endpoint."""
        return f"{'wss' if self.tls else 'ws'}://{self._url_host()}:{self.port}/ws"

    def _url_host(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"[{host}]" if ":" in host else host

    def _running(self) -> _core.Server:
        if self._core is None:
            raise RuntimeError("the server is not running: await start() first")
        return self._core

    def publish(
        self,
        type: str,  # noqa: A002 - the protocol's field name
        data: msgspec.Struct | dict[str, Any] | None = None,
        *,
        symbol: str | None = None,
        message: str | None = None,
    ) -> int:
        """Broadcasts a message of ``type`` to every client subscribed to it; returns its
        sequence number. ``data`` is checked against the type's payload class in
        :mod:`tickwire.protocol` (a dict or that class); ``symbol`` defaults to
        ``data["symbol"]``.

        Raises:
            ValueError: An unknown or non-broadcast type, or data that does not match it.
            RuntimeError: The server is not running.
        """
        payload_class = PUBLISHABLE_TYPES.get(type)
        if payload_class is None:
            raise ValueError(f"{type!r} cannot be published; expected one of {sorted(PUBLISHABLE_TYPES)}")
        text: str | None = None
        sub_key = 0
        if data is not None:
            try:
                payload = msgspec.convert(data, payload_class, from_attributes=True)
            except msgspec.ValidationError as error:
                raise ValueError(f"{type} data does not match the protocol: {error}") from error
            text = msgspec.json.encode(payload).decode()
            symbol = symbol if symbol is not None else getattr(payload, "symbol", None)
            sub_key = _TIMEFRAME_KEY.get(getattr(payload, "timeframe", ""), 0)
        return self._running().publish(type, text, symbol, message, sub_key)

    def connections(self) -> int:
        """Clients connected now."""
        return self._running().connections()

    def last_seq(self) -> int:
        """The last sequence number handed out."""
        return self._running().last_seq()

    def metrics(self) -> dict[str, int]:
        """Counters: ``connections_active``, ``connections_total``, ``connections_refused``,
        ``connection_errors``, ``messages_sent``, ``messages_received``,
        ``messages_published``, ``parse_errors``, ``rate_limited``, ``lagged_clients``,
        ``conflated_messages``."""
        return self._running().metrics()

    def prometheus(self) -> str:
        """The metrics in Prometheus' text format, as ``/metrics`` serves them."""
        return self._running().prometheus()

    async def _forward_logs(self) -> None:
        while self._core is not None:
            self._log(self._core)
            await asyncio.sleep(LOG_INTERVAL)

    @staticmethod
    def _log(core: _core.Server) -> None:
        lines, dropped = core.take_logs()
        for level, text in lines:
            logger.log(level, "%s", text)
        if dropped:
            logger.warning("%d server log lines were dropped (not collected in time)", dropped)

    def __repr__(self) -> str:
        state = f"serving on {self.url}" if self._core is not None else "stopped"
        return f"<tickwire.Server {state}>"
