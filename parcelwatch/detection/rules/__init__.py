"""The ten exception rules of CONTRACT §4, one obvious module each, and their order.

Order matters only for the order of records produced at one instant: DELAY_PREDICTED
comes before DELAYED so that, when the promise passes, the prediction is resolved before
the delay opens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from parcelwatch.detection.context import Candidate, Check, RuleContext
from parcelwatch.detection.rules import (
    damage,
    delay,
    delivery,
    lost,
    misroute,
    missed_scan,
    pickup,
    stalls,
)
from parcelwatch.detection.state import Episode, WaybillState


@dataclass(frozen=True, slots=True)
class Rule:
    type: str
    check: Check
    sticky: bool = False
    """A sticky episode is never resolved by the engine (people close it)."""
    resolution: Callable[[WaybillState, Episode, int], dict[str, Any]] | None = None
    """Extra evidence for the RESOLVED record."""


RULES: tuple[Rule, ...] = (
    Rule(pickup.TYPE, pickup.check),
    Rule(missed_scan.TYPE, missed_scan.check),
    Rule(stalls.AT_FACILITY, stalls.check_at_facility),
    Rule(stalls.IN_TRANSIT, stalls.check_in_transit),
    Rule(misroute.TYPE, misroute.check),
    Rule(delay.PREDICTED, delay.check_predicted),
    Rule(delay.DELAYED, delay.check_delayed, resolution=delay.delayed_resolution),
    Rule(lost.TYPE, lost.check),
    Rule(damage.TYPE, damage.check, sticky=True),
    Rule(delivery.TYPE, delivery.check),
)

__all__ = ["RULES", "Candidate", "Rule", "RuleContext"]
