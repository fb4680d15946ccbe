"""DELAY_PREDICTED and DELAYED.

DELAY_PREDICTED holds while the ETA (parcelwatch/detection/eta.py; the planned ETA by default) is
later than promised_at + `delay_predicted_margin_minutes` and promised_at is still
ahead. The first instant the plan misses it is known whenever the parcel's position
changes (the last connection that makes the promise leaves without it, the courier
round closes, a stage overruns), so it is scheduled as a deadline: it fires even if no
scan ever arrives. With no new scan the planned ETA never decreases, so an episode stays
open until a scan or a new promise brings the ETA back within it (the parcel was faster
than planned), delivery, or the promise passing (superseded by DELAYED): one episode,
and one customer message, per real delay.

DELAYED holds once the clock has passed promised_at and the parcel is not delivered.
Delivery resolves it with the lateness as evidence.
"""

from __future__ import annotations

from typing import Any

from parcelwatch.clock import iso
from parcelwatch.detection.context import Candidate, RuleContext, is_express, last_scan_evidence
from parcelwatch.detection.eta import Lateness, eta_at, late_from, missed_connection
from parcelwatch.detection.state import Episode, WaybillState

PREDICTED = "DELAY_PREDICTED"
DELAYED = "DELAYED"
_NEVER = -1
"""WaybillState.late when the model has no ETA for the parcel (no destination, no way
there, delivered)."""


def _pack(late: Lateness | None) -> int:
    """One int per waybill instead of a tuple of two: `due` is `since` or the µs after."""
    return _NEVER if late is None else late.since << 1 | (late.due - late.since)


def _unpack(packed: int) -> tuple[int, int]:
    """(due, since), as Lateness has them; a plain tuple, read on every input."""
    since = packed >> 1
    return since + (packed & 1), since


_HELD: dict[str, Any] = {}
"""Evidence of a candidate for an episode already open: the engine only reads evidence
when it opens or escalates one, so it is not rebuilt on every input."""


def check_predicted(
    w: WaybillState, ctx: RuleContext, now: int, ep: Episode | None
) -> Candidate | int | None:
    promised = w.promised_at
    if promised is None or w.terminal is not None or now > promised:
        return None
    threshold = promised + ctx.t.delay_margin
    packed = w.late
    if packed is None:  # computed once per scan or waybill, not on every tick and signal
        packed = w.late = _pack(late_from(w, ctx, threshold))
    if packed == _NEVER:
        return None
    due, since = _unpack(packed)
    if since > promised:
        return None  # it can only turn late after the promise: DELAYED's job
    if now < due:
        return due
    if ep is not None:
        return Candidate(since, "MEDIUM", _HELD, w.last_facility, w.vehicle)
    missed = (w.episodes or {}).get("MISSED_SCAN")
    if missed is not None and now < missed.opened_at + ctx.t.quiet_scans_wait:
        # The plan rests on a position the scans stopped reporting: as likely a scanner
        # that went quiet as a parcel running late. Judged again when the scans resume
        # (any new scan moves the plan), or once they have been missing this long.
        return missed.opened_at + ctx.t.quiet_scans_wait

    eta = eta_at(w, ctx, now)
    evidence: dict[str, Any] = {
        "eta": None if eta is None else iso(eta),
        "eta_model": ctx.settings.eta_model,
        "promised_at": iso(promised),
        "promise_derived": w.promise_derived,
        "margin_minutes": ctx.settings.delay_predicted_margin_minutes,
        "late_since": iso(since),
        "last_scan": last_scan_evidence(w),
    }
    if ctx.t.planned:
        evidence["missed_connection"] = missed_connection(w, ctx, threshold)
    return Candidate(
        since=since,
        severity="MEDIUM",
        facility=w.last_facility,
        vehicle=w.vehicle,
        evidence=evidence,
    )


def check_delayed(
    w: WaybillState, ctx: RuleContext, now: int, ep: Episode | None
) -> Candidate | int | None:
    promised = w.promised_at
    if promised is None or w.terminal is not None:
        return None
    if now <= promised:
        return promised + 1
    eta = eta_at(w, ctx, now)
    evidence: dict[str, Any] = {
        "promised_at": iso(promised),
        "promise_derived": w.promise_derived,
        "last_scan": last_scan_evidence(w),
    }
    if eta is not None:
        evidence["eta"] = iso(eta)
    return Candidate(
        since=promised,
        severity="HIGH" if is_express(w) else "MEDIUM",
        facility=w.last_facility,
        vehicle=w.vehicle,
        evidence=evidence,
    )


def delayed_resolution(w: WaybillState, ep: Episode, now: int) -> dict[str, Any]:
    """Evidence when DELAYED resolves: how late the parcel was."""
    done = w.terminal_at  # set with `terminal`
    if done is not None and w.promised_at is not None:
        return {
            "delivered_at": iso(done),
            "late_by_s": (done - w.promised_at) / 1_000_000,
            "promised_at": iso(w.promised_at),
        }
    return {}
