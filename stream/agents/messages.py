"""Wire format of the internal topics between the two sides: compact JSON arrays."""

from __future__ import annotations

import orjson

from ..core.state import ManifestChange, VehicleSignal


def encode_manifest(change: ManifestChange) -> bytes:
    return orjson.dumps(list(change))


def decode_manifest(data: bytes) -> ManifestChange:
    return ManifestChange(*orjson.loads(data))


def encode_signal(signal: VehicleSignal) -> bytes:
    return orjson.dumps(list(signal))


def decode_signal(data: bytes) -> VehicleSignal:
    return VehicleSignal(*orjson.loads(data))


def encode_tick(deadline: int) -> bytes:
    return str(deadline).encode()


def decode_tick(data: bytes) -> int:
    return int(data)


# Control messages on the signals topic (JSON objects; signals are arrays).
def encode_marks(marks: list[list[object]], at: int) -> bytes:
    """A side's progress (see LiveClock.marks), sent at wall time `at` (µs)."""
    return orjson.dumps({"marks": marks, "at": at})


def encode_ack(vehicle_id: str, at: int) -> bytes:
    """The vehicle side has taken a boarding in and sent what the waybill must know."""
    return orjson.dumps({"ack": [vehicle_id, at]})


def decode_control(data: bytes) -> dict | None:
    """A control message, or None for a signal."""
    if data[:1] != b"{":
        return None
    return orjson.loads(data)
