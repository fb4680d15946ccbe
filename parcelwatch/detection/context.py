"""What a rule is, and what it is given.

A rule looks at one waybill's state at time `now` and answers with one of:
- a `Candidate`: the exception condition holds now;
- an `int`: it does not hold now, but will at that time if nothing else arrives
  (a deadline: this is how the absence of an expected scan is detected);
- `None`: it does not hold and will not without new input.

The episode engine turns these answers into OPEN / UPDATED / RESOLVED records, so rules
stay small pure functions with no knowledge of ids, tickets or notifications.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from parcelwatch.clock import HOUR, MINUTE, hours_us, iso
from parcelwatch.detection.state import Episode, WaybillState
from parcelwatch.network.graph import Network
from parcelwatch.settings import ExpectedDelivery, RuleSettings, SettingsError


class Candidate:
    """An exception condition that holds now."""

    __slots__ = ("evidence", "facility", "identity", "revision", "severity", "since", "vehicle")

    def __init__(
        self,
        since: int,
        severity: str,
        evidence: dict[str, Any],
        facility: str | None = None,
        vehicle: str | None = None,
        identity: str | None = None,
        revision: int = 0,
    ) -> None:
        self.since = since  # when the condition began: the episode's opened_at
        self.severity = severity
        self.evidence = evidence
        self.facility = facility
        self.vehicle = vehicle
        self.identity = identity  # a different identity is a different episode
        self.revision = revision  # a higher revision is an escalation (UPDATED)


class Thresholds:
    """RuleSettings converted once to integer microseconds for the hot path."""

    def __init__(self, s: RuleSettings) -> None:
        self.pickup_overdue = hours_us(s.pickup_overdue_hours)
        self.lane_factor = s.missed_scan_lane_factor
        self.missed_grace = hours_us(s.missed_scan_grace_hours)
        self.arrival_radius_m = s.vehicle_arrival_radius_m
        self.after_arrival = hours_us(s.missed_scan_after_vehicle_arrival_hours)
        self.out_for_delivery = hours_us(s.out_for_delivery_hours)
        self.hub_dwell = hours_us(s.hub_dwell_hours)
        self.outlet_dwell = hours_us(s.outlet_dwell_hours)
        self.stationary_radius_m = s.stationary_radius_m
        self.stationary = round(s.stationary_minutes * MINUTE)
        self.offsite_radius_m = s.offsite_radius_m
        self.gps_silence = round(s.gps_silence_minutes * MINUTE)
        self.delay_margin = round(s.delay_predicted_margin_minutes * MINUTE)
        self.quiet_scans_wait = hours_us(s.delay_predicted_quiet_scans_hours)
        self.handling = hours_us(s.handling_hours)
        self.last_mile = hours_us(s.last_mile_hours)
        self.promise_margin = {str(p): hours_us(h) for p, h in s.promise_margin_hours.items()}
        self.lost_after = hours_us(s.lost_after_hours)
        self.planned = s.eta_model == "planned"
        self.departure_grace = round(s.departure_grace_minutes * MINUTE)
        self.forget_finished = hours_us(s.forget_finished_after_hours)
        self.forget_vehicle = hours_us(s.forget_silent_vehicle_after_hours)


class Learned:
    """The expected delivery's learned model (ExpectedDelivery) in µs, built once."""

    __slots__ = ("ahead", "bounds", "last_mile", "late", "missed", "pickup", "pooled")

    def __init__(self, model: ExpectedDelivery) -> None:
        self.pickup = tuple(hours_us(h) for h in model.pickup_hours)
        self.late = tuple(round(h * HOUR) for h in model.arrival_late_hours)
        self.last_mile = {
            k: tuple(hours_us(h) for h in v) for k, v in model.last_mile_hours.items()
        }
        self.pooled = self.last_mile["*"]
        self.bounds = tuple(hours_us(b) for b, _, _ in model.missed_by_slack)
        self.missed = tuple(here for _, here, _ in model.missed_by_slack)
        self.ahead = tuple(ahead for _, _, ahead in model.missed_by_slack)

    def miss(self, slack: int, ahead: bool) -> float:
        """The share of connections missed at this slack (µs), here or ahead."""
        shares = self.ahead if ahead else self.missed
        i = bisect_left(self.bounds, slack)
        return shares[min(i, len(shares) - 1)]

    def last_mile_of(self, outlet: str) -> tuple[int, ...]:
        return self.last_mile.get(outlet, self.pooled)


@dataclass(frozen=True, slots=True)
class RuleContext:
    network: Network
    settings: RuleSettings
    t: Thresholds
    handling: dict[str, int]
    """Planned handling per facility in µs: its own handling_hours, else the setting."""
    last_mile: dict[str, int]
    """The planned ETA's last mile per facility in µs: learned (`last_mile_learned_hours`),
    else `last_mile_hours`."""
    expected: Learned | None = None
    """The expected delivery's learned model (detection/expected.py), None when none
    was learned."""
    plans: OrderedDict[Any, Any] = field(default_factory=OrderedDict)
    """The ETA model's memo of backward passes (parcelwatch/detection/eta.py), bounded."""
    legs: dict[tuple[str, str], Any] = field(default_factory=dict)
    """The ETA model's hops (µs, timetable) by facility pair, filled as asked."""

    @classmethod
    def create(cls, network: Network, settings: RuleSettings | None = None) -> RuleContext:
        settings = settings or RuleSettings()
        t = Thresholds(settings)
        handling = {
            fid: t.handling if f.handling_hours is None else hours_us(f.handling_hours)
            for fid, f in network.facilities.items()
        }
        learned = settings.last_mile_learned_hours
        for fid in learned:
            f = network.facilities.get(fid)
            if f is None or f.is_hub:
                what = "a hub" if f is not None else "not in the network"
                raise SettingsError(f"last_mile_learned_hours: {fid!r} is {what}")
        last_mile = {
            fid: hours_us(learned[fid]) if fid in learned else t.last_mile
            for fid in network.facilities
        }
        model = settings.expected_delivery
        expected = Learned(model) if model is not None else None
        return cls(network, settings, t, handling, last_mile, expected)


Check = Callable[[WaybillState, RuleContext, int, Episode | None], "Candidate | int | None"]


def is_express(w: WaybillState) -> bool:
    return w.product in ("SAME_DAY", "NEXT_DAY")


def last_scan_evidence(w: WaybillState) -> dict[str, Any] | None:
    if w.last_at is None:
        return None
    return {
        "event_id": w.last_event,
        "scan_type": w.last_type,
        "facility_id": w.last_facility,
        "event_time": iso(w.last_at),
    }
