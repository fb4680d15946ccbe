"""DAMAGED: opened by a DAMAGE_REPORTED scan; a report of worse damage escalates it
(UPDATED). It never resolves by itself, not even on delivery: people close it through
the claims ticket."""

from __future__ import annotations

from parcelwatch.clock import iso
from parcelwatch.detection.context import Candidate, RuleContext
from parcelwatch.detection.state import Episode, WaybillState

TYPE = "DAMAGED"
STICKY = True

DAMAGE_RANK = {"MINOR": 1, "MAJOR": 2, "DESTROYED": 3}
_DAMAGE_NAME = {rank: name for name, rank in DAMAGE_RANK.items()}
_SEVERITY = {1: "MEDIUM", 2: "HIGH", 3: "CRITICAL"}


def rank_of(reason: str | None) -> int:
    """The rank of a DAMAGE_REPORTED scan's reason (one of DAMAGE_RANK: the intake
    checks it; 0, no damage, for anything else)."""
    return DAMAGE_RANK.get(reason, 0) if reason is not None else 0


def damage_name(rank: int) -> str:
    return _DAMAGE_NAME[rank]


def check(
    w: WaybillState, ctx: RuleContext, now: int, ep: Episode | None
) -> Candidate | int | None:
    at = w.damage_at
    if w.damage_rank == 0 or at is None:  # set together, by the worst report
        return None
    return Candidate(
        since=at,
        severity=_SEVERITY[w.damage_rank],
        facility=w.damage_facility,
        revision=w.damage_rank,
        evidence={
            "damage": _DAMAGE_NAME[w.damage_rank],
            "reported_at": iso(at),
            "facility_id": w.damage_facility,
            "insured_value": w.insured_value,
        },
    )
