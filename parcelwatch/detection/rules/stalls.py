"""STALLED_AT_FACILITY and STALLED_IN_TRANSIT.

At a facility: the parcel's latest scan is at a facility and is not one that moves it on
(departure, load, out for delivery, delivered). At a hub it stalls `hub_dwell_hours`
after its last scan there (for the usual single arrival scan: "12 h after arrival"); at
an outlet `outlet_dwell_hours` after its last scan there. Once open, the episode stays
open until the parcel is scanned elsewhere or moved on: another scan at the same site
(a damage report, a failed delivery) does not end the stall.

In transit: the vehicle the parcel is on has stood still off-site, or gone silent, long
enough (the vehicle side decides and fans its condition out). Resolves when the vehicle
moves again or the parcel is scanned.
"""

from __future__ import annotations

from parcelwatch.clock import HOUR, iso
from parcelwatch.detection.context import Candidate, RuleContext, is_express, last_scan_evidence
from parcelwatch.detection.state import (
    LEAVING,
    VEHICLE_SILENT,
    VEHICLE_STATIONARY,
    Episode,
    WaybillState,
)

AT_FACILITY = "STALLED_AT_FACILITY"
IN_TRANSIT = "STALLED_IN_TRANSIT"


def check_at_facility(
    w: WaybillState, ctx: RuleContext, now: int, ep: Episode | None
) -> Candidate | int | None:
    here = w.last_facility
    last = w.last_at
    if w.last_type is None or w.last_type in LEAVING or w.terminal is not None:
        return None
    if here is None or last is None:  # set with last_type, by the latest scan
        return None
    facility = ctx.network.facilities[here]
    dwell = ctx.t.hub_dwell if facility.is_hub else ctx.t.outlet_dwell
    if ep is not None and ep.identity == here:
        limit = ep.opened_at  # still there: keep the episode as it is
    else:
        limit = last + dwell
        if now < limit:
            return limit
    return Candidate(
        since=limit,
        severity="HIGH" if is_express(w) else "MEDIUM",
        facility=here,
        identity=here,
        evidence={
            "facility_kind": facility.kind,
            "dwell_limit_hours": dwell / HOUR,
            "deadline": iso(limit),
            "last_scan": last_scan_evidence(w),
        },
    )


def check_in_transit(
    w: WaybillState, ctx: RuleContext, now: int, ep: Episode | None
) -> Candidate | int | None:
    vehicle = w.vehicle
    reported = w.sig_since  # set with sig_status: the raw fact behind it
    if vehicle is None or w.terminal is not None or w.sig_vehicle != vehicle:
        return None
    status = w.sig_status
    if reported is None:
        return None
    if status == VEHICLE_STATIONARY:
        since = reported + ctx.t.stationary
        condition = "STATIONARY_OFF_SITE"
    elif status == VEHICLE_SILENT:
        # Silence counts from the later of the last ping and the parcel's loading, so a
        # parcel put on a truck whose GPS was already off is not stalled at once.
        start = max(reported, w.loaded_at or 0)
        since = start + ctx.t.gps_silence
        condition = "GPS_SILENT"
    else:
        return None
    if w.last_at is not None and w.last_at >= since:
        return None  # the parcel was scanned after the vehicle stalled
    if now < since:
        return since
    return Candidate(
        since=since,
        severity="MEDIUM",
        vehicle=vehicle,
        identity=vehicle,
        evidence={
            "condition": condition,
            "vehicle_id": vehicle,
            "since": iso(reported),
            "lat": w.sig_lat,
            "lon": w.sig_lon,
            "last_scan": last_scan_evidence(w),
        },
    )
