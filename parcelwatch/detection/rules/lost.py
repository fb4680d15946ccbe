"""LOST_SUSPECTED: picked up, not delivered, and no scan for `lost_after_hours`.
Resolves with a scan newer than the last one (a late upload of an older scan is no sign
of the parcel)."""

from __future__ import annotations

from parcelwatch.clock import iso
from parcelwatch.detection.context import Candidate, RuleContext, last_scan_evidence
from parcelwatch.detection.state import Episode, WaybillState

TYPE = "LOST_SUSPECTED"


def check(
    w: WaybillState, ctx: RuleContext, now: int, ep: Episode | None
) -> Candidate | int | None:
    if w.last_at is None or w.terminal is not None:
        return None
    limit = w.last_at + ctx.t.lost_after
    if now < limit:
        return limit
    return Candidate(
        since=limit,
        severity="CRITICAL" if w.insured_value > 0 else "HIGH",
        facility=w.last_facility,
        vehicle=w.vehicle,
        evidence={
            "last_scan": last_scan_evidence(w),
            "silent_hours": ctx.settings.lost_after_hours,
            "deadline": iso(limit),
            "insured_value": w.insured_value,
        },
    )
