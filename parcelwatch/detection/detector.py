"""Both sides of the core wired together in one process, with state in dicts, a deadline
queue and an event clock: what `parcelwatch replay`, the benchmarks and the tests run.

The wiring mirrors the live pipeline: vehicle steps produce facts, which the waybill
side remembers and applies to the parcels riding the vehicle; a parcel boarding a vehicle
is told its condition from the facts remembered (parcelwatch/detection/fleet.py). Data flows one
way, vehicle side to waybill side; here a fact is applied at once instead of through
the facts topic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from parcelwatch.clock import EventClock, to_us
from parcelwatch.detection.context import RuleContext
from parcelwatch.detection.deadlines import DeadlineQueue
from parcelwatch.detection.errors import InvalidRecord
from parcelwatch.detection.fleet import Riders, condition_at, remember
from parcelwatch.detection.guard import ClockGuard
from parcelwatch.detection.state import ManifestChange, VehicleFact, VehicleState, WaybillState
from parcelwatch.detection.vehicles import VehicleProcessor, VehicleStep
from parcelwatch.detection.waybills import Output, WaybillProcessor, WaybillStep
from parcelwatch.network.graph import Network
from parcelwatch.schemas import GpsBatch, GpsPing, Scan, Waybill
from parcelwatch.settings import RuleSettings

_WAYBILL = 1
_VEHICLE = 0  # vehicles first at equal deadlines, so their facts reach waybills at once

Sink = Callable[[Output], None]
Observer = Callable[[WaybillState, Waybill | Scan, int], None]
"""Told of every order or scan applied, with the parcel's state after it and the clock."""


