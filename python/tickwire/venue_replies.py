"""How each venue answers a client's requests (the five built-in ones, Gate.io and MEXC): what :class:`~tickwire.ReplayServer`
says to a feed while it plays a capture log back.

A capture log holds what the venue sent the *recorder*, including its answers to the
recorder's requests; a feed connecting to the replay server sends requests of its own, with its
own ids, and waits for answers to those. So a replay server drops the recorded answers (and
pongs) and answers the feed's requests itself, in the venue's format, while the recorded market
data goes out unchanged.

Coinbase numbers every message of a connection (``sequence_num``, answers included) and a feed
checks that count for gaps: its :class:`VenueReplies` renumbers the frames of each connection so
the count runs on across the answers it adds and drops, and a gap the recorded connection had
stays a gap of the same size.
"""

from __future__ import annotations

import datetime
import re
import time
from typing import Any

import msgspec

__all__ = ["VenueReplies", "venue_replies"]

_decode = msgspec.json.Decoder()
_encode = msgspec.json.Encoder()


def _json(text: str | bytes) -> Any:
    try:
        return _decode.decode(text)
    except msgspec.DecodeError:
        return None


class VenueReplies:
    """One client connection's view of a venue's request protocol: the answers to its requests,
    and which recorded frames were answers to the recorder's.

    Attributes:
        subscription_answers: Answers given so far to subscribe and unsubscribe requests.
    """

    def __init__(self) -> None:
        self.subscription_answers = 0

    def answer(self, request: str | bytes) -> list[str]:
        """The venue's answers to a message from the client (none to what it would ignore)."""
        answers, about_subscriptions = self._answer(request)
        if about_subscriptions:
            self.subscription_answers += len(answers)
        return answers

    def _answer(self, request: str | bytes) -> tuple[list[str], bool]:
        """The answers, and whether the request was about subscriptions (not a ping)."""
        raise NotImplementedError

    def is_answer(self, frame: str | bytes) -> bool:
        """Whether a recorded frame answered the recorder (an ack, a refusal, a pong)."""
        raise NotImplementedError

    def outgoing(self, frame: str | bytes) -> str | bytes:
        """A recorded frame as this connection sends it (unchanged but for Coinbase)."""
        return frame

    def skipped(self, frame: str | bytes) -> None:  # noqa: B027 - most venues keep no count
        """A recorded answer was left out."""


class _Binance(VenueReplies):
    def _answer(self, request: str | bytes) -> tuple[list[str], bool]:
        message = _json(request)
        if not isinstance(message, dict) or "method" not in message:
            return [], False
        return [_encode.encode({"result": None, "id": message.get("id")}).decode()], True

    def is_answer(self, frame: str | bytes) -> bool:
        return isinstance(frame, str) and frame.startswith(('{"result"', '{"error"', '{"id"'))


class _Bybit(VenueReplies):
    def _answer(self, request: str | bytes) -> tuple[list[str], bool]:
        message = _json(request)
        if not isinstance(message, dict) or message.get("op") not in ("subscribe", "unsubscribe", "ping"):
            return [], False
        op = message["op"]
        reply: dict[str, Any] = {"success": True, "ret_msg": "pong" if op == "ping" else op, "conn_id": "replay"}
        if "req_id" in message:
            reply["req_id"] = message["req_id"]
        reply["op"] = op
        return [_encode.encode(reply).decode()], op != "ping"

    def is_answer(self, frame: str | bytes) -> bool:
        return isinstance(frame, str) and frame.startswith(('{"success"', '{"op"', '{"req_id"'))


class _Okx(VenueReplies):
    def _answer(self, request: str | bytes) -> tuple[list[str], bool]:
        if request == "ping":
            return ["pong"], False
        message = _json(request)
        if not isinstance(message, dict) or message.get("op") not in ("subscribe", "unsubscribe"):
            return [], False
        base = {"id": message["id"]} if "id" in message else {}
        return [
            _encode.encode(base | {"event": message["op"], "arg": arg, "connId": "replay00"}).decode()
            for arg in message.get("args", [])
        ], True

    def is_answer(self, frame: str | bytes) -> bool:
        return frame == "pong" or (isinstance(frame, str) and frame.startswith(('{"event"', '{"id"')))


class _Kraken(VenueReplies):
    def _answer(self, request: str | bytes) -> tuple[list[str], bool]:
        message = _json(request)
        if not isinstance(message, dict):
            return [], False
        method = message.get("method")
        times = _kraken_times()
        if method == "ping":
            reply: dict[str, Any] = {"method": "pong"}
            if "req_id" in message:
                reply["req_id"] = message["req_id"]
            return [_encode.encode(reply | times).decode()], False
        if method not in ("subscribe", "unsubscribe"):
            return [], False
        params = message.get("params") or {}
        result = {key: params[key] for key in ("channel", "depth", "event_trigger", "snapshot") if key in params}
        if method == "unsubscribe":
            result.pop("snapshot", None)
        tail = {"success": True} | times | ({"req_id": message["req_id"]} if "req_id" in message else {})
        symbols = params.get("symbol")
        if not symbols:  # the instrument channel names no pair
            return [_encode.encode({"method": method, "result": result} | tail).decode()], True
        return [
            _encode.encode({"method": method, "result": result | {"symbol": symbol}} | tail).decode() for symbol in symbols
        ], True

    def is_answer(self, frame: str | bytes) -> bool:
        return isinstance(frame, str) and frame.startswith(('{"method"', '{"error"'))


