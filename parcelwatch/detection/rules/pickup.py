"""PICKUP_OVERDUE: a registered waybill with no pickup `pickup_overdue_hours` after
created_at. Resolves on PICKUP — or on any other scan, which proves the parcel is in the
network already (the missing PICKUP itself shows up as MISSED_SCAN (c))."""

from __future__ import annotations

from parcelwatch.clock import iso
from parcelwatch.detection.context import Candidate, RuleContext, is_express
from parcelwatch.detection.state import Episode, WaybillState

TYPE = "PICKUP_OVERDUE"


def check(
    w: WaybillState, ctx: RuleContext, now: int, ep: Episode | None
) -> Candidate | int | None:
    created = w.created_at
    if created is None or w.first_scan_at is not None or w.terminal is not None:
        return None  # created_at is set when, and only when, the waybill is registered
    limit = created + ctx.t.pickup_overdue
    if now < limit:
        return limit
    return Candidate(
        since=limit,
        severity="MEDIUM" if is_express(w) else "LOW",
        facility=w.origin,
        evidence={
            "created_at": iso(created),
            "deadline": iso(limit),
            "origin_facility_id": w.origin,
            "product": w.product,
        },
    )
