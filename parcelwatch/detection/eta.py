"""ETA models (CONTRACT §4): the planned ETA (default) and the old baseline.

**Planned** (`eta_model: planned`): the delivery time the plan still allows from the
parcel's last known position, every remaining stage going as planned along the rest of
its planned route (the fastest path where it has none):
- at a facility, ready at the first scan of this stay + the facility's handling_hours;
  at the destination after a DELIVERY_FAILED, handling_hours after the failure;
- on a lane departed at d toward X: at X at max(now, d + lane hours); d is the time of
  the HUB_DEPARTURE scan, or for a parcel LOADed on a timetabled direction, the first
  scheduled departure not gone at its LOAD (it leaves with its truck, however late);
- a timetabled direction leaves at the first scheduled departure at or after ready that
  has not gone yet (gone `departure_grace_minutes` after its time); any other direction
  leaves at max(now, ready);
- at the destination: out for delivery at the first moment at or after max(now, ready)
  inside the outlet's delivery window, delivered `last_mile_hours` later; once
  OUT_FOR_DELIVERY, at max(now, that scan + last_mile_hours);
- before PICKUP: as if picked up now at the origin.

With no new scan the planned ETA never decreases as `now` advances, and only the
parcel's current stage depends on `now` (every later stage starts after it). So whether
the plan still makes a deadline T is a backward pass over the path — the latest moment
each stage may be ready — and the first instant the plan misses T is known when the
parcel's position changes: it is DELAY_PREDICTED's deadline, with no scan needed.

**Baseline** (`eta_model: baseline`, the contract's older model, kept for comparison):
now + lane hours + handling at every facility still to be handled + last mile; it
slides with `now` wherever the parcel sits.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, NamedTuple

from parcelwatch.clock import HOUR, iso
from parcelwatch.detection.context import RuleContext, Thresholds
from parcelwatch.detection.state import (
    DELIVERY_FAILED,
    DEPARTING,
    LOAD,
    OUT_FOR_DELIVERY,
    WaybillState,
)
from parcelwatch.network.timetable import Departures


class Lateness(NamedTuple):
    """When the plan stops delivering by a deadline T."""

    due: int
    """The first instant at which the ETA is later than T (when the check must run)."""
    since: int
    """When the plan became late, the episode's opened_at: the moment a connection went
    (or a courier round closed); the latest on-time moment where the ETA slides with the
    clock (1 µs before `due`); the parcel's position time if the plan was already late
    when the parcel got there."""


def next_facility(w: WaybillState, ctx: RuleContext) -> str | None:
    """Where a departed parcel is heading: the scan's next_facility_id, else the next
    facility on the route, else the next hop of the fastest path."""
    if w.last_next is not None:
        return w.last_next
    here = w.last_facility
    route = w.route
    if route is not None and here in route:
        idx = route.index(here)
        return route[idx + 1] if idx + 1 < len(route) else None
    dest = w.destination
    if here is None or dest is None or here == dest:
        return None
    return ctx.network.next_hop(here, dest)


def eta_at(w: WaybillState, ctx: RuleContext, now: int) -> int | None:
    """The ETA at `now` by the configured model; None when the waybill has no destination,
    cannot reach it, or is delivered/returned."""
    if ctx.t.planned:
        return planned_eta(w, ctx, now)
    eta = predict(w, ctx)
    return None if eta is None else eta.at(now)


def late_from(w: WaybillState, ctx: RuleContext, deadline: int) -> Lateness | None:
    """When the configured model's ETA first exceeds `deadline`, None if never."""
    if ctx.t.planned:
        return planned_late_from(w, ctx, deadline)
    return baseline_late_from(w, ctx, deadline)


# -- the planned ETA -----------------------------------------------------------------
def _path(w: WaybillState, ctx: RuleContext, start: str, dest: str) -> tuple[str, ...] | None:
    """Facilities from `start` to `dest`: the rest of the planned route when `start` is
    on it (and the network can travel it), else the fastest path."""
    route = w.route
    if (
        route is not None
        and start in route
        and route[-1] == dest
        and ctx.network.route_profile(route) is not None  # every hop can be travelled
    ):
        return route[route.index(start) :]
    return ctx.network.shortest_path(start, dest)


