"""Wire format of the internal topics: compact JSON arrays for facts, objects for marks."""

from __future__ import annotations

import orjson

from parcelwatch.detection.state import VehicleFact
from parcelwatch.service.eventtime import Mark


def encode_fact(fact: VehicleFact) -> bytes:
    return orjson.dumps(list(fact))


def decode_fact(data: bytes) -> VehicleFact:
    return VehicleFact(*orjson.loads(data))


def encode_tick(deadline: int) -> bytes:
    return str(deadline).encode()


def decode_tick(data: bytes) -> int:
    return int(data)


def encode_marks(marks: list[Mark], at: int) -> bytes:
    """The vehicle side's progress (see WatermarkClock.marks), sent at wall time `at` (µs)."""
    return orjson.dumps({"marks": [list(m) for m in marks], "at": at})


def decode_marks(data: bytes) -> tuple[list[Mark], int | None] | None:
    """(marks, wall time sent), or None for a fact."""
    if data[:1] != b"{":
        return None
    raw = orjson.loads(data)
    return [Mark.from_wire(m) for m in raw["marks"]], raw.get("at")
