"""MISROUTED: the parcel was scanned at a facility that is not on its planned route, or
(with no route) at a facility farther from its destination, in lane hours, than the
closest facility it had already reached. Resolves when a later scan puts it back on the
route (or no farther than before), or on delivery."""

from __future__ import annotations

import math

from parcelwatch.detection.context import Candidate, RuleContext, last_scan_evidence
from parcelwatch.detection.state import Episode, WaybillState

TYPE = "MISROUTED"


def is_off_course(w: WaybillState, ctx: RuleContext) -> bool:
    here = w.last_facility
    if w.route is not None:
        return here not in w.route
    dest = w.destination
    if dest is None:
        return False
    dist = ctx.network.to_destination(dest)[0]
    inf = math.inf
    best_before = min((dist.get(f, inf) for f in w.visited if f != here), default=inf)
    return here is not None and dist.get(here, inf) > best_before + 1e-9


def check(
    w: WaybillState, ctx: RuleContext, now: int, ep: Episode | None
) -> Candidate | int | None:
    last = w.last_at
    if w.last_facility is None or last is None or w.terminal is not None:
        return None
    if not is_off_course(w, ctx):
        return None
    evidence: dict[str, object] = {
        "facility_id": w.last_facility,
        "planned_route": list(w.route) if w.route is not None else None,
        "destination_facility_id": w.destination,
        "last_scan": last_scan_evidence(w),
    }
    if w.route is None and w.destination is not None:
        evidence["hours_to_destination"] = ctx.network.hours_to(w.last_facility, w.destination)
    return Candidate(
        since=last,
        severity="MEDIUM",
        facility=w.last_facility,
        evidence=evidence,
    )
