"""The expected delivery: when a parcel will most likely be delivered (P50), and a
P10–P90 window around it, from the parcel's position (issue 23).

The planned ETA (parcelwatch/detection/eta.py) is a "by" bound: every stage as planned,
the courier's full round. It stays what DELAY_PREDICTED is computed on (CONTRACT §4).
The expected delivery is what a person is told. It walks the same path over the same
timetable, with what history taught `parcelwatch calibrate` instead of the plan's
fixed figures:
- before PICKUP, the time from order to pickup, as learned (ten equally likely values);
- at each timetabled connection, the chance the parcel misses its planned departure
  given its slack (how much earlier than the departure it is planned to be ready): a
  missed connection leaves with the next departure. At the facility where the parcel
  is, the slack is counted from its own arrival; at one ahead, from the scheduled
  arrival of the truck it is planned to ride (trucks and unloading run late too);
- from out-for-delivery to delivery, the outlet's learned last mile.

Branches that arrive at the same time are merged, and branches less likely than
`_NEGLIGIBLE` are dropped, so a parcel with many connections ahead costs a few dozen
steps. What already happened is known: the distribution is conditioned on delivery
after `now`. Pure: no clock, no I/O; replay and every worker compute the same window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import NamedTuple

from parcelwatch.detection.context import Learned, RuleContext
from parcelwatch.detection.eta import _leg, _path, _position
from parcelwatch.detection.state import WaybillState

_NEGLIGIBLE = 1e-3
"""A branch less likely than this is dropped (its weight is not re-spread)."""


class Expected(NamedTuple):
    """Delivery times in µs: P10 <= P50 <= P90."""

    p10: int
    p50: int
    p90: int


def expected_delivery(w: WaybillState, ctx: RuleContext, now: int) -> Expected | None:
    """The expected delivery at `now`; None without a learned model, a destination or a
    way there, or once delivered."""
    learned = ctx.expected
    if learned is None:
        return None
    pos = _position(w, ctx)
    if pos is None:
        return None
    last_mile = learned.last_mile_of(pos.destination)
    if pos.kind == "out":
        return _window(((pos.at, 1.0),), last_mile, now)
    start = pos.facility
    handling = ctx.handling[start]
    if pos.kind == "order":  # picked up as history says orders are
        ready = _after([pos.at + d for d in learned.pickup], now, handling)
    elif pos.kind == "lane" and start == pos.destination:
        # On the last truck: its lateness moves the delivery round.
        ready = _after([pos.at + d for d in learned.late], now, handling)
    elif pos.kind == "lane":
        ready = {(pos.at if pos.at > now else now) + handling: 1.0}
    else:
        ready = {pos.at: 1.0}
    path = _path(w, ctx, start, pos.destination)
    if path is None:
        return None
    # On a lane, the parcel is ready when its truck is planned to arrive: slack from there
    # is "ahead" slack (a truck late, an unloading slow, count as well).
    out = _travel(ctx, learned, path, ready, now, pos.kind == "lane")
    return _window(out.items(), last_mile, now)


def _after(times: list[int], now: int, plus: int) -> dict[int, float]:
    """Equally likely `times`, given they are after `now` (else now), + `plus`."""
    later = [t for t in times if t > now] or [now]
    out: dict[int, float] = {}
    for t in later:
        out[t + plus] = out.get(t + plus, 0.0) + 1 / len(later)
    return out


def _travel(
    ctx: RuleContext,
    learned: Learned,
    path: Sequence[str],
    ready: dict[int, float],
    now: int,
    arriving: bool,
) -> dict[int, float]:
    """Out-for-delivery time -> probability, from `ready` (time -> probability) at
    path[0]; `arriving`: that readiness rests on a truck's planned arrival."""
    not_gone = now - ctx.t.departure_grace + 1
    handling = ctx.handling
    last = len(path) - 2
    for hop, (a, b) in enumerate(pairwise(path)):
        lane, table = _leg(ctx, a, b)
        after: dict[int, float] = {}
        for at, weight in ready.items():
            leaves: tuple[tuple[int, float], ...]
            if table is None:
                leaves = ((at if at > now else now, weight),)
            else:
                planned = table.first_at_or_after(at if at > not_gone else not_gone)
                missed = learned.miss(planned - at, ahead=arriving or hop > 0) * weight
                leaves = (
                    (planned, weight - missed),
                    (table.first_at_or_after(planned + 1), missed),
                )
            # Into the destination, the truck's lateness moves the delivery round: one
            # branch per learned value (ahead of it, the missed shares "ahead" hold it).
            late = learned.late if hop == last else (0,)
            part = 1 / len(late)
            for leave, share in leaves:
                if share * part >= _NEGLIGIBLE:
                    for d in late:
                        t = leave + lane + d + handling[b]
                        after[t] = after.get(t, 0.0) + share * part
        ready = after
    window = ctx.network.facilities[path[-1]].window
    out: dict[int, float] = {}
    for at, weight in ready.items():
        x = at if at > now else now
        goes = window.first_inside_at_or_after(x) if window is not None else x
        out[goes] = out.get(goes, 0.0) + weight
    return out


def _window(out: Iterable[tuple[int, float]], last_mile: tuple[int, ...], now: int) -> Expected:
    """P10, P50, P90 of out-for-delivery + last mile, given delivery after `now`."""
    share = 1 / len(last_mile)
    samples = sorted((t + d, w * share) for t, w in out for d in last_mile if t + d > now)
    if not samples:  # later than anything history saw: it may come at any moment
        return Expected(now, now, now)
    total = sum(w for _, w in samples)
    levels = iter((0.1 * total, 0.5 * total, 0.9 * total))
    level = next(levels)
    found: list[int] = []
    running = 0.0
    for t, w in samples:
        running += w
        while running >= level - 1e-12:
            found.append(t)
            nxt = next(levels, None)
            if nxt is None:
                return Expected(*found)
            level = nxt
    while len(found) < 3:
        found.append(samples[-1][0])
    return Expected(*found)
