"""Streams a simulation to disk in arrival order, in memory bounded by the parcels and
trucks in flight (not by the total): parcels are created in time order, and every
future record waits in one heap keyed by arrival time until nothing earlier can come."""

from __future__ import annotations

import heapq
import math
import random
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from parcelwatch.network.graph import Network
from parcelwatch.settings import RuleSettings
from parcelwatch.sim.config import SimConfig
from parcelwatch.sim.journeys import CST, JourneyBuilder, Parcel, iso
from parcelwatch.sim.trips import HOUR, Trip, TripPlanner
from parcelwatch.sim.truth import labels_for

DAY = 24 * HOUR
DRAIN_DAYS = 10
"""The simulated clock runs this long past the last creation, so every journey ends and
every 72 h silence is due."""
# Parcels are created mostly in the day: relative intensity by local hour.
_HOURLY = [
    0.2,
    0.1,
    0.1,
    0.1,
    0.1,
    0.2,
    0.4,
    0.7,
    1.0,
    1.0,
    1.0,
    1.0,
    0.9,
    0.9,
    1.0,
    1.0,
    1.0,
    1.0,
    0.9,
    0.8,
    0.7,
    0.6,
    0.4,
    0.3,
]


@dataclass
class SimSummary:
    parcels: int = 0
    records: int = 0
    scans: int = 0
    pings: int = 0
    malformed: int = 0
    labels: int = 0
    quiet: int = 0
    until: str = ""


def _line(topic: str, key: str, value: dict[str, Any]) -> bytes:
    return orjson.dumps({"topic": topic, "key": key, "value": value}) + b"\n"


def _scan_value(p: Parcel, k: int, scan) -> dict[str, Any]:
    value: dict[str, Any] = {
        "event_id": f"{p.waybill_no}-{k:02d}",
        "waybill_no": p.waybill_no,
        "facility_id": scan.facility,
        "event_time": iso(scan.t),
        "scan_type": scan.kind,
    }
    if scan.vehicle:
        value["vehicle_id"] = scan.vehicle
    if scan.next_facility:
        value["next_facility_id"] = scan.next_facility
    if scan.reason:
        value["reason"] = scan.reason
    if scan.kind == "DAMAGE_REPORTED":
        value["description"] = "外箱破损,内物受压" if scan.reason != "MINOR" else "外箱轻微压痕"
        value["photos"] = [f"https://photos.parcelwatch.example/{p.waybill_no}/{k}.jpg"]
    if scan.kind in ("OUT_FOR_DELIVERY", "DELIVERED", "DELIVERY_FAILED", "PICKUP"):
        value["courier_id"] = f"C{zlib.crc32(scan.facility.encode()) % 1000:03d}"
    return value


def _malformed(rng: random.Random, t: float) -> bytes:
    """A realistic broken record: truncated, naive timestamp, unknown facility, bad enum."""
    kind = rng.randrange(4)
    base = {
        "event_id": f"bad-{rng.randrange(10**9)}",
        "waybill_no": "SF0",
        "facility_id": "SZ-HUB",
        "event_time": iso(t),
        "scan_type": "HUB_ARRIVAL",
    }
    if kind == 0:
        return _line("scans", "SF0", base)[: rng.randrange(10, 60)] + b"\n"
    if kind == 1:
        base["event_time"] = (
            datetime.fromtimestamp(round(t), tz=CST).replace(tzinfo=None).isoformat()
        )
    elif kind == 2:
        base["facility_id"] = "NO-SUCH-SITE"
    else:
        base["scan_type"] = "TELEPORTED"
    return _line("scans", "SF0", base)


