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


def damage_name(rank: int) -> str:
    return _DAMAGE_NAME[rank]


def check(
    w: WaybillState, ctx: RuleContext, now: int, ep: Episode | None
) -> Candidate | int | None:
    if w.damage_rank == 0:
        return None
    return Candidate(
        since=w.damage_at,  # type: ignore[arg-type]
        severity=_SEVERITY[w.damage_rank],
        facility=w.damage_facility,
        revision=w.damage_rank,
        evidence={
            "damage": _DAMAGE_NAME[w.damage_rank],
            "reported_at": iso(w.damage_at),  # type: ignore[arg-type]
            "facility_id": w.damage_facility,
            "insured_value": w.insured_value,
        },
    )
