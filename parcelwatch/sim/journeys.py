"""One parcel's life: product, route, promise, the scans it really gets (after any
injected fault) and the trips it rides. Transport noise is added later, on the way out."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from parcelwatch.network.graph import Network
from parcelwatch.sim.config import SimConfig
from parcelwatch.sim.people import chinese_name, english_name, phone
from parcelwatch.sim.trips import HOUR, Trip, TripPlanner

CST = ZoneInfo("Asia/Shanghai")
MINUTE = 60.0
PARCEL_FAULTS = (
    "overdue_pickup",
    "hub_stall",
    "suppressed_scan",
    "left_on_truck",
    "damage",
    "failed_delivery",
    "misroute",
    "lost",
    "unmeetable_promise",
    "out_for_delivery_no_outcome",
)
PROMISE_MARGIN_H = {"SAME_DAY": 4.0, "NEXT_DAY": 8.0, "STANDARD": 12.0, "ECONOMY": 24.0}
"""Promises = the timetable's plan for a parcel picked up PICKUP_ALLOWANCE_H after its
creation + this margin, rounded up to the hour (how carriers quote 时效 from their
line-haul plan)."""
PICKUP_ALLOWANCE_H = 4.0
"""The latest a normal pickup happens after the order (pickups take 0.5-4 h)."""
DAMAGE = (("MINOR", 0.6), ("MAJOR", 0.3), ("DESTROYED", 0.1))
FAILURE = (("RECIPIENT_ABSENT", 0.6), ("ADDRESS_INVALID", 0.15), ("REFUSED", 0.1), ("OTHER", 0.15))


@dataclass
class ScanRec:
    t: float
    kind: str
    facility: str
    vehicle: str | None = None
    next_facility: str | None = None
    reason: str | None = None


@dataclass
class Parcel:
    waybill_no: str
    created: float
    product: str
    origin: str
    destination: str
    route: tuple[str, ...] | None
    promised: float | None
    """The promise in force: the waybill's own, or None when the waybill has none."""
    insured: float
    recipient: dict[str, str]
    fault: str | None
    scans: list[ScanRec] = field(default_factory=list)
    legs: list[tuple[Trip, float, float]] = field(default_factory=list)
    """(trip, boarded at, got off at) for every vehicle the parcel rode."""
    delivered: float | None = None

    def waybill_value(self) -> dict:
        value = {
            "waybill_no": self.waybill_no,
            "product": self.product,
            "created_at": iso(self.created),
            "origin_facility_id": self.origin,
            "destination_facility_id": self.destination,
            "insured_value": self.insured,
            "recipient": self.recipient,
        }
        if self.promised is not None:
            value["promised_at"] = iso(self.promised)
        if self.route is not None:
            value["planned_route"] = list(self.route)
        return value


def iso(t: float) -> str:
    """Scanner-style local timestamps with their offset."""
    return datetime.fromtimestamp(round(t), tz=CST).isoformat()


def _pick(rng: random.Random, weighted) -> str:
    u = rng.random() * sum(w for _, w in weighted)
    for item, w in weighted:
        u -= w
        if u <= 0:
            return item
    return weighted[-1][0]


def baseline_hours(network: Network, path: tuple[str, ...]) -> float:
    """The contract's ETA model for the whole journey: lanes, 2 h per facility handled
    before the destination, 4 h last mile."""
    lanes = sum(network.reachable_hours(a, b) for a, b in itertools.pairwise(path))
    return lanes + 2.0 * (len(path) - 1) + 4.0


def handling_h(network: Network, facility: str, default: float = 2.0) -> float:
    hours = network.facilities[facility].handling_hours
    return default if hours is None else hours


def planned_delivery(
    network: Network,
    path: tuple[str, ...],
    pickup: float,
    *,
    handling_default_h: float = 2.0,
    last_mile_h: float = 4.0,
) -> float:
    """When the network's plan delivers a parcel picked up at `pickup` (CONTRACT §4's
    stages, written here from the contract for the simulator alone): ready after the
    facility's handling, the first timetabled departure at or after that (or at once),
    the lane's hours, out at the first moment inside the destination's window, then the
    last mile."""
    ready = pickup + handling_h(network, path[0], handling_default_h) * HOUR
    for a, b in itertools.pairwise(path):
        table = network.schedules.get((a, b))
        leave = ready if table is None else table.first_at_or_after(math.ceil(ready * 1e6)) / 1e6
        handling = handling_h(network, b, handling_default_h)
        ready = leave + network.reachable_hours(a, b) * HOUR + handling * HOUR
    window = network.facilities[path[-1]].window
    out = ready if window is None else window.first_inside_at_or_after(math.ceil(ready * 1e6)) / 1e6
    return out + last_mile_h * HOUR


