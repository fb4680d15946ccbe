"""State <-> bytes, for the live pipeline's changelogged tables.

A state is written as a JSON object of its non-default fields, by name: small on the
changelog, and a restarted worker of a newer version reads an older record (unknown
names are ignored, missing ones keep their defaults).
"""

from __future__ import annotations

from array import array
from typing import Any

import orjson

from parcelwatch.detection.state import (
    UNKNOWN_CONTENT,
    Episode,
    VehicleFact,
    VehicleState,
    WaybillState,
)

_ARRAYS = frozenset({"events"})
_TUPLES = frozenset({"visited", "gaps", "route", "recipient"})
_DERIVED = frozenset({"late"})
"""Recomputed from the rest when needed: not worth a byte of changelog."""
_EPISODE_FIELDS = Episode.__slots__
_W_DEFAULTS = {
    name: getattr(WaybillState("x"), name)
    for name in WaybillState.__slots__
    if name not in _DERIVED
}
_V_DEFAULTS = {name: getattr(VehicleState("x"), name) for name in VehicleState.__slots__}


PARTITION = "partition"
"""Stored beside a state, not part of it: the input partition the key's records arrive
on, where its state lives and where its ticks must go (never derived from a hash of the
key: producers may use any partitioner). Loaders ignore it."""


def dump_waybill(w: WaybillState, partition: int | None = None) -> bytes:
    out: dict[str, Any] = {} if partition is None else {PARTITION: partition}
    for name, default in _W_DEFAULTS.items():
        value = getattr(w, name)
        if name in _ARRAYS:
            if value:
                out[name] = value.tolist()
        elif name == "episodes":
            if value:
                out[name] = {
                    t: [getattr(ep, f) for f in _EPISODE_FIELDS] for t, ep in value.items()
                }
        elif name == "pending":
            if value:
                out[name] = [list(p) for p in value]
        elif value != default or name == "waybill_no":
            out[name] = value
    return orjson.dumps(out)


def stored_schedule(data: bytes) -> tuple[int | None, int | None]:
    """(deadline, partition) of a stored state, without building the state: the live
    side schedules ticks from it after every input and tick."""
    raw = orjson.loads(data)
    return raw.get("deadline"), raw.get(PARTITION)


def load_waybill(data: bytes) -> WaybillState:
    return load_stored_waybill(data)[0]


def load_stored_waybill(data: bytes) -> tuple[WaybillState, int | None]:
    """The state and the partition stored beside it, from one parse."""
    raw = orjson.loads(data)
    w = WaybillState(raw["waybill_no"])
    for name, value in raw.items():
        if name == "seen":  # the state of an older version: ids alone, content unknown
            w.events = array("Q", [x for digest in value for x in (digest, UNKNOWN_CONTENT)])
            continue
        if name not in _W_DEFAULTS:
            continue
        if name in _ARRAYS:
            value = array("Q", value)
        elif name == "episodes":
            value = {t: _episode(fields) for t, fields in value.items()}
        elif name == "pending" and value is not None:
            value = [_fact(fields) for fields in value]
        elif name in _TUPLES and value is not None:
            value = tuple(value)
        setattr(w, name, value)
    return w, raw.get(PARTITION)


def _episode(fields: list[Any]) -> Episode:
    ep = Episode.__new__(Episode)
    for name, value in zip(_EPISODE_FIELDS, fields, strict=True):
        setattr(ep, name, value)
    return ep


def _fact(fields: list[Any]) -> VehicleFact:
    if len(fields) == len(VehicleFact._fields) + 1:  # an older version's signal
        del fields[1]  # (the waybill it was addressed to)
    return VehicleFact(*fields)


def dump_facts(facts: list[VehicleFact]) -> bytes:
    """A vehicle's recent facts (detection/fleet.py), as the waybill side stores them."""
    return orjson.dumps([list(f) for f in facts])


def load_facts(data: bytes) -> list[VehicleFact]:
    return [VehicleFact(*fields) for fields in orjson.loads(data)]


def dump_vehicle(v: VehicleState, partition: int | None = None) -> bytes:
    out: dict[str, Any] = {} if partition is None else {PARTITION: partition}
    for name, default in _V_DEFAULTS.items():
        value = getattr(v, name)
        if value != default or name == "vehicle_id":
            out[name] = value
    return orjson.dumps(out)


def load_vehicle(data: bytes) -> VehicleState:
    return load_stored_vehicle(data)[0]


def load_stored_vehicle(data: bytes) -> tuple[VehicleState, int | None]:
    """The state and the partition stored beside it, from one parse."""
    raw = orjson.loads(data)
    v = VehicleState(raw["vehicle_id"])
    for name, value in raw.items():
        if name in _V_DEFAULTS:  # (an older version's manifest and history are not)
            setattr(v, name, value)
    return v, raw.get(PARTITION)
