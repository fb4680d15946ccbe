"""Wire format of the internal topics: compact JSON arrays for facts, objects for marks."""

from __future__ import annotations

import orjson

from ..core.state import VehicleFact

ARRIVAL_HEADER = "parcelwatch-arrival"
"""Header of an input record: replay's clock as it reached the record, in µs (stamped by
`parcelwatch produce`, see stream/live.py ArrivalClock). The event clock applies the
record no earlier: what happens at a late upload happens when it arrived."""


def arrival(headers: object) -> int | None:
    """The arrival stamp in a record's headers (a list of pairs or a mapping), if any:
    a stamp that is not a number is ignored, as if absent."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, dict) else headers
    for name, value in pairs:  # type: ignore[union-attr]
        if name == ARRIVAL_HEADER:
            try:
                stamp = int(value)
            except (TypeError, ValueError):
                return None
            return stamp if 0 <= stamp < 2**62 else None
    return None


def encode_fact(fact: VehicleFact) -> bytes:
    return orjson.dumps(list(fact))


def decode_fact(data: bytes) -> VehicleFact:
    return VehicleFact(*orjson.loads(data))


def encode_tick(deadline: int) -> bytes:
    return str(deadline).encode()


def decode_tick(data: bytes) -> int:
    return int(data)


def encode_marks(marks: list[list[object]], at: int) -> bytes:
    """The vehicle side's progress (see LiveClock.marks), sent at wall time `at` (µs)."""
    return orjson.dumps({"marks": marks, "at": at})


def decode_marks(data: bytes) -> dict | None:
    """Marks, or None for a fact."""
    if data[:1] != b"{":
        return None
    return orjson.loads(data)
