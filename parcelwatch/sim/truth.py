"""Ground truth: what the contract says parcelwatch must detect for a simulated parcel,
and when.

This is an oracle written from the contract's words over the parcel's true, clean
timeline (its recorded scans in event-time order, before transport noise, and the real
movements of the trucks it rode). It shares no rule code with the detector, so
replay + evaluate measures the detector against the specification, not against itself.
Delay labels are physical: DELAYED when the parcel really was delivered after its
promise, DELAY_PREDICTED when it really missed promise + 30 min (and the warning must
come before the promise).
"""

from __future__ import annotations

from dataclasses import dataclass

from parcelwatch.network.graph import Network
from parcelwatch.schemas.inputs import Product
from parcelwatch.settings import RuleSettings
from parcelwatch.sim.journeys import Parcel, baseline_hours, planned_delivery
from parcelwatch.sim.trips import HOUR

MINUTE = 60.0
WINDOW_S = 2 * HOUR
"""How long after its due time a detection still counts."""
LEAVING = {"HUB_DEPARTURE", "LOAD", "OUT_FOR_DELIVERY", "DELIVERED", "RETURNED_TO_SENDER"}
DEPARTING = {"HUB_DEPARTURE", "LOAD"}
OFF = {"UNLOAD", "HUB_ARRIVAL", "OUT_FOR_DELIVERY", "DELIVERED", "RETURNED_TO_SENDER"}


@dataclass
class Label:
    waybill_no: str
    type: str
    due_from: float
    due_to: float
    cause: str
    facility_id: str | None = None
    promised_at: float | None = None


def promise_in_force(p: Parcel, network: Network, settings: RuleSettings) -> float | None:
    """The waybill's promise, or the documented derivation when it has none: what the
    ETA model delivers for the parcel picked up when it was created, + the margin."""
    if p.promised is not None:
        return p.promised
    path = p.route or network.route(p.origin, p.destination)
    margin = settings.promise_margin_hours[Product(p.product)] * HOUR
    if settings.eta_model == "baseline":
        return p.created + baseline_hours(network, path) * HOUR + margin
    end = planned_delivery(
        network,
        path,
        p.created,
        handling_default_h=settings.handling_hours,
        last_mile_h=settings.last_mile_hours,
    )
    return end + margin


def labels_for(p: Parcel, network: Network, settings: RuleSettings, horizon: float) -> list[Label]:
    out: list[Label] = []
    cause = p.fault or "consequence"
    s = settings
    scans = p.scans
    times = [x.t for x in scans]
    end = next((x.t for x in scans if x.kind == "DELIVERED"), None)
    live = [x for x in scans if end is None or x.t <= end]  # scans up to delivery

    def add(kind: str, due: float, to: float | None = None, facility: str | None = None, **kw):
        if due <= horizon:
            out.append(
                Label(
                    p.waybill_no,
                    kind,
                    due,
                    to if to is not None else due + WINDOW_S,
                    cause,
                    facility,
                    **kw,
                )
            )

    # PICKUP_OVERDUE: no scan at all within 24 h of creation.
    limit = p.created + s.pickup_overdue_hours * HOUR
    if (times[0] if times else horizon + 1) >= limit:
        add("PICKUP_OVERDUE", limit, facility=p.origin)

    for k, scan in enumerate(live):
        nxt = (
            live[k + 1].t
            if k + 1 < len(live)
            else (horizon + 1 if end is None or scan.t < end else None)
        )
        if scan.kind == "DELIVERED" or nxt is None:
            break
        gap = nxt - scan.t
        # LOST_SUSPECTED: 72 h without a scan.
        if gap >= s.lost_after_hours * HOUR:
            add("LOST_SUSPECTED", scan.t + s.lost_after_hours * HOUR, facility=scan.facility)
        # STALLED_AT_FACILITY: no later scan within the dwell limit (one episode per stay).
        if scan.kind not in LEAVING:
            hub = network.facilities[scan.facility].is_hub
            dwell = (s.hub_dwell_hours if hub else s.outlet_dwell_hours) * HOUR
            prev = live[k - 1] if k else None
            same_stay = (
                prev is not None
                and prev.facility == scan.facility
                and prev.kind not in LEAVING
                and out
                and out[-1].type == "STALLED_AT_FACILITY"
                and out[-1].facility_id == scan.facility
            )
            if gap >= dwell and not same_stay:
                add("STALLED_AT_FACILITY", scan.t + dwell, facility=scan.facility)
        # MISSED_SCAN (d): out for delivery, no outcome within 12 h.
        if scan.kind == "OUT_FOR_DELIVERY" and gap >= s.out_for_delivery_hours * HOUR:
            add("MISSED_SCAN", scan.t + s.out_for_delivery_hours * HOUR, facility=scan.facility)
        # MISSED_SCAN (a)/(b): the next checkpoint is overdue, or the truck got there and
        # the parcel was not scanned.
        if scan.kind in DEPARTING:
            due = _checkpoint_due(p, scan, network, s)
            if due is not None and nxt >= due[0]:
                add("MISSED_SCAN", due[0], facility=due[1])

    _skipped_checkpoints(p, live, out, add)
    _stalls_in_transit(p, scans, network, s, horizon, add)
    _misroutes(p, live, network, add)
    first_damage = next((x for x in scans if x.kind == "DAMAGE_REPORTED"), None)
    if first_damage is not None:
        add("DAMAGED", first_damage.t, facility=first_damage.facility)
    first_failure = next((x for x in live if x.kind == "DELIVERY_FAILED"), None)
    if first_failure is not None:
        add("DELIVERY_FAILED", first_failure.t, facility=first_failure.facility)

    promised = promise_in_force(p, network, s)
    if promised is not None:
        if end is None or end > promised:
            add("DELAYED", promised, promised_at=promised)
        margin = s.delay_predicted_margin_minutes * MINUTE
        if (end is None or end > promised + margin) and p.created < promised:
            add("DELAY_PREDICTED", p.created, promised, promised_at=promised)
    return out