class _Position(NamedTuple):
    """The parcel's current stage on its way to `destination`. kind: "order" (not yet
    picked up at `facility`, the origin: ready at now + handling), "ready" (at
    `facility`, ready at `at`), "lane" (departed toward `facility`, there at `at`) or
    "out" (out for delivery since `at`)."""

    kind: str
    facility: str
    at: int
    since: int
    """When the parcel got to this stage: a plan late from then on is late since then."""
    destination: str


def _position(w: WaybillState, ctx: RuleContext) -> _Position | None:
    dest = w.destination
    if w.terminal is not None or dest is None:
        return None
    kind = w.last_type
    here = w.last_facility
    last = w.last_at
    if kind is None or here is None or last is None:  # set together, by the latest scan
        if w.origin is None or w.created_at is None:
            return None
        return _Position("order", w.origin, w.created_at, w.created_at, dest)
    if kind == OUT_FOR_DELIVERY:
        return _Position("out", here, last, last, dest)
    if kind in DEPARTING:
        ahead = next_facility(w, ctx)
        if ahead is not None:
            if ctx.network.leg_hours(here, ahead) is None:
                return None  # heading where no lane leads (a oneway lane's wrong way)
            left = last
            table = ctx.network.schedules.get((here, ahead)) if kind == LOAD else None
            if table is not None:
                # Loaded: it leaves with its truck, the first departure not gone when it
                # was loaded (a truck loaded a little late is still the one it boarded).
                left = table.first_at_or_after(last - ctx.t.departure_grace + 1)
            return _Position("lane", ahead, left + _lane_us(ctx, here, ahead), last, dest)
    handling = ctx.handling[here]
    if kind == DELIVERY_FAILED:
        return _Position("ready", here, last + handling, last, dest)
    stay = w.stay_at if w.stay_at is not None else last
    return _Position("ready", here, stay + handling, last, dest)


def _leg(ctx: RuleContext, a: str, b: str) -> tuple[int, Departures | None]:
    """The hop a -> b as the plan needs it: its hours in µs (the lane, else the fastest
    path) and its timetable. Remembered per pair, so the backward pass costs one look-up
    a stage; at most one entry per pair of the network's facilities."""
    leg = ctx.legs.get((a, b))
    if leg is None:
        hours = ctx.network.reachable_hours(a, b)  # a hop of a travelled path
        leg = ctx.legs[(a, b)] = (round(hours * HOUR), ctx.network.schedules.get((a, b)))
    return leg


def _lane_us(ctx: RuleContext, a: str, b: str) -> int:
    return _leg(ctx, a, b)[0]


def planned_eta(w: WaybillState, ctx: RuleContext, now: int) -> int | None:
    pos = _position(w, ctx)
    if pos is None:
        return None
    if pos.kind == "out":
        done = pos.at + ctx.last_mile[pos.facility]
        return done if done > now else now
    start = pos.facility
    if pos.kind == "lane":
        ready = (pos.at if pos.at > now else now) + ctx.handling[start]
    elif pos.kind == "order":
        ready = now + ctx.handling[start]
    else:
        ready = pos.at
    path = _path(w, ctx, start, pos.destination)
    if path is None:
        return None
    return _forward(ctx, path, ready, now)


def journey_end(w: WaybillState, ctx: RuleContext) -> int | None:
    """When the configured model delivers the parcel picked up at the origin the moment it
    was created: the base of a derived promise (README), whatever has been scanned since,
    so that an order arriving after its scans is promised the same."""
    created = w.created_at
    if w.origin is None or w.destination is None or created is None:
        return None
    if not ctx.t.planned:
        journey = full_journey(w, ctx)
        return None if journey is None else created + journey
    path = _path(w, ctx, w.origin, w.destination)
    if path is None:
        return None
    # A promise is made with the plan's last mile, not the learned one: a commitment,
    # not an estimate.
    end = _forward(ctx, path, created + ctx.handling[w.origin], created)
    return end - ctx.last_mile[path[-1]] + ctx.t.last_mile


