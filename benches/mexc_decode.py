"""MEXC's protobuf pushes, decoded two ways, to a finished ``tickwire.Trade``: in Rust with
prost (``tickwire._core.MexcPushDecoder``, what the MEXC venue uses) and in Python with the
``protobuf`` package (its C ``upb`` backend; message classes built at run time from the fields
of MEXC's published ``.proto``, no ``protoc``). The frame is a real deals push from the
simulator. timeit, best of 5.

Run: ``python benches/mexc_decode.py`` (``protobuf`` comes with ``requirements-bench.txt``).
"""

from __future__ import annotations

import asyncio
import json
import timeit

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.internal import api_implementation
from websockets.asyncio.client import connect

import tickwire
from tickwire import _core

DEALS_TOPIC = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"


def wrapper_class() -> type:
    """``PushDataV3ApiWrapper`` with its deals body, from the ``.proto`` field numbers."""
    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="mexc.proto", package="mexc", syntax="proto3")

    def message(name: str, fields: list[tuple[str, int, int, int, str | None]], oneof: str | None = None) -> None:
        built = file.message_type.add(name=name)
        if oneof is not None:
            built.oneof_decl.add(name=oneof)
        for field_name, number, kind, label, type_name in fields:
            added = built.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name is not None:
                added.type_name = type_name
            if oneof is not None and number == 314:
                added.oneof_index = 0

    text, int32, int64, nested = field.TYPE_STRING, field.TYPE_INT32, field.TYPE_INT64, field.TYPE_MESSAGE
    one, many = field.LABEL_OPTIONAL, field.LABEL_REPEATED
    message("Deal", [("price", 1, text, one, None), ("quantity", 2, text, one, None), ("tradeType", 3, int32, one, None),
                     ("time", 4, int64, one, None), ("tradeId", 5, text, one, None)])
    message("Deals", [("deals", 1, nested, many, ".mexc.Deal"), ("eventType", 2, text, one, None)])
    message("Wrapper", [("channel", 1, text, one, None), ("publicAggreDeals", 314, nested, one, ".mexc.Deals"),
                        ("symbol", 3, text, one, None), ("symbolId", 4, text, one, None),
                        ("createTime", 5, int64, one, None), ("sendTime", 6, int64, one, None)], oneof="body")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("mexc.Wrapper"))


async def deals_frame() -> bytes:
    async with tickwire.Simulator(["mexc"], ["BTC/USDT"], rate=200) as sim, connect(sim.url("mexc")) as ws:
        await ws.send(json.dumps({"method": "SUBSCRIPTION", "params": [DEALS_TOPIC]}))
        while True:
            frame = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(frame, bytes):
                return frame


def main() -> None:
    frame = asyncio.run(deals_frame())
    wrapper = wrapper_class()
    decoder = _core.MexcPushDecoder()

    def with_protobuf() -> list[tickwire.Trade]:
        push = wrapper.FromString(frame)
        return [
            tickwire.Trade("mexc", "BTC/USDT", deal.price, deal.quantity, "buy" if deal.tradeType == 1 else "sell",
                           deal.tradeId, deal.time * 1_000_000, 0)
            for deal in push.publicAggreDeals.deals
        ]

    assert [t.trade_id for t in with_protobuf()] == [t.trade_id for t in decoder.decode(frame, 0)]
    n = 100_000

    def best(call: object) -> float:
        return min(timeit.repeat(call, number=n, repeat=5)) / n * 1e6  # type: ignore[arg-type]

    print(f"frame: {len(frame)} bytes, one deal; protobuf backend: {api_implementation.Type()}")
    print(f"prost (Rust) → Trade:         {best(lambda: decoder.decode(frame, 0)):.2f} µs")
    print(f"protobuf decode only:         {best(lambda: wrapper.FromString(frame)):.2f} µs")
    print(f"protobuf (Python) → Trade:    {best(with_protobuf):.2f} µs")


if __name__ == "__main__":
    main()
