"""MISSED_SCAN: an expected scan did not happen.

(a) after a departure (HUB_DEPARTURE or LOAD) toward X, no scan at X by
    departure + lane hours x `missed_scan_lane_factor` + `missed_scan_grace_hours`;
(b) the vehicle carrying the parcel reached X (GPS within `vehicle_arrival_radius_m`)
    and `missed_scan_after_vehicle_arrival_hours` later the parcel has no scan there;
(c) a scan at a later facility of the planned route shows a planned checkpoint was
    skipped — opened and resolved at once, as a record of the gap (see `skipped`);
(d) OUT_FOR_DELIVERY with no DELIVERED / DELIVERY_FAILED within `out_for_delivery_hours`.
Any later scan of the parcel resolves (a), (b) and (d). The episode's identity is the
facility whose scan is missing, so (a) and (b) for the same checkpoint are one episode.
"""

from __future__ import annotations

from parcelwatch.clock import HOUR, iso
from parcelwatch.detection.context import Candidate, RuleContext, last_scan_evidence
from parcelwatch.detection.eta import next_facility
from parcelwatch.detection.state import DEPARTING, OUT_FOR_DELIVERY, Episode, WaybillState

TYPE = "MISSED_SCAN"


def check(
    w: WaybillState, ctx: RuleContext, now: int, ep: Episode | None
) -> Candidate | int | None:
    kind = w.last_type
    last_at = w.last_at  # set with the last scan's kind and facility
    here = w.last_facility
    if kind is None or last_at is None or here is None or w.terminal is not None:
        return None
    t = ctx.t
    arrival = None
    limit: int | None
    if kind == OUT_FOR_DELIVERY:
        limit = last_at + t.out_for_delivery
        expected = w.last_facility
        variant = "OUT_FOR_DELIVERY_UNRESOLVED"
        leg = None
    elif kind in DEPARTING:
        expected = next_facility(w, ctx)
        if expected is None:
            return None
        leg = ctx.network.leg_hours(here, expected)
        limit = None
        variant = "CHECKPOINT_OVERDUE"
        if leg is not None:
            limit = last_at + round(leg * t.lane_factor * HOUR) + t.missed_grace
        if (
            w.arr_facility == expected
            and w.arr_vehicle == w.vehicle
            and w.arr_at is not None
            and w.arr_at >= last_at
        ):
            arrival = w.arr_at
            arrival_limit = arrival + t.after_arrival
            if limit is None or arrival_limit < limit:
                limit = arrival_limit
                variant = "VEHICLE_ARRIVED_NOT_SCANNED"
    else:
        return None
    if limit is None:
        return None
    if ep is not None and ep.identity == expected:
        limit = ep.opened_at
    elif now < limit:
        return limit
    evidence: dict[str, object] = {
        "variant": variant,
        "expected_facility_id": expected,
        "deadline": iso(limit),
        "last_scan": last_scan_evidence(w),
    }
    if kind == OUT_FOR_DELIVERY:
        evidence["out_for_delivery_at"] = iso(last_at)
    else:
        evidence["departed_at"] = iso(last_at)
        evidence["from_facility_id"] = w.last_facility
        evidence["lane_hours"] = leg
        if arrival is not None:
            evidence["vehicle_arrived_at"] = iso(arrival)
    return Candidate(
        since=limit,
        severity="LOW",
        facility=expected,
        vehicle=w.vehicle,
        identity=expected,
        evidence=evidence,
    )


def skipped(w: WaybillState, facility: str) -> list[str]:
    """(c) planned checkpoints before `facility` on the route that the parcel was never
    scanned at and that no earlier record already covers. Call before `facility` is
    added to the visited set."""
    route = w.route
    if route is None or w.terminal is not None or facility not in route:
        return []
    visited = w.visited
    gaps = w.gaps
    return [f for f in route[: route.index(facility)] if f not in visited and f not in gaps]
