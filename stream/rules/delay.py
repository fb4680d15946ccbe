"""DELAY_PREDICTED and DELAYED.

DELAY_PREDICTED holds while the predicted delivery is later than promised_at +
`delay_predicted_margin_minutes` and promised_at is still ahead. Because a prediction is
max(now, anchor) + rest, the moment it crosses the margin is known in advance and is
scheduled as a deadline: it fires even if no scan ever arrives. It resolves when a scan
brings the prediction back within the promise, on delivery, or when the promise passes
(superseded by DELAYED).

DELAYED holds once the clock has passed promised_at and the parcel is not delivered.
Delivery resolves it with the lateness as evidence.
"""

from __future__ import annotations

from typing import Any

from ..core.clock import iso
from ..core.state import Episode, WaybillState
from .base import Candidate, RuleContext, is_express, last_scan_evidence
from .eta import predict

PREDICTED = "DELAY_PREDICTED"
DELAYED = "DELAYED"


def check_predicted(
    w: WaybillState, ctx: RuleContext, now: int, ep: Episode | None
) -> Candidate | int | None:
    promised = w.promised_at
    if promised is None or w.terminal is not None or now > promised:
        return None
    eta = predict(w, ctx)
    if eta is None:
        return None
    threshold = promised + ctx.t.delay_margin
    position_at = w.last_at if w.last_at is not None else w.created_at
    if eta.anchor is not None and eta.anchor + eta.rest > threshold:
        since = due = position_at  # hopeless from the moment the parcel got here
    else:
        since = threshold - eta.rest  # the latest moment it could still make it
        if position_at is not None and since < position_at:
            since = due = position_at  # already too late when it got here
        else:
            due = since + 1  # "later than": the first instant past the latest moment
    if since is None or since > promised:
        return None  # it can only turn late after the promise: DELAYED's job
    if now < due:
        return due
    predicted = eta.at(now)
    return Candidate(
        since=since,
        severity="MEDIUM",
        facility=w.last_facility,
        vehicle=w.vehicle,
        evidence={
            "eta": iso(predicted),
            "promised_at": iso(promised),
            "promise_derived": w.promise_derived,
            "margin_minutes": ctx.settings.delay_predicted_margin_minutes,
            "latest_on_time_moment": iso(since),
            "last_scan": last_scan_evidence(w),
        },
    )


def check_delayed(
    w: WaybillState, ctx: RuleContext, now: int, ep: Episode | None
) -> Candidate | int | None:
    promised = w.promised_at
    if promised is None or w.terminal is not None:
        return None
    if now <= promised:
        return promised + 1
    eta = predict(w, ctx)
    evidence: dict[str, Any] = {
        "promised_at": iso(promised),
        "promise_derived": w.promise_derived,
        "last_scan": last_scan_evidence(w),
    }
    if eta is not None:
        evidence["eta"] = iso(eta.at(now))
    return Candidate(
        since=promised,
        severity="HIGH" if is_express(w) else "MEDIUM",
        facility=w.last_facility,
        vehicle=w.vehicle,
        evidence=evidence,
    )


def delayed_resolution(w: WaybillState, ep: Episode, now: int) -> dict[str, Any]:
    """Evidence when DELAYED resolves: how late the parcel was."""
    if w.terminal is not None and w.promised_at is not None:
        return {
            "delivered_at": iso(w.terminal_at),  # type: ignore[arg-type]
            "late_by_s": (w.terminal_at - w.promised_at) / 1_000_000,  # type: ignore[operator]
            "promised_at": iso(w.promised_at),
        }
    return {}