def _kraken_times() -> dict[str, str]:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {"time_in": now, "time_out": now}


_SEQUENCE = re.compile(r'"sequence_num":\s*(\d+)')


class _Coinbase(VenueReplies):
    """Answers with the connection's whole ``subscriptions`` list, as Coinbase does, and keeps
    the connection's ``sequence_num`` count."""

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[str, list[str]] = {}
        #: The number the next frame of this connection carries.
        self.next_sequence = 0
        #: The recorded number the next recorded frame should carry (None before the first).
        self.recorded_next: int | None = None

    def _answer(self, request: str | bytes) -> tuple[list[str], bool]:
        message = _json(request)
        if not isinstance(message, dict) or message.get("type") not in ("subscribe", "unsubscribe"):
            return [], False
        channel = str(message.get("channel", ""))
        products = [str(p) for p in message.get("product_ids") or [channel]]
        held = self.held.setdefault(channel, [])
        for product in products:
            if message["type"] == "subscribe" and product not in held:
                held.append(product)
            elif message["type"] == "unsubscribe" and product in held:
                held.remove(product)
        lists = {name: sorted(products) for name, products in sorted(self.held.items()) if products}
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        reply = {
            "channel": "subscriptions",
            "client_id": "",
            "timestamp": stamp,
            "sequence_num": self.next_sequence,
            "events": [{"subscriptions": lists}],
        }
        self.next_sequence += 1
        return [_encode.encode(reply).decode()], True

    def is_answer(self, frame: str | bytes) -> bool:
        return isinstance(frame, str) and '"channel":"subscriptions"' in frame[:64]

    def _recorded(self, frame: str | bytes) -> int | None:
        found = _SEQUENCE.search(frame[:256]) if isinstance(frame, str) else None
        return int(found.group(1)) if found else None

    def skipped(self, frame: str | bytes) -> None:
        recorded = self._recorded(frame)
        if recorded is not None:
            self.recorded_next = recorded + 1

    def outgoing(self, frame: str | bytes) -> str | bytes:
        recorded = self._recorded(frame)
        if recorded is None or not isinstance(frame, str):
            return frame
        gap = 0 if self.recorded_next is None else max(0, recorded - self.recorded_next)
        self.recorded_next = recorded + 1
        number = self.next_sequence + gap
        self.next_sequence = number + 1
        return _SEQUENCE.sub(f'"sequence_num":{number}', frame, count=1)


class _Gateio(VenueReplies):
    def _answer(self, request: str | bytes) -> tuple[list[str], bool]:
        message = _json(request)
        if not isinstance(message, dict):
            return [], False
        now = time.time()
        base = {"time": int(now), "time_ms": int(now * 1000), "id": message.get("id"), "conn_id": "replay"}
        if message.get("channel") == "spot.ping":
            return [_encode.encode(base | {"channel": "spot.pong", "event": "", "error": None, "result": None}).decode()], False
        event = message.get("event")
        if event not in ("subscribe", "unsubscribe"):
            return [], False
        reply = base | {"channel": message.get("channel"), "event": event, "error": None, "result": {"status": "success"}}
        return [_encode.encode(reply).decode()], True

    def is_answer(self, frame: str | bytes) -> bool:
        return isinstance(frame, str) and '"event":"update"' not in frame[:160]


class _Mexc(VenueReplies):
    def _answer(self, request: str | bytes) -> tuple[list[str], bool]:
        message = _json(request)
        if not isinstance(message, dict):
            return [], False
        method = message.get("method")
        if method == "PING":
            return ['{"id":0,"code":0,"msg":"PONG"}'], False
        if method not in ("SUBSCRIPTION", "UNSUBSCRIPTION"):
            return [], False
        topics = ",".join(str(topic) for topic in message.get("params") or [])
        return [_encode.encode({"id": 0, "code": 0, "msg": topics}).decode()], True

    def is_answer(self, frame: str | bytes) -> bool:
        return isinstance(frame, str)  # MEXC's data is all binary; its text frames answer


_REPLIES: dict[str, type[VenueReplies]] = {
    "binance": _Binance,
    "bybit": _Bybit,
    "okx": _Okx,
    "coinbase": _Coinbase,
    "kraken": _Kraken,
    "gateio": _Gateio,
    "mexc": _Mexc,
}


def venue_replies(venue: str) -> VenueReplies:
    """A fresh connection's replies for built-in ``venue``; ``ValueError`` for another."""
    try:
        return _REPLIES[venue]()
    except KeyError:
        raise ValueError(f"no replay for venue {venue!r}; the replay server answers as {', '.join(_REPLIES)} do") from None