class JourneyBuilder:
    def __init__(
        self, network: Network, config: SimConfig, rng: random.Random, planner: TripPlanner
    ):
        self.network = network
        self.config = config
        self.rng = rng
        self.planner = planner
        outlets: dict[str, list[str]] = {}
        for fac in network.facilities.values():
            if not fac.is_hub:
                outlets.setdefault(fac.city, []).append(fac.id)
        self.outlets_by_city = {c: sorted(o) for c, o in outlets.items() if o}
        self.same_city = [c for c, o in self.outlets_by_city.items() if len(o) >= 2]
        self.all_outlets = sorted(o for os in self.outlets_by_city.values() for o in os)
        self.products = sorted(config.products.items())

    def _fault(self) -> str | None:
        u = self.rng.random()
        for name in PARCEL_FAULTS:
            u -= getattr(self.config.faults, name)
            if u < 0:
                return name
        return None

    def build(self, waybill_no: str, created: float) -> Parcel:
        rng = self.rng
        net = self.network
        product = _pick(rng, self.products)
        if product == "SAME_DAY" and self.same_city:
            origin, dest = rng.sample(self.outlets_by_city[rng.choice(self.same_city)], 2)
        else:
            origin = rng.choice(self.all_outlets)
            city = net.facilities[origin].city
            dest = rng.choice([o for o in self.all_outlets if net.facilities[o].city != city])
        path = net.shortest_path(origin, dest)
        assert path is not None, f"{origin} cannot reach {dest}"
        fault = self._fault()
        english = rng.random() < self.config.english_share
        recipient = {
            "name": english_name(rng) if english else chinese_name(rng),
            "phone": phone(rng),
            "locale": "en" if english else "zh-CN",
            "timezone": "Asia/Shanghai",
        }
        plan = planned_delivery(net, path, created + PICKUP_ALLOWANCE_H * HOUR) - created
        if fault == "unmeetable_promise":
            promised = created + plan * rng.uniform(0.35, 0.6)
        else:
            promised = created + plan + PROMISE_MARGIN_H[product] * HOUR
        promised_at: float | None = math.ceil(promised / HOUR) * HOUR
        if rng.random() < self.config.no_promise_share and fault != "unmeetable_promise":
            promised_at = None
        parcel = Parcel(
            waybill_no=waybill_no,
            created=created,
            product=product,
            origin=origin,
            destination=dest,
            route=None if rng.random() < self.config.no_route_share else path,
            promised=promised_at,
            insured=float(rng.choice((200, 500, 2000)))
            if rng.random() < self.config.insured_share
            else 0.0,
            recipient=recipient,
            fault=fault,
        )
        self._travel(parcel, path)
        return parcel

    # -- the journey ---------------------------------------------------------------
    def _travel(self, p: Parcel, path: tuple[str, ...]) -> None:
        rng = self.rng
        fault = p.fault
        inner = list(range(1, len(path) - 1))  # indices of facilities between O and D
        if fault == "misroute":
            detour = self._misroute(p, path)
            if detour is None:
                fault = p.fault = None
            else:
                path = detour
        fault_at = (
            rng.choice(inner)
            if inner and fault in ("hub_stall", "suppressed_scan", "damage")
            else None
        )
        if fault in ("hub_stall", "suppressed_scan", "damage") and fault_at is None:
            fault = p.fault = None
        left_on_leg = rng.randrange(len(path) - 1) if fault == "left_on_truck" else None

        scans = p.scans
        pickup = (
            p.created
            + (rng.uniform(25, 40) if fault == "overdue_pickup" else rng.uniform(0.5, 4)) * HOUR
        )
        scans.append(ScanRec(pickup, "PICKUP", path[0]))
        ready = pickup + self._handling(path[0])
        arrived = pickup
        for i in range(len(path) - 1):
            a, b = path[i], path[i + 1]
            trip = self.planner.board(a, b, ready)
            # Loaded for the scheduled time: a truck that leaves late leaves loaded.
            load = max(ready, trip.scheduled - rng.uniform(10, 40) * MINUTE)
            scans.append(ScanRec(load, "LOAD", a, trip.vehicle_id))
            scans.append(ScanRec(trip.depart, "HUB_DEPARTURE", a, trip.vehicle_id, b))
            if i == left_on_leg:
                off = trip.arrive + rng.uniform(3, 8) * HOUR  # found in the truck later
            else:
                off = trip.arrive + rng.uniform(5, 30) * MINUTE
            scans.append(ScanRec(off, "UNLOAD", b, trip.vehicle_id))
            arrived = off + rng.uniform(2, 15) * MINUTE
            scans.append(ScanRec(arrived, "HUB_ARRIVAL", b))
            p.legs.append((trip, load, off))
            if i + 1 == len(path) - 1:
                break
            dwell = off + self._handling(b) - arrived  # the stay began with the unload
            if fault == "hub_stall" and i + 1 == fault_at:
                dwell = rng.uniform(13, 30) * HOUR
            if fault == "damage" and i + 1 == fault_at:
                reason = _pick(rng, DAMAGE)
                scans.append(
                    ScanRec(
                        arrived + dwell * rng.uniform(0.1, 0.5), "DAMAGE_REPORTED", b, reason=reason
                    )
                )
            ready = arrived + dwell
        self._last_mile(p, path[-1], off)
        if fault == "suppressed_scan" and fault_at is not None:
            hidden = path[fault_at]
            p.scans = [s for s in scans if s.facility != hidden]
        elif fault == "lost":
            cut = rng.randrange(1, len(scans) - 2)
            p.scans = scans[:cut]
            p.delivered = None
        p.scans.sort(key=lambda s: s.t)

    def _handling(self, facility: str) -> float:
        """Seconds from a parcel's first scan at a facility until it is ready to leave:
        the facility's planned handling (the minimum connection time by which hubs
        assign parcels to departures), more when sorting overruns it."""
        noise = self.config.schedule
        extra = 0.0
        if self.rng.random() < noise.sort_overrun:
            extra = self.rng.uniform(0.25, 3.0)
        return (handling_h(self.network, facility) + extra) * HOUR

    def _last_mile(self, p: Parcel, dest: str, arrived: float) -> None:
        rng = self.rng
        scans = p.scans
        attempts = 0
        if p.fault == "failed_delivery":
            attempts = 1 if rng.random() < 0.7 else 2
        ofd = self._next_round(dest, arrived + self._handling(dest))
        for _ in range(attempts):
            scans.append(ScanRec(ofd, "OUT_FOR_DELIVERY", dest))
            failed = ofd + rng.uniform(0.5, 4) * HOUR
            scans.append(ScanRec(failed, "DELIVERY_FAILED", dest, reason=_pick(rng, FAILURE)))
            # Ready again after the outlet's handling; the next round in the window.
            ofd = self._next_round(dest, failed + self._handling(dest))
        scans.append(ScanRec(ofd, "OUT_FOR_DELIVERY", dest))
        if p.fault == "out_for_delivery_no_outcome":
            done = ofd + rng.uniform(13, 20) * HOUR
        else:
            done = ofd + rng.uniform(0.5, 4) * HOUR
        scans.append(ScanRec(done, "DELIVERED", dest))
        p.delivered = done

    def _next_round(self, outlet: str, ready: float) -> float:
        """When a parcel sorted at `ready` goes out: at once inside the outlet's delivery
        window, else when it opens; an outlet without a window sends couriers out
        between 07:00 and 17:00."""
        rng = self.rng
        window = self.network.facilities[outlet].window
        if window is not None:
            return window.first_inside_at_or_after(math.ceil(ready * 1e6)) / 1e6
        local = datetime.fromtimestamp(ready + 0.5 * HOUR, tz=CST)
        if 7 <= local.hour < 17:
            return ready + rng.uniform(0.5, 2) * HOUR
        day = local.date() if local.hour < 7 else local.date() + timedelta(days=1)
        morning = datetime(day.year, day.month, day.day, 8, tzinfo=CST).astimezone(UTC)
        return morning.timestamp() + rng.uniform(0, 1.5) * HOUR

    def _misroute(self, p: Parcel, path: tuple[str, ...]) -> tuple[str, ...] | None:
        """Send the parcel from one of its hubs to a wrong neighbouring hub, then on from
        there by the fastest path."""
        net = self.network
        dest = p.destination
        candidates = []
        for i in range(1, len(path) - 2):
            here = path[i]
            for other in sorted(net.neighbours(here)):
                if other in path or not net.facilities[other].is_hub:
                    continue
                if p.route is None and (net.hours_to(other, dest) or 0) <= (
                    net.hours_to(here, dest) or 0
                ):
                    continue
                candidates.append((i, other))
        if not candidates:
            return None
        i, wrong = self.rng.choice(candidates)
        rest = net.shortest_path(wrong, dest)
        return (*path[: i + 1], *rest) if rest else None
