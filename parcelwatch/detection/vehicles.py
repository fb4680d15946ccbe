"""The vehicle side of the core: GPS pings in, vehicle facts out — only when the
vehicle's condition changes, never per ping.

Conditions (CONTRACT §4, STALLED_IN_TRANSIT and MISSED_SCAN (b)):
- STATIONARY: moved less than `stationary_radius_m` for `stationary_minutes` while
  farther than `offsite_radius_m` from every facility (the window starts at the first
  ping after the vehicle's last real step);
- SILENT: no ping for `gps_silence_minutes`;
- arrival: the vehicle came within `vehicle_arrival_radius_m` of a facility.
A vehicle that never sent a ping is untracked: it has no facts. Its first ping is a fact
(OK, where it is), so the waybill side knows it is tracked.

The vehicle side knows nothing of parcels: which parcels ride which vehicle, and what a
fact means for them, is the waybill side's (parcelwatch/detection/fleet.py). Data flows one way.
"""

from __future__ import annotations

from parcelwatch.clock import to_us
from parcelwatch.detection.context import RuleContext
from parcelwatch.detection.state import (
    VEHICLE_OK,
    VEHICLE_SILENT,
    VEHICLE_STATIONARY,
    VehicleFact,
    VehicleState,
)
from parcelwatch.network.graph import local_distance_m
from parcelwatch.schemas import GpsPing


class VehicleStep:
    """`forgotten`: the vehicle had been silent long enough to be forgotten
    (`forget_silent_vehicle_after_hours`) before this input; `state` is then a new one."""

    __slots__ = ("facts", "forgotten", "state")

    def __init__(self, state: VehicleState) -> None:
        self.state = state
        self.facts: list[VehicleFact] = []
        self.forgotten = False

    @property
    def deadline(self) -> int | None:
        return self.state.deadline

    @property
    def gone(self) -> bool:
        """The state is to be deleted, not stored: forgotten, and no ping since."""
        return self.forgotten and self.state.last_ping_at is None


class VehicleProcessor:
    def __init__(self, ctx: RuleContext) -> None:
        self.ctx = ctx
        t = ctx.t
        self._stationary = t.stationary
        self._silence = t.gps_silence
        self._still_m = t.stationary_radius_m
        self._step_m = t.stationary_radius_m / 5
        self._offsite_m = t.offsite_radius_m
        self._arrival_m = t.arrival_radius_m
        self._lookup_m = max(t.offsite_radius_m, t.arrival_radius_m)
        self._forget = t.forget_vehicle

    def ping(
        self, v: VehicleState | None, ping: GpsPing, now: int, at: int | None = None
    ) -> VehicleStep:
        """Apply a ping; `at`: its event time in µs, if the caller has it."""
        v = v or VehicleState(ping.vehicle_id)
        t = at if at is not None else to_us(ping.event_time)
        if v.last_ping_at is not None and t <= v.last_ping_at:
            return VehicleStep(v)  # late or redelivered: the position it describes is past
        step, now = self._begin(v, now)
        v = step.state  # (a new one if the vehicle was forgotten)
        first = v.last_ping_at is None
        lat, lon = ping.lat, ping.lon
        # The stationary window restarts when the vehicle is farther than the radius from
        # where it stopped, or when it just made a real step (more than a fifth of the
        # radius since the last ping): then it was still rolling, and anchoring on the
        # rolling position would let GPS jitter around the radius restart the window.
        moved = (
            v.last_ping_at is None
            or local_distance_m(v.lat, v.lon, lat, lon) > self._step_m
            or local_distance_m(v.anchor_lat, v.anchor_lon, lat, lon) > self._still_m
        )
        v.last_ping_at = t
        v.heard_at = now
        v.lat, v.lon = lat, lon
        nearest = self.ctx.network.nearest(lat, lon, self._lookup_m)
        if moved:
            v.anchor_lat, v.anchor_lon, v.anchor_at = lat, lon, t
            v.anchor_offsite = nearest is None or nearest[1] > self._offsite_m
        inside = nearest[0].id if nearest is not None and nearest[1] <= self._arrival_m else None
        arrived = inside is not None and inside != v.at_facility
        if inside != v.at_facility:
            v.at_facility = inside
            v.at_facility_since = t
        self._refresh(step, now, arrived or first)
        return step

    def tick(self, v: VehicleState, now: int) -> VehicleStep:
        """Time has reached `now` with no ping: re-check the condition (`gone`: the state
        is to be deleted)."""
        step, now = self._begin(v, now)
        if not step.forgotten:
            self._refresh(step, now, False)
        return step

    def _begin(self, v: VehicleState, now: int) -> tuple[VehicleStep, int]:
        """As on the waybill side: monotonic time, and checks that fell due before this
        input happen first, each at its own time."""
        step = VehicleStep(v)
        if v.clock is not None and now < v.clock:
            now = v.clock
        while v.deadline is not None and v.deadline <= now:
            due = v.deadline
            if v.status == VEHICLE_SILENT and due == self._forgotten_at(v):
                step.forgotten = True
                v = step.state = VehicleState(v.vehicle_id)
                break
            self._refresh(step, due, False)
            if v.deadline is not None and v.deadline <= due:
                break
        v.clock = now
        return step, now

    def _refresh(self, step: VehicleStep, now: int, news: bool) -> None:
        """Recompute the condition at `now`, publish a change (or `news`: an arrival, the
        first ping), schedule the next check."""
        v = step.state
        if v.last_ping_at is None:
            return
        silent_at = v.last_ping_at + self._silence
        still_at = v.anchor_at + self._stationary if v.anchor_offsite else None
        if now >= silent_at:
            status = VEHICLE_SILENT
        elif still_at is not None and now >= still_at:
            status = VEHICLE_STATIONARY
        else:
            status = VEHICLE_OK
        changed = status != v.status
        v.status = status
        if changed or news:
            step.facts.append(self._fact(v, now))
        if status == VEHICLE_SILENT:
            deadline = self._forgotten_at(v)  # nothing else changes until the next ping
        elif status == VEHICLE_OK and still_at is not None and still_at < silent_at:
            deadline = still_at
        else:
            deadline = silent_at
        v.deadline = deadline

    def _forgotten_at(self, v: VehicleState) -> int | None:
        """`forget_silent_vehicle_after_hours` after the last ping was applied (a state
        stored by an older version: after its time)."""
        heard = v.heard_at if v.heard_at is not None else v.last_ping_at
        return None if heard is None else heard + self._forget

    @staticmethod
    def _fact(v: VehicleState, now: int) -> VehicleFact:
        since = v.anchor_at if v.status == VEHICLE_STATIONARY else v.last_ping_at
        return VehicleFact(
            vehicle_id=v.vehicle_id,
            status=v.status,
            since=since,
            lat=v.lat,
            lon=v.lon,
            facility=v.at_facility,
            facility_since=v.at_facility_since,
            at=now,
        )
