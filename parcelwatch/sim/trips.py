"""Vehicle trips: scheduled departures on each lane, shared by every parcel that is ready
for them, with GPS pings every 30-60 s along the way and, for a few, a breakdown or a
GPS outage."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from parcelwatch.network.graph import Facility, haversine_m

HOUR = 3600.0
PARK_AFTER_S = 30 * 60.0
"""The truck keeps pinging in the yard this long after arriving, then parks (GPS off)."""
WARMUP_S = 10 * 60.0


class Trip:
    __slots__ = (
        "_facts",
        "arrive",
        "depart",
        "dest",
        "every",
        "fence_at",
        "gap",
        "origin",
        "scheduled",
        "seed",
        "stop",
        "vehicle_id",
    )

    def __init__(
        self,
        vehicle_id: str,
        origin: Facility,
        dest: Facility,
        depart: float,
        travel_s: float,
        seed: int,
        every: tuple[float, float],
        stop: tuple[float, float] | None = None,
        gap: tuple[float, float] | None = None,
        scheduled: float | None = None,
    ) -> None:
        self.vehicle_id = vehicle_id
        self.scheduled = depart if scheduled is None else scheduled  # the timetable's time
        self.every = every
        self._facts: tuple[float | None, float | None, float] | None = None
        self.origin = origin
        self.dest = dest
        self.depart = depart
        self.seed = seed
        self.stop = stop  # (start, end) of a breakdown, off-site
        self.gap = gap  # (start, end) of a GPS outage
        stopped = stop[1] - stop[0] if stop else 0.0
        self.arrive = depart + travel_s + stopped
        # When the truck comes within 1 km of its destination (the geofence).
        dist = haversine_m(origin.lat, origin.lon, dest.lat, dest.lon)
        fence_frac = max(0.0, 1 - 1000 / dist) if dist > 0 else 0.0
        self.fence_at = self._time_at_fraction(fence_frac)

    @property
    def last_ping(self) -> float:
        return self.arrive + PARK_AFTER_S

    def _travel_s(self) -> float:
        stopped = self.stop[1] - self.stop[0] if self.stop else 0.0
        return self.arrive - self.depart - stopped

    def _time_at_fraction(self, frac: float) -> float:
        t = self.depart + frac * self._travel_s()
        if self.stop and t > self.stop[0]:
            t += self.stop[1] - self.stop[0]
        return t

    def position(self, t: float) -> tuple[float, float]:
        o, d = self.origin, self.dest
        if t <= self.depart:
            frac = 0.0
        elif t >= self.arrive:
            frac = 1.0
        else:
            moving = t - self.depart
            if self.stop and t > self.stop[0]:
                moving -= min(t, self.stop[1]) - self.stop[0]
            frac = moving / self._travel_s()
        return o.lat + (d.lat - o.lat) * frac, o.lon + (d.lon - o.lon) * frac

    def facts(self) -> tuple[float | None, float | None, float]:
        """What the pings really show, for the ground truth: (first ping at or after the
        breakdown, last ping before the GPS outage, last ping before parking)."""
        if self._facts is None:
            stopped = last_before_gap = None
            last = self.depart
            for t, _, _ in self.pings():
                if self.stop and stopped is None and t >= self.stop[0]:
                    stopped = t
                if self.gap and t < self.gap[0]:
                    last_before_gap = t
                last = t
            self._facts = (stopped, last_before_gap, last)
        return self._facts

    def pings(self) -> Iterator[tuple[float, float, float]]:
        """(time, lat, lon) from shortly before departure until the truck parks."""
        every = self.every
        rng = random.Random(self.seed)
        t = self.depart - WARMUP_S + rng.uniform(0, every[0])
        end = self.last_ping
        gap = self.gap
        while t <= end:
            if gap is None or not (gap[0] <= t < gap[1]):
                lat, lon = self.position(t)
                jitter = 0.0002  # ~20 m of GPS noise
                yield t, lat + rng.uniform(-jitter, jitter), lon + rng.uniform(-jitter, jitter)
            t += rng.uniform(*every)


class TripPlanner:
    """Finds or creates the trip a parcel ready at a facility at time `ready` boards: the
    first scheduled departure of the network's timetable at or after `ready` that is not
    cancelled (by schedule time: a late truck still takes what was ready for its slot),
    or, for a direction without a timetable, the next slot of a fixed interval."""

    def __init__(self, network, config, rng: random.Random, seed: int) -> None:
        self.network = network
        self.linehaul = config.linehaul_departure_hours * HOUR
        self.local = config.local_departure_hours * HOUR
        self.faults = config.faults
        self.noise = config.schedule
        self.every = config.ping_seconds
        self.rng = rng
        self.seed = seed
        self.trips: dict[tuple[str, str, float], Trip | None] = {}
        """By (from, to, scheduled departure); None: that departure was cancelled."""
        self.new_trips: list[Trip] = []
        self._serial = 0

    def board(self, a: str, b: str, ready: float) -> Trip:
        table = self.network.schedules.get((a, b))
        while True:
            if table is None:
                fac = self.network.facilities
                interval = self.linehaul if fac[a].is_hub and fac[b].is_hub else self.local
                scheduled = math.ceil(ready / interval) * interval
            else:
                scheduled = table.first_at_or_after(math.ceil(ready * 1e6)) / 1e6
            key = (a, b, scheduled)
            if key not in self.trips:
                self.trips[key] = self._create(a, b, scheduled)
            trip = self.trips[key]
            if trip is not None:
                return trip
            ready = scheduled + 1.0  # cancelled: the next one

    def _create(self, a: str, b: str, scheduled: float) -> Trip | None:
        rng = self.rng
        noise = self.noise
        u = rng.random()
        if u < noise.cancelled_departure:
            return None
        depart = scheduled + rng.uniform(0, 3) * 60.0  # on time
        if u < noise.cancelled_departure + noise.late_departure:
            beyond = rng.random() < noise.late_beyond_grace
            depart = scheduled + rng.uniform(*((30, 120) if beyond else (3, 30))) * 60.0
        self._serial += 1
        hours = self.network.leg_hours(a, b)
        travel = hours * HOUR * rng.uniform(*noise.lane_time)
        stop = gap = None
        if hours >= 2:
            if rng.random() < self.faults.truck_breakdown:
                start = depart + travel * rng.uniform(0.3, 0.7)
                stop = (start, start + rng.uniform(1.5, 4) * HOUR)
            elif hours >= 4 and rng.random() < self.faults.gps_loss:
                start = depart + travel * rng.uniform(0.2, 0.5)
                gap = (start, start + min(rng.uniform(1.5, 3) * HOUR, travel * 0.45))
        fac = self.network.facilities
        vehicle = f"V{self._serial:07d}-{a}-{b}"[:64]
        seed = self.seed * 7_919 + self._serial
        trip = Trip(vehicle, fac[a], fac[b], depart, travel, seed, self.every, stop, gap, scheduled)
        self.new_trips.append(trip)
        return trip

    def forget_before(self, t: float) -> None:
        """Drop departures scheduled long ago: nothing can board them any more."""
        stale = [k for k in self.trips if k[2] < t - 2 * HOUR]
        for key in stale:
            del self.trips[key]
