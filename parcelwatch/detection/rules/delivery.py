"""DELIVERY_FAILED: opened by a DELIVERY_FAILED scan; every further failure escalates it
(UPDATED, higher severity). Resolves on DELIVERED (or return to sender)."""

from __future__ import annotations

from parcelwatch.clock import iso
from parcelwatch.detection.context import Candidate, RuleContext
from parcelwatch.detection.state import Episode, WaybillState

TYPE = "DELIVERY_FAILED"

_SEVERITY = ("MEDIUM", "HIGH", "CRITICAL")


def check(
    w: WaybillState, ctx: RuleContext, now: int, ep: Episode | None
) -> Candidate | int | None:
    first = w.failure_first_at
    if w.failures == 0 or first is None or w.terminal is not None:  # set together
        return None
    return Candidate(
        since=first,
        severity=_SEVERITY[min(w.failures, 3) - 1],
        facility=w.failure_facility,
        revision=w.failures,
        evidence={
            "attempts": w.failures,
            "reason": w.failure_reason,
            "first_failed_at": iso(first),
        },
    )
