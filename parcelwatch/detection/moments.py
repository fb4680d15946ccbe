"""The moments of a parcel's journey at which its ETA is measured (issue 23): what
`parcelwatch replay --eta-out` logs and `parcelwatch evaluate --eta` scores against
the delivery the simulator really made."""

from __future__ import annotations

from typing import NamedTuple

from parcelwatch.detection.context import RuleContext
from parcelwatch.detection.eta import eta_at
from parcelwatch.detection.expected import Expected, expected_delivery
from parcelwatch.detection.state import HUB_ARRIVAL, OUT_FOR_DELIVERY, PICKUP, WaybillState
from parcelwatch.schemas import Scan, Waybill

MOMENTS = ("created", "pickup", "hub_arrival", "outlet_arrival", "out_for_delivery")
"""Order created; first pickup; every arrival at a hub; first arrival at the
destination outlet; first out-for-delivery."""

_ONCE = frozenset({"created", "pickup", "outlet_arrival", "out_for_delivery"})


def moment_of(w: WaybillState, record: Waybill | Scan, ctx: RuleContext) -> str | None:
    """The moment `record`, just applied to `w`, marks, if any (`once` moments only
    the first time: the caller remembers which it has seen)."""
    if isinstance(record, Waybill):
        return "created"
    kind = record.scan_type.value
    if kind == PICKUP:
        return "pickup"
    if kind == OUT_FOR_DELIVERY:
        return "out_for_delivery"
    if kind == HUB_ARRIVAL:
        if record.facility_id == w.destination:
            return "outlet_arrival"
        facility = ctx.network.get(record.facility_id)
        if facility is not None and facility.is_hub:
            return "hub_arrival"
    return None


class Sighting(NamedTuple):
    """A parcel's ETAs at a moment of its journey: the configured model's, and the
    expected delivery (None: no learned model, or no way to the destination)."""

    waybill_no: str
    moment: str
    at: int
    eta: int | None
    expected: Expected | None


class EtaLog:
    """Per parcel, its ETAs at each of its moments. One entry per once-moment per
    parcel, one per hub arrival."""

    def __init__(self, ctx: RuleContext) -> None:
        self.ctx = ctx
        self.model = "planned" if ctx.t.planned else "baseline"
        self._seen: dict[str, set[str]] = {}

    def observe(self, w: WaybillState, record: Waybill | Scan, now: int) -> Sighting | None:
        if w.terminal is not None:
            return None  # delivered (or returned): nothing left to estimate
        moment = moment_of(w, record, self.ctx)
        if moment is None:
            return None
        if moment in _ONCE:
            seen = self._seen.setdefault(w.waybill_no, set())
            if moment in seen:
                return None
            seen.add(moment)
        return Sighting(
            w.waybill_no,
            moment,
            now,
            eta_at(w, self.ctx, now),
            expected_delivery(w, self.ctx, now),
        )