def _forward(ctx: RuleContext, path: tuple[str, ...], ready: int, now: int) -> int:
    """Delivery time from being ready at path[0] at `ready`, by the plan, at `now`."""
    handling = ctx.handling
    # A departure s has gone once now >= s + grace: the first one left is s > now - grace.
    not_gone = now - ctx.t.departure_grace + 1
    for a, b in pairwise(path):
        lane, table = _leg(ctx, a, b)
        if table is None:
            leave = ready if ready > now else now
        else:
            leave = table.first_at_or_after(ready if ready > not_gone else not_gone)
        ready = leave + lane + handling[b]
    x = ready if ready > now else now
    window = ctx.network.facilities[path[-1]].window
    out = window.first_inside_at_or_after(x) if window is not None else x
    return out + ctx.last_mile[path[-1]]


class _Latest(NamedTuple):
    ready: int
    """The latest moment the parcel may be ready at path[0] and still make the deadline."""
    timetabled: bool
    """path[0]'s departure is timetabled: a connection, gone `grace` after its time."""
    closes: bool
    """path[0] is the destination and `ready` is the last moment of a delivery window."""


def _latest_ready(
    ctx: RuleContext, path: tuple[str, ...], deadline: int, explain: list | None = None
) -> _Latest:
    """Backward over the path: the latest ready time at each stage that still delivers by
    `deadline`. `explain` collects the connections that bind, nearest last."""
    fac = ctx.network.facilities
    legs = ctx.legs
    handling = ctx.handling
    dest = path[-1]
    latest = deadline - ctx.last_mile[dest]  # the latest moment to go out for delivery
    window = fac[dest].window
    closes = False
    if window is not None:
        inside = window.last_inside_at_or_before(latest)
        closes = inside != latest
        if explain is not None and closes:
            explain.append(
                {"delivery_round": dest, "window": window.label(), "closes_at": iso(inside + 1)}
            )
        latest = inside
    timetabled = False
    for k in range(len(path) - 2, -1, -1):
        a, b = path[k], path[k + 1]
        lane, table = legs.get((a, b)) or _leg(ctx, a, b)
        leave = latest - handling[b] - lane
        if table is None:
            latest, timetabled = leave, False
        else:
            latest, timetabled = table.last_at_or_before(leave), True
            if explain is not None:
                explain.append({"lane": [a, b], "scheduled_departure": iso(latest)})
    return _Latest(latest, timetabled, closes and len(path) == 1)


_PLANS = 8192
"""Backward passes remembered per context; when full, the oldest goes."""


def _latest_ready_memo(ctx: RuleContext, path: tuple[str, ...], deadline: int) -> _Latest:
    """_latest_ready, remembered: a parcel's scans at one stage, its ticks and its vehicle's
    signals all ask the same (path, deadline) again, and parcels on one route with one
    promise share it."""
    memo = ctx.plans
    key = (path, deadline)
    latest = memo.get(key)
    if latest is None:
        if len(memo) >= _PLANS:
            memo.popitem(last=False)  # the oldest: a parcel asks again soon, or not at all
        latest = memo[key] = _latest_ready(ctx, path, deadline)
    return latest


def planned_late_from(
    w: WaybillState, ctx: RuleContext, deadline: int, explain: list | None = None
) -> Lateness | None:
    pos = _position(w, ctx)
    if pos is None:
        return None
    # `since`: when the plan turns late; `exact`: late at `since` itself (a departure's
    # grace runs out, a window closes), else the instant after (a sliding stage's latest
    # on-time moment). `ok`: the stage's fixed times still allow it at all.
    exact = False
    if pos.kind == "out":
        ok = pos.at + ctx.last_mile[pos.facility] <= deadline
        since = deadline
    else:
        path = _path(w, ctx, pos.facility, pos.destination)
        if path is None:
            return None
        if explain is None:
            latest = _latest_ready_memo(ctx, path, deadline)
        else:
            latest = _latest_ready(ctx, path, deadline, explain)
        if pos.kind == "lane":
            # At the next facility by its latest ready time less handling there.
            arrive_by = latest.ready - ctx.handling[pos.facility]
            ok = pos.at <= arrive_by
            since = arrive_by
        elif pos.kind == "order":  # before pickup: ready at now + handling
            ok = True
            since = latest.ready - ctx.handling[pos.facility]
        else:
            ok = pos.at <= latest.ready
            since = latest.ready
            if latest.timetabled:  # the connection goes `grace` after its time
                since, exact = latest.ready + ctx.t.departure_grace, True
            elif latest.closes:  # the window's last courier round is over at its end
                since, exact = latest.ready + 1, True
    due = since if exact else since + 1
    if not ok or due <= pos.since:
        return Lateness(pos.since, pos.since)  # late from the moment it got here
    return Lateness(due, since)


