"""The vehicle side of the core: GPS pings and manifest changes in, vehicle conditions
out — fanned out per waybill, and only when the condition changes, never per ping.

Conditions (CONTRACT §4, STALLED_IN_TRANSIT and MISSED_SCAN (b)):
- STATIONARY: moved less than `stationary_radius_m` for `stationary_minutes` while
  farther than `offsite_radius_m` from every facility (the window starts at the first
  ping after the vehicle's last real step);
- SILENT: no ping for `gps_silence_minutes`;
- arrival: the vehicle came within `vehicle_arrival_radius_m` of a facility.
A vehicle that never sent a ping is untracked: it never signals anything.
"""

from __future__ import annotations

from ..network import local_distance_m
from ..rules.base import RuleContext
from ..schemas import GpsPing
from .clock import to_us
from .errors import InvalidRecord
from .state import (
    VEHICLE_OK,
    VEHICLE_SILENT,
    VEHICLE_STATIONARY,
    ManifestChange,
    VehicleSignal,
    VehicleState,
)

_HISTORY = 16
"""Condition changes a vehicle remembers, for parcels whose boarding is read late."""


class VehicleStep:
    __slots__ = ("refused", "signals", "state")

    def __init__(self, state: VehicleState) -> None:
        self.state = state
        self.signals: list[VehicleSignal] = []
        # Boardings past max_parcels_per_vehicle: dead letters (`over_limit`) for the
        # caller to publish; the parcel stays off this vehicle's manifest.
        self.refused: tuple[tuple[ManifestChange, InvalidRecord], ...] = ()

    @property
    def deadline(self) -> int | None:
        return self.state.deadline


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
        self._max_parcels = ctx.settings.max_parcels_per_vehicle

    def ping(
        self, v: VehicleState | None, ping: GpsPing, now: int, at: int | None = None
    ) -> VehicleStep:
        """Apply a ping; `at`: its event time in µs, if the caller has it."""
        v = v or VehicleState(ping.vehicle_id)
        t = at if at is not None else to_us(ping.event_time)
        if v.last_ping_at is not None and t <= v.last_ping_at:
            return VehicleStep(v)  # late or redelivered: the position it describes is past
        step, now = self._begin(v, now)
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
        v.lat, v.lon = lat, lon
        nearest = self.ctx.network.nearest(lat, lon, self._lookup_m)
        if moved:
            v.anchor_lat, v.anchor_lon, v.anchor_at = lat, lon, t
            v.anchor_offsite = nearest is None or nearest[1] > self._offsite_m
        at = nearest[0].id if nearest is not None and nearest[1] <= self._arrival_m else None
        arrived = at is not None and at != v.at_facility
        if at != v.at_facility:
            v.at_facility = at
            v.at_facility_since = t
        self._refresh(step, now, arrived)
        return step

    def manifest(self, v: VehicleState | None, change: ManifestChange, now: int) -> VehicleStep:
        """A waybill got on or off. A change from this vehicle's future (`change.at` >
        `now`: the waybill side ran ahead) waits until the vehicle's time reaches it, so
        the parcel is aboard for exactly the conditions it really rode through."""
        step, now = self._begin(v or VehicleState(change.vehicle_id), now)
        v = step.state
        if change.at > now:
            if change.on and self._full(step, change, len(v.pending or ())):
                self._refresh(step, now, False)
                return step
            pending = sorted([*(v.pending or ()), change], key=lambda c: c.at)
            v.pending = pending
            self._refresh(step, now, False)
            return step
        self._apply_change(step, change, now)
        self._refresh(step, now, False)
        return step

    def _apply_change(self, step: VehicleStep, change: ManifestChange, now: int) -> None:
        v = step.state
        if change.on:
            if change.waybill_no in v.manifest:
                return  # redelivered (at least once): the waybill has heard all since
            if self._full(step, change, len(v.manifest)):
                return
            v.manifest[change.waybill_no] = None
            if v.last_ping_at is not None:
                step.signals.extend(self._since(v, change.waybill_no, change.at, now))
        else:
            v.manifest.pop(change.waybill_no, None)

    def _full(self, step: VehicleStep, change: ManifestChange, size: int) -> bool:
        """Whether a boarding would pass the vehicle's cap; if so it is refused (its
        state, and every condition's fan-out, stay bounded whatever arrives)."""
        if size < self._max_parcels:
            return False
        refusal = InvalidRecord(
            "over_limit", f"vehicle already carries {size} parcels (max_parcels_per_vehicle)"
        )
        step.refused = (*step.refused, (change, refusal))
        return True

    def _since(self, v: VehicleState, waybill_no: str, at: int, now: int) -> list[VehicleSignal]:
        """What a waybill that boarded at `at` should know: the condition then, and every
        change since. Usually just the current condition; more when this side has run
        ahead of the waybill side (a backlog read faster on one side)."""
        if at >= (v.clock or 0) or not v.history:
            return [self._signal(v, waybill_no, now)]
        earlier = [h for h in v.history if h[0] <= at]
        later = [h for h in v.history if h[0] > at]
        picked = ([earlier[-1]] if earlier else []) + later
        return [VehicleSignal(v.vehicle_id, waybill_no, *h[1:], h[0]) for h in picked]

    def tick(self, v: VehicleState, now: int) -> VehicleStep:
        step, now = self._begin(v, now)
        self._refresh(step, now, False)
        return step

    def _begin(self, v: VehicleState, now: int) -> tuple[VehicleStep, int]:
        """As on the waybill side: monotonic time, and what fell due before this input
        (checks and waiting manifest changes) happens first, in time order."""
        step = VehicleStep(v)
        if v.clock is not None and now < v.clock:
            now = v.clock
        while v.deadline is not None and v.deadline <= now:
            due = v.deadline
            while v.pending and v.pending[0].at <= due:
                self._apply_change(step, v.pending.pop(0), due)
            v.pending = v.pending or None
            self._refresh(step, due, False)
            if v.deadline is not None and v.deadline <= due:
                break
        v.clock = now
        return step, now

    def _refresh(self, step: VehicleStep, now: int, arrived: bool) -> None:
        """Recompute the condition at `now`, fan out a change, schedule the next check."""
        v = step.state
        if v.last_ping_at is None:
            v.deadline = v.pending[0].at if v.pending else None
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
        if changed or arrived:
            template = self._signal(v, "", now)
            v.history = [*(v.history or ())[-(_HISTORY - 1) :], (now, *template[2:8])]
            if v.manifest:
                step.signals.extend(template._replace(waybill_no=wb) for wb in v.manifest)
        # Checks run with an empty manifest too: the history must hold every change at
        # its own time for parcels whose boarding the waybill side reports late.
        if status == VEHICLE_SILENT:
            deadline = None  # nothing changes until the next ping
        elif status == VEHICLE_OK and still_at is not None and still_at < silent_at:
            deadline = still_at
        else:
            deadline = silent_at
        if v.pending and (deadline is None or v.pending[0].at < deadline):
            deadline = v.pending[0].at
        v.deadline = deadline

    @staticmethod
    def _signal(v: VehicleState, waybill_no: str, now: int) -> VehicleSignal:
        since = v.anchor_at if v.status == VEHICLE_STATIONARY else v.last_ping_at
        return VehicleSignal(
            vehicle_id=v.vehicle_id,
            waybill_no=waybill_no,
            status=v.status,
            since=since,
            lat=v.lat,
            lon=v.lon,
            facility=v.at_facility,
            facility_since=v.at_facility_since,
            at=now,
        )
