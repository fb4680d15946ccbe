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
