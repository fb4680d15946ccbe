"""The baseline ETA model (CONTRACT §4).

predicted delivery = now + lane hours along the rest of the planned route (the fastest
path when there is none) + handling at each facility still to be handled + last mile
after arrival at the destination outlet.

Interpretation, documented in the README:
- "facilities still to be handled" are the facility the parcel is at (unless it has
  departed it) and every later one except the destination, whose handling is the last
  mile;
- a parcel sitting anywhere slides: its prediction moves with `now`;
- once OUT_FOR_DELIVERY the last mile is under way: predicted = max(now, OFD + last mile).

`eta_model: anchored` (a setting) is a refinement measured on the simulator: each stage
counts from when it began (handling from arrival, a lane from departure, the last mile
from arrival at the outlet, the next attempt from a failed one), so a parcel only slides
once a stage overruns.

Every prediction has the shape max(now, anchor) + rest, which lets DELAY_PREDICTED
compute the exact latest moment the parcel can still make its promise.
"""

from __future__ import annotations

from ..core.clock import HOUR
from ..core.state import DELIVERY_FAILED, DEPARTING, OUT_FOR_DELIVERY, WaybillState
from .base import RuleContext, Thresholds


class Eta:
    """predicted(now) = max(now, anchor) + rest (anchor None: now + rest)."""

    __slots__ = ("anchor", "rest")

    def __init__(self, anchor: int | None, rest: int) -> None:
        self.anchor = anchor
        self.rest = rest

    def at(self, now: int) -> int:
        base = now if self.anchor is None or now > self.anchor else self.anchor
        return base + self.rest


def _tail(w: WaybillState, ctx: RuleContext, facility: str) -> tuple[float, int] | None:
    """(lane hours, facilities to handle) from `facility` to the destination."""
    dest = w.destination
    if facility == dest:
        return 0.0, 0
    route = w.route
    if route is not None and facility in route:
        profile = ctx.network.route_profile(route)
        if profile is not None:
            idx = route.index(facility)
            return profile[idx], len(route) - idx - 1
    path = ctx.network.shortest_path(facility, dest)  # type: ignore[arg-type]
    if path is None:
        return None
    return ctx.network.hours_to(facility, dest), len(path) - 1  # type: ignore[return-value,arg-type]


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
    if w.destination is None or here == w.destination:
        return None
    return ctx.network.next_hop(here, w.destination)  # type: ignore[arg-type]


def predict(w: WaybillState, ctx: RuleContext) -> Eta | None:
    """The prediction for the waybill's current position, or None when it has no
    destination, is unreachable, or is already delivered/returned."""
    if w.terminal is not None or w.destination is None:
        return None
    t = ctx.t
    kind = w.last_type
    if kind is None:  # not yet picked up: the whole journey from the origin
        journey = full_journey(w, ctx)
        return None if journey is None else Eta(None, journey)
    if kind == OUT_FOR_DELIVERY:
        return Eta(w.last_at + t.last_mile, 0)  # type: ignore[operator]
    here = w.last_facility
    anchored = t.anchored
    if kind in DEPARTING:
        ahead = next_facility(w, ctx)
        if ahead is not None:
            leg = ctx.network.leg_hours(here, ahead)  # type: ignore[arg-type]
            tail = _tail(w, ctx, ahead)
            if leg is None or tail is None:
                return None
            rest = _remaining(tail[0], tail[1], t)
            if anchored:  # the truck is due at the next facility after the lane's hours
                return Eta(w.last_at + round(leg * HOUR), rest)  # type: ignore[operator]
            return Eta(None, round(leg * HOUR) + rest)
    tail = _tail(w, ctx, here)  # type: ignore[arg-type]
    if tail is None:
        return None
    if not anchored:
        return Eta(None, _remaining(tail[0], tail[1], t))
    if tail[1] == 0:  # at the destination: the last mile, or the next attempt after a failure
        start = w.last_at + (t.retry_after_failure if kind == DELIVERY_FAILED else 0)  # type: ignore[operator]
        return Eta(start + t.last_mile, 0)
    # handling here started when the parcel arrived
    return Eta(w.last_at + t.handling, _remaining(tail[0], tail[1] - 1, t))  # type: ignore[operator]


def full_journey(w: WaybillState, ctx: RuleContext) -> int | None:
    """Microseconds from pickup at the origin to delivery, by the same model."""
    if w.origin is None or w.destination is None:
        return None
    tail = _tail(w, ctx, w.origin)
    if tail is None:
        return None
    return _remaining(tail[0], tail[1], ctx.t)


def _remaining(lane_hours: float, facilities: int, t: Thresholds) -> int:
    """Lane hours, handling at `facilities` facilities, and the last mile, in µs."""
    return round(lane_hours * HOUR) + facilities * t.handling + t.last_mile