class Detector:
    def __init__(
        self,
        network: Network,
        settings: RuleSettings | None = None,
        sink: Sink | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.observer = observer
        self.ctx = RuleContext.create(network, settings)
        self.waybill_side = WaybillProcessor(self.ctx)
        self.vehicle_side = VehicleProcessor(self.ctx)
        self.waybills: dict[str, WaybillState] = {}
        self.vehicles: dict[str, VehicleState] = {}
        self.facts: dict[str, list[VehicleFact]] = {}  # vehicle -> its recent facts
        self.riders = Riders(self.ctx.settings.max_parcels_per_vehicle)
        self.deadlines: DeadlineQueue[tuple[int, str]] = DeadlineQueue()
        self.clock = EventClock()
        self.guard = ClockGuard(self.ctx.settings)
        self.refused: list[tuple[ManifestChange, InvalidRecord]] = []
        """Boardings refused (the vehicle is full) since the caller last emptied this:
        dead letters, with the input that caused them."""
        self.outputs: list[Output] = []
        self.sink: Sink = sink or self.outputs.append
        self._feeders: dict[type, Callable[[Any, int], None]] = {
            GpsPing: self._feed_ping,
            Scan: self._feed_scan,
            Waybill: self._feed_waybill,
        }

    def feed(self, record: Waybill | Scan | GpsPing | GpsBatch) -> None:
        """Move the clock to the record's time (firing what is due), then apply it.

        Raises InvalidRecord, before the clock moves, for a record the core refuses:
        dated too far ahead of the clock, an event id conflict, past a cap."""
        if isinstance(record, GpsBatch):
            self._feed_batch(record)
            return
        stamp = record.created_at if isinstance(record, Waybill) else record.event_time
        when = to_us(stamp)
        clock = self.clock.now
        if clock is not None and when - clock > self.guard.jump:  # inline: the hot path
            self.guard.on_event_clock(when, clock)  # raises, saying why
        self._feeders[record.__class__](record, when)

    def _feed_ping(self, ping: GpsPing, when: int) -> None:
        now = self._tick_to(when)
        v = self.vehicles.get(ping.vehicle_id)
        self._after_vehicle(self.vehicle_side.ping(v, ping, now, when), now)

    def _feed_batch(self, batch: GpsBatch) -> None:
        """A batch is its pings one by one, in time order; refused whole (before any is
        applied) if any one of them would be."""
        pings = batch.as_pings()
        times = [to_us(p.event_time) for p in pings]
        self.guard.on_event_clock_each(times, self.clock.now)
        for ping, when in zip(pings, times, strict=True):
            self._feed_ping(ping, when)

    def _feed_scan(self, scan: Scan, when: int) -> None:
        side = self.waybill_side
        admitted = side.admit(self.waybills.get(scan.waybill_no), scan, when)  # raises first
        now = self._tick_to(when)
        if admitted is not None:  # else a redelivery: it changes nothing
            w = self.waybills.get(scan.waybill_no)
            self._after_waybill(side.scan(w, scan, now, admitted, when), now)
            self._observe(scan, now)

    def _feed_waybill(self, waybill: Waybill, when: int) -> None:
        now = self._tick_to(when)
        w = self.waybills.get(waybill.waybill_no)
        self._after_waybill(self.waybill_side.register(w, waybill, now), now)
        self._observe(waybill, now)

    def _observe(self, record: Waybill | Scan, now: int) -> None:
        if self.observer is not None:
            w = self.waybills.get(record.waybill_no)
            if w is not None:  # (not forgotten at once)
                self.observer(w, record, now)

    def _tick_to(self, event_time: int) -> int:
        now = self.clock.advance(event_time)
        self.advance(now)
        return now

    def advance(self, now: int) -> None:
        """Fire every deadline at or before `now`, in deadline order, each at its own time."""
        if self.clock.now is None or now > self.clock.now:
            self.clock.now = now
        pop = self.deadlines.pop_due
        while (due := pop(now)) is not None:
            when, (side, key) = due
            if side == _WAYBILL:
                self._after_waybill(self.waybill_side.tick(self.waybills[key], when), when)
            else:
                self._after_vehicle(self.vehicle_side.tick(self.vehicles[key], when), when)

    # -- wiring ------------------------------------------------------------------
    def _after_waybill(self, step: WaybillStep, now: int) -> None:
        self._store_waybill(step)
        for change in step.manifest:
            self._board(change, now)

    def _board(self, change: ManifestChange, now: int) -> None:
        """The index of riders follows a boarding or a leaving; a parcel boarding is
        told the vehicle's condition then and every fact since."""
        vehicle, waybill_no = change.vehicle_id, change.waybill_no
        if not change.on:
            self.riders.leave(vehicle, waybill_no)
            return
        refusal = self.riders.board(vehicle, waybill_no)
        if refusal is not None:
            self.refused.append((change, refusal))
            return
        for fact in condition_at(self.facts.get(vehicle), change.at):
            self._tell(waybill_no, fact, now)

    def _after_vehicle(self, step: VehicleStep, now: int) -> None:
        v = step.state
        if step.gone:
            del self.vehicles[v.vehicle_id]
            self.deadlines.schedule((_VEHICLE, v.vehicle_id), None)
            return
        self.vehicles[v.vehicle_id] = v
        self.deadlines.schedule((_VEHICLE, v.vehicle_id), v.deadline)
        for fact in step.facts:
            history = remember(self.facts.get(fact.vehicle_id), fact)
            if history is None:
                continue
            self.facts[fact.vehicle_id] = history
            for waybill_no in self.riders.on(fact.vehicle_id):
                self._tell(waybill_no, fact, now)

    def _tell(self, waybill_no: str, fact: VehicleFact, now: int) -> None:
        step = self.waybill_side.vehicle_fact(self.waybills.get(waybill_no), fact, now)
        if step is not None:
            self._store_waybill(step)  # (a fact moves no parcel: no boarding follows)

    def _store_waybill(self, step: WaybillStep) -> None:
        w = step.state
        if step.gone:
            del self.waybills[w.waybill_no]
            self.deadlines.schedule((_WAYBILL, w.waybill_no), None)
            return
        self.waybills[w.waybill_no] = w
        self.deadlines.schedule((_WAYBILL, w.waybill_no), w.deadline)
        sink = self.sink
        for out in step.outputs:
            sink(out)
