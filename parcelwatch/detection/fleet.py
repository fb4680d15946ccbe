"""The waybill side's view of the vehicles: each vehicle's recent facts, and which
parcels ride it.

The vehicle side publishes facts (parcelwatch/detection/vehicles.py) and knows nothing of parcels.
The waybill side learns from its own scans who boards and leaves which vehicle, keeps
that index here, and applies each fact to the parcels riding the vehicle. A parcel that
boards is told the vehicle's condition at its boarding, and every fact since: the facts
may have been read ahead of the scans (a backlog read faster on the GPS topic), so each
vehicle's recent facts are kept, not only its latest.
"""

from __future__ import annotations

from collections.abc import Iterable

from parcelwatch.detection.errors import InvalidRecord
from parcelwatch.detection.state import VehicleFact

HISTORY = 16
"""Facts remembered per vehicle, for parcels whose boarding is read after them."""


def remember(history: list[VehicleFact] | None, fact: VehicleFact) -> list[VehicleFact] | None:
    """`history` with `fact` in its place by time, or None if it is known already (a
    redelivery, or the same fact published twice): known facts are not applied again."""
    facts = list(history or ())
    if fact in facts:
        return None
    facts.append(fact)
    if len(facts) > 1 and facts[-2].at > fact.at:  # out of order: only after a fail-over
        facts.sort(key=lambda f: f.at)
    return facts[-HISTORY:]


def condition_at(history: list[VehicleFact] | None, at: int) -> list[VehicleFact]:
    """What a parcel boarding at `at` must be told: the condition then (the latest fact
    up to `at`) and every fact after it, in time order."""
    if not history:
        return []
    later = [f for f in history if f.at > at]
    earlier = len(history) - len(later)
    return ([history[earlier - 1]] if earlier else []) + later


class Riders:
    """Which parcels ride which vehicle (vehicle_id -> waybill numbers), each vehicle
    holding at most `cap` (max_parcels_per_vehicle): a boarding past it is refused, so
    the index and every fact's fan-out stay bounded whatever arrives."""

    __slots__ = ("_by_vehicle", "cap")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._by_vehicle: dict[str, set[str]] = {}

    def board(self, vehicle_id: str, waybill_no: str) -> InvalidRecord | None:
        """Put the parcel on the vehicle; the refusal (a dead letter) if it is full."""
        riders = self._by_vehicle.setdefault(vehicle_id, set())
        if waybill_no in riders:
            return None
        if len(riders) >= self.cap:
            return InvalidRecord(
                "over_limit",
                f"vehicle {vehicle_id} already carries {len(riders)} parcels "
                "(max_parcels_per_vehicle)",
            )
        riders.add(waybill_no)
        return None

    def leave(self, vehicle_id: str, waybill_no: str) -> None:
        riders = self._by_vehicle.get(vehicle_id)
        if riders is not None:
            riders.discard(waybill_no)
            if not riders:
                del self._by_vehicle[vehicle_id]

    def on(self, vehicle_id: str) -> list[str]:
        """The parcels riding the vehicle, sorted: a fact reaches them in one order
        whatever order they boarded or were restored in."""
        riders = self._by_vehicle.get(vehicle_id)
        return sorted(riders) if riders else []

    def __len__(self) -> int:
        return sum(len(r) for r in self._by_vehicle.values())

    def vehicles(self) -> Iterable[str]:
        return self._by_vehicle.keys()