def _next_checkpoint(p: Parcel, here: str, scan_next: str | None, network: Network) -> str | None:
    if scan_next is not None:
        return scan_next
    if p.route is not None and here in p.route:
        i = p.route.index(here)
        return p.route[i + 1] if i + 1 < len(p.route) else None
    return network.next_hop(here, p.destination) if here != p.destination else None


def _checkpoint_due(p: Parcel, scan, network: Network, s: RuleSettings) -> tuple[float, str] | None:
    target = _next_checkpoint(p, scan.facility, scan.next_facility, network)
    if target is None:
        return None
    lane = network.reachable_hours(scan.facility, target)
    due = scan.t + (lane * s.missed_scan_lane_factor + s.missed_scan_grace_hours) * HOUR
    for trip, _, _ in p.legs:
        if trip.vehicle_id == scan.vehicle and trip.dest.id == target and trip.fence_at >= scan.t:
            due = min(due, trip.fence_at + s.missed_scan_after_vehicle_arrival_hours * HOUR)
    return due, target


def _skipped_checkpoints(p: Parcel, live, out: list[Label], add) -> None:
    """MISSED_SCAN (c): a scan further along the planned route than a checkpoint that was
    never scanned, unless an overdue-checkpoint episode for it was already open."""
    route = p.route
    if route is None:
        return
    seen: set[str] = set()
    recorded: set[str] = set()
    for scan in live:
        if scan.facility in route:
            j = route.index(scan.facility)
            for f in route[:j]:
                if f in seen or f in recorded:
                    continue
                recorded.add(f)
                already = any(
                    lab.type == "MISSED_SCAN" and lab.facility_id == f and lab.due_from <= scan.t
                    for lab in out
                )
                if not already:
                    add("MISSED_SCAN", scan.t, facility=f)
        seen.add(scan.facility)


def _stalls_in_transit(
    p: Parcel, scans, network: Network, s: RuleSettings, horizon: float, add
) -> None:
    """STALLED_IN_TRANSIT: while the parcel is on a tracked truck, the truck stands still
    off-site or its GPS is silent for the limit (silence counted from boarding at the
    earliest)."""
    trips = {trip.vehicle_id: trip for trip, _, _ in p.legs}
    silence = s.gps_silence_minutes * MINUTE
    still = s.stationary_minutes * MINUTE
    vehicle = None
    boarded = 0.0
    spans = []
    for scan in scans:
        if scan.kind in DEPARTING and scan.vehicle and scan.vehicle != vehicle:
            if vehicle is not None:
                spans.append((vehicle, boarded, scan.t))
            vehicle, boarded = scan.vehicle, scan.t
        elif scan.kind in OFF and vehicle is not None:
            spans.append((vehicle, boarded, scan.t))
            vehicle = None
        if scan.kind == "DELIVERED":
            break
    if vehicle is not None:
        spans.append((vehicle, boarded, horizon + 1))
    for vehicle, start, stop in spans:
        trip = trips.get(vehicle)
        if trip is None:
            continue
        stopped, last_before_gap, last_ping = trip.facts()
        starts = []
        if trip.stop and stopped is not None and trip.stop[1] - stopped >= still:
            lat, lon = trip.position(trip.stop[0] + 1)
            if network.nearest(lat, lon, s.offsite_radius_m) is None:
                starts.append(stopped + still)
        if trip.gap and last_before_gap is not None:
            since = max(last_before_gap, start) + silence
            if since < trip.gap[1]:
                starts.append(since)
        starts.append(max(last_ping, start) + silence)  # parked, GPS off
        for since in starts:
            if start <= since < stop:
                add("STALLED_IN_TRANSIT", since)


def _misroutes(p: Parcel, live, network: Network, add) -> None:
    """MISROUTED: the first scan of each stretch off the planned route (or, with no
    route, farther from the destination than the closest facility reached so far)."""
    dist = network.to_destination(p.destination)[0]
    off = False
    visited: list[str] = []
    for scan in live:
        if scan.kind == "DELIVERED":
            break
        here = scan.facility
        if p.route is not None:
            now_off = here not in p.route
        else:
            best = min(
                (dist.get(f, float("inf")) for f in visited if f != here), default=float("inf")
            )
            now_off = dist.get(here, float("inf")) > best + 1e-9
        if now_off and not off:
            add("MISROUTED", scan.t, facility=here)
        off = now_off
        if here not in visited:
            visited.append(here)