def missed_connection(w: WaybillState, ctx: RuleContext, deadline: int) -> dict[str, Any] | None:
    """The connection whose loss made the plan late: the nearest timetabled departure (or
    delivery round) that had to be made for `deadline`, as evidence."""
    explain: list[dict[str, Any]] = []
    planned_late_from(w, ctx, deadline, explain)
    return explain[-1] if explain else None


# -- the baseline model --------------------------------------------------------------
class Eta:
    """Baseline: predicted(now) = max(now, anchor) + rest (anchor None: now + rest)."""

    __slots__ = ("anchor", "rest")

    def __init__(self, anchor: int | None, rest: int) -> None:
        self.anchor = anchor
        self.rest = rest

    def at(self, now: int) -> int:
        base = now if self.anchor is None or now > self.anchor else self.anchor
        return base + self.rest


def _tail(w: WaybillState, ctx: RuleContext, facility: str, dest: str) -> tuple[float, int] | None:
    """(lane hours, facilities to handle) from `facility` to `dest`."""
    if facility == dest:
        return 0.0, 0
    route = w.route
    if route is not None and facility in route:
        profile = ctx.network.route_profile(route)
        if profile is not None:
            idx = route.index(facility)
            return profile[idx], len(route) - idx - 1
    path = ctx.network.shortest_path(facility, dest)
    hours = ctx.network.hours_to(facility, dest)
    if path is None or hours is None:  # both None, or neither: one search answers both
        return None
    return hours, len(path) - 1


def predict(w: WaybillState, ctx: RuleContext) -> Eta | None:
    """The baseline prediction for the waybill's current position."""
    dest = w.destination
    if w.terminal is not None or dest is None:
        return None
    t = ctx.t
    kind = w.last_type
    here = w.last_facility
    last = w.last_at
    if kind is None or here is None or last is None:  # not yet picked up: from the origin
        journey = full_journey(w, ctx)
        return None if journey is None else Eta(None, journey)
    if kind == OUT_FOR_DELIVERY:
        return Eta(last + t.last_mile, 0)
    if kind in DEPARTING:
        ahead = next_facility(w, ctx)
        if ahead is not None:
            leg = ctx.network.leg_hours(here, ahead)
            tail = _tail(w, ctx, ahead, dest)
            if leg is None or tail is None:
                return None
            return Eta(None, round(leg * HOUR) + _remaining(tail[0], tail[1], t))
    tail = _tail(w, ctx, here, dest)
    if tail is None:
        return None
    return Eta(None, _remaining(tail[0], tail[1], t))


def baseline_late_from(w: WaybillState, ctx: RuleContext, deadline: int) -> Lateness | None:
    eta = predict(w, ctx)
    if eta is None:
        return None
    position_at = w.last_at if w.last_at is not None else w.created_at
    if position_at is None:
        return None
    if eta.anchor is not None and eta.anchor + eta.rest > deadline:
        return Lateness(position_at, position_at)
    since = deadline - eta.rest  # the latest on-time moment; late the instant after
    if since < position_at:
        return Lateness(position_at, position_at)
    return Lateness(since + 1, since)


def full_journey(w: WaybillState, ctx: RuleContext) -> int | None:
    """Microseconds from pickup at the origin to delivery by the baseline model."""
    if w.origin is None or w.destination is None:
        return None
    tail = _tail(w, ctx, w.origin, w.destination)
    if tail is None:
        return None
    return _remaining(tail[0], tail[1], ctx.t)


def _remaining(lane_hours: float, facilities: int, t: Thresholds) -> int:
    """Lane hours, handling at `facilities` facilities, and the last mile, in µs."""
    return round(lane_hours * HOUR) + facilities * t.handling + t.last_mile