def simulate(
    network: Network,
    parcels: int,
    start: datetime,
    days: float,
    seed: int,
    events: IO[bytes],
    truth: IO[bytes],
    config: SimConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimSummary:
    config = config or SimConfig()
    settings = RuleSettings()
    rng = random.Random(seed)
    noise_rng = random.Random(seed * 31 + 1)
    planner = TripPlanner(network, config, rng, seed)
    builder = JourneyBuilder(network, config, rng, planner)
    summary = SimSummary(parcels=parcels)
    t0 = start.timestamp()
    horizon = t0 + (days + DRAIN_DAYS) * DAY
    # (arrival, seq, item, vehicle): a ready line, or (lat, lon, more pings) of a truck.
    heap: list[tuple[float, int, Any, str | None]] = []
    seq = 0

    def push(at: float, item: Any, vehicle: str | None = None) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (at, seq, item, vehicle))

    batch = config.gps_batch
    buffered: dict[str, list[dict[str, Any]]] = {}  # vehicle -> pings not uploaded yet

    def emit_until(limit: float) -> None:
        while heap and heap[0][0] < limit:
            at, _, item, vehicle = heapq.heappop(heap)
            if vehicle is None:
                events.write(item)
                summary.records += 1
                continue
            lat, lon, pings = item
            summary.pings += 1
            nxt = next(pings, None)
            if nxt is not None:
                push(nxt[0], (round(nxt[1], 6), round(nxt[2], 6), pings), vehicle)
            if batch == 1:
                ping = {"vehicle_id": vehicle, "event_time": iso(at), "lat": lat, "lon": lon}
                events.write(_line("gps", vehicle, ping))
                summary.records += 1
                continue
            held = buffered.setdefault(vehicle, [])
            held.append({"event_time": iso(at), "lat": lat, "lon": lon})
            if len(held) >= batch or nxt is None:  # full, or the trip is over: upload
                events.write(_line("gps", vehicle, {"vehicle_id": vehicle, "pings": held}))
                summary.records += 1
                del buffered[vehicle]

    def start_trip(trip: Trip) -> None:
        pings = trip.pings()
        first = next(pings, None)
        if first is not None:
            push(first[0], (round(first[1], 6), round(first[2], 6), pings), trip.vehicle_id)

    rate = parcels / (days * DAY * (sum(_HOURLY) / 24))
    t = t0
    noise = config.noise
    for i in range(parcels):
        while True:  # thinning: a day-shaped Poisson process
            t += rng.expovariate(rate)
            if rng.random() < _HOURLY[datetime.fromtimestamp(t, tz=CST).hour]:
                break
        emit_until(t)
        parcel = builder.build(f"SF{seed % 1000:03d}{i:09d}", t)
        push(t, _line("waybills", parcel.waybill_no, parcel.waybill_value()))
        for k, scan in enumerate(parcel.scans):
            line = _line("scans", parcel.waybill_no, _scan_value(parcel, k, scan))
            arrival = scan.t
            if noise_rng.random() < noise.late_upload:
                arrival += noise_rng.uniform(1, 6) * HOUR
            push(arrival, line)
            summary.scans += 1
            if noise_rng.random() < noise.redelivery:
                push(arrival + noise_rng.uniform(1, 600), line)
        for trip in planner.new_trips:
            start_trip(trip)
        planner.new_trips.clear()
        if noise_rng.random() < noise.malformed * (1 + len(parcel.scans)):
            push(t + noise_rng.uniform(0, HOUR), _malformed(noise_rng, t))
            summary.malformed += 1
        labels = labels_for(parcel, network, settings, horizon)
        for label in labels:
            record = {"kind": "label", **label.__dict__}
            for key in ("due_from", "due_to", "promised_at"):
                if record[key] is not None:
                    record[key] = iso(record[key])
            truth.write(orjson.dumps(record) + b"\n")
        delivery = {
            "kind": "delivery",
            "waybill_no": parcel.waybill_no,
            "delivered_at": None if parcel.delivered is None else iso(parcel.delivered),
            "timezone": parcel.recipient.get("timezone"),
            "fault": parcel.fault,
        }
        truth.write(orjson.dumps(delivery) + b"\n")  # what an ETA is measured against
        if labels:
            summary.labels += len(labels)
        else:
            summary.quiet += 1
            truth.write(orjson.dumps({"kind": "quiet", "waybill_no": parcel.waybill_no}) + b"\n")
        if i % 512 == 0:
            planner.forget_before(t)
            if progress:
                progress(i)
    emit_until(math.inf)
    summary.until = iso(horizon)
    truth.write(
        orjson.dumps({"kind": "meta", "until": summary.until, "parcels": parcels, "seed": seed})
        + b"\n"
    )
    if progress:
        progress(parcels)
    return summary


def simulate_to_files(
    network: Network,
    parcels: int,
    start: datetime,
    days: float,
    seed: int,
    events_path: Path,
    truth_path: Path,
    config: SimConfig | None = None,
    show_progress: bool | None = None,
) -> SimSummary:
    show = sys.stderr.isatty() if show_progress is None else show_progress
    with events_path.open("wb") as events, truth_path.open("wb") as truth:
        if not show:
            return simulate(network, parcels, start, days, seed, events, truth, config)
        from rich.progress import Progress  # the [dev] extra: only the bar needs it

        with Progress(transient=True) as bar:
            task = bar.add_task("simulating parcels", total=parcels)
            return simulate(
                network,
                parcels,
                start,
                days,
                seed,
                events,
                truth,
                config,
                progress=lambda n: bar.update(task, completed=n),
            )
