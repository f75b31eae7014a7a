"""tickwire: market data from crypto-exchange WebSockets into Python strategies, through a Rust core.

The public API lives here; ``tickwire._core`` is the compiled core and not for direct use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import atexit

from .client import (
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_QUEUE,
    DEFAULT_READ_BUFFER_SIZE,
    BatchCallback,
    ConnectOptions,
    Connection,
    MessageCallback,
    State,
    connect,
)
from . import _core
from ._core import BBO, BookInvalid, BookUpdate, BookView, Ticker, Trade
from .events import CHANNELS, PRIVATE_CHANNELS, Ack, Balance, Channel, Fill, Lagged, Order
from .feed import BUILTIN_VENUES, Feed, Strategy
from .recording import Record, Recorder, Recording, RecordingError, RecordingHeader, Replay, replay
from .server import Server
from .server_client import Client, ClientGaveUp, ClientReconnectPolicy, ClientStateChange
from .simulator import FAULTS, Fault, Simulator
from .venues import (
    Credentials,
    CredentialsError,
    PythonVenue,
    Subscription,
    parse,
    register_venue,
    registered_venues,
)
from .venues import _register_shipped
from .session import (
    BreakerPolicy,
    ReconnectPolicy,
    Session,
    SessionEvent,
    StateCallback,
    open_session,
)
from .exceptions import (
    AuthenticationError,
    BookSnapshotError,
    ConnectionClosed,
    HandshakeError,
    NetworkError,
    ParseError,
    ProtocolError,
    SubscriptionError,
    TickwireError,
    TickwireTimeoutError,
    TlsError,
)

__version__ = "0.1.0"

# Let awaitables the I/O thread is completing finish before the interpreter finalizes: a
# thread that takes the interpreter during finalization is ended in a way that aborts.
atexit.register(_core.quiesce)

#: A venue written in Python (the class's earlier name).
Venue = PythonVenue

_register_shipped()

__all__ = [
    "AuthenticationError",
    "Balance",
    "Credentials",
    "CredentialsError",
    "Fill",
    "Order",
    "PRIVATE_CHANNELS",
    "PythonVenue",
    "register_venue",
    "registered_venues",
    "BBO",
    "BUILTIN_VENUES",
    "CHANNELS",
    "Ack",
    "BookInvalid",
    "BookSnapshotError",
    "BookUpdate",
    "BookView",
    "Channel",
    "Client",
    "ClientGaveUp",
    "ClientReconnectPolicy",
    "ClientStateChange",
    "FAULTS",
    "Fault",
    "Feed",
    "Lagged",
    "Strategy",
    "Subscription",
    "SubscriptionError",
    "Ticker",
    "Trade",
    "Venue",
    "BreakerPolicy",
    "ConnectOptions",
    "ReconnectPolicy",
    "Record",
    "Recorder",
    "Recording",
    "RecordingError",
    "RecordingHeader",
    "Replay",
    "ReplayServer",
    "Server",
    "Session",
    "SessionEvent",
    "Simulator",
    "StateCallback",
    "open_session",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_READ_BUFFER_SIZE",
    "BatchCallback",
    "Connection",
    "ConnectionClosed",
    "HandshakeError",
    "MessageCallback",
    "NetworkError",
    "ParseError",
    "ProtocolError",
    "State",
    "TickwireError",
    "TickwireTimeoutError",
    "TlsError",
    "__version__",
    "connect",
    "parse",
    "replay",
]


if TYPE_CHECKING:
    from .replay_server import ReplayServer


def __getattr__(name: str) -> object:
    # The replay server brings the websockets library in: imported when first used, so a
    # feed's import stays as light as it was.
    if name == "ReplayServer":
        from .replay_server import ReplayServer

        return ReplayServer
    raise AttributeError(f"module 'tickwire' has no attribute {name!r}")
