"""Core throughput and state size: a mixed stream of scans and GPS pings through the
detection core alone (no broker, no JSON), against a minimal baseline in the same run.

    python benchmarks/core_throughput.py [--waybills 10000] [--vehicles 200] [--json FILE]

Prints a table and a JSON object. The baseline does the least any keyed stream
processor does per event (read a key, write a dict entry), so the ratio is the cost of
the rules themselves on this machine, today.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import random
import sys
import time
import tracemalloc
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from parcelwatch.detection.detector import Detector
from parcelwatch.network.graph import Network
from parcelwatch.offline.replay import replay
from parcelwatch.schemas import GpsPing, Scan, Waybill

START = datetime.fromisoformat("2026-11-11T00:00:00+08:00")


def build_stream(network: Network, waybills: int, vehicles: int, seed: int) -> list[Any]:
    """Waybills travelling their fastest path with scans at every facility, and trucks
    shuttling along hub lanes pinging every 60 s; merged in time order."""
    rng = random.Random(seed)
    outlets = [f.id for f in network.facilities.values() if not f.is_hub]
    hubs = [f for f in network.facilities.values() if f.is_hub]
    lanes = sorted({(h.id, n) for h in hubs for n in network.neighbours(h.id) if n.endswith("HUB")})
    trucks = [f"TRK-{i:04d}" for i in range(vehicles)]
    truck_of_lane = {lane: trucks[i % vehicles] for i, lane in enumerate(lanes)}
    timed: list[tuple[datetime, int, Any]] = []
    seq = 0
    horizon = timedelta(hours=0)
    for i in range(waybills):
        origin, dest = rng.sample(outlets, 2)
        path = network.shortest_path(origin, dest)
        created = START + timedelta(minutes=rng.uniform(0, 12 * 60))
        no = f"SF{i:010d}"
        wb = Waybill(
            waybill_no=no,
            product=rng.choice(["NEXT_DAY", "STANDARD", "STANDARD", "ECONOMY"]),
            created_at=created,
            origin_facility_id=origin,
            destination_facility_id=dest,
            planned_route=list(path),
            insured_value=rng.choice([0, 0, 0, 300]),
            recipient={"name": "张伟", "phone": "13800138000"},
        )
        timed.append((created, seq, wb))
        seq += 1
        t = created + timedelta(hours=rng.uniform(0.5, 3))
        scans: list[tuple[str, str, dict[str, Any]]] = [("PICKUP", origin, {})]
        for a, b in itertools.pairwise(path):
            truck = truck_of_lane.get((a, b), trucks[hash(a) % vehicles])
            if a != origin:
                scans.append(("HUB_ARRIVAL", a, {}))
            scans.append(("LOAD", a, {"vehicle_id": truck}))
            scans.append(("HUB_DEPARTURE", a, {"vehicle_id": truck, "next_facility_id": b}))
            scans.append(("UNLOAD", b, {"vehicle_id": truck}))
        scans += [
            ("HUB_ARRIVAL", dest, {}),
            ("OUT_FOR_DELIVERY", dest, {}),
            ("DELIVERED", dest, {}),
        ]
        for k, (kind, fac, extra) in enumerate(scans):
            t += timedelta(minutes=rng.uniform(20, 150))
            scan = Scan(
                event_id=f"{no}-{k}",
                waybill_no=no,
                facility_id=fac,
                event_time=t,
                scan_type=kind,
                **extra,
            )
            timed.append((t, seq, scan))
            seq += 1
        horizon = max(horizon, t - START)
    by_id = network.facilities
    pings_each = int(horizon.total_seconds() // 60)
    for n, truck in enumerate(trucks):
        a, b = lanes[n % len(lanes)]
        fa, fb = by_id[a], by_id[b]
        for k in range(pings_each):
            phase = (k % 600) / 600
            frac = 1 - abs(1 - 2 * phase)  # out and back
            lat = fa.lat + (fb.lat - fa.lat) * frac
            lon = fa.lon + (fb.lon - fa.lon) * frac
            when = START + timedelta(seconds=60 * k + n)
            timed.append((when, seq, GpsPing(vehicle_id=truck, event_time=when, lat=lat, lon=lon)))
            seq += 1
    timed.sort(key=lambda item: (item[0], item[1]))
    return [record for _, _, record in timed]


def run_baseline(stream: list[Any]) -> float:
    state: dict[str, Any] = {}
    start = time.perf_counter()
    for record in stream:
        key = getattr(record, "waybill_no", None) or record.vehicle_id
        state[key] = record
    return time.perf_counter() - start


def run_core(network: Network, stream: list[Any]) -> tuple[float, int]:
    outputs = 0

    def sink(_: Any) -> None:
        nonlocal outputs
        outputs += 1

    detector = Detector(network, sink=sink)
    feed = detector.feed
    start = time.perf_counter()
    for record in stream:
        feed(record)
    return time.perf_counter() - start, outputs


def measure_state(network: Network, stream: list[Any]) -> dict[str, float]:
    """Bytes of state per active waybill, fed up to the middle of the stream."""
    half = stream[: len(stream) // 2]
    gc.collect()
    tracemalloc.start()
    detector = Detector(network, sink=lambda _: None)
    for record in half:
        detector.feed(record)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    active = sum(1 for w in detector.waybills.values() if w.terminal is None)
    return {
        "waybills_in_state": len(detector.waybills),
        "active_waybills": active,
        "vehicles_in_state": len(detector.vehicles),
        "state_bytes": current,
        "bytes_per_waybill": current / max(1, len(detector.waybills)),
        "peak_bytes": peak,
    }


def run_replay_file(network_path: Path, stream: list[Any], tmp: Path) -> float:
    topic = {Waybill: "waybills", Scan: "scans", GpsPing: "gps"}
    source = tmp / "bench-events.jsonl"
    with source.open("w", encoding="utf-8") as fh:
        for record in stream:
            fh.write(
                json.dumps({"topic": topic[type(record)], "value": record.model_dump(mode="json")})
                + "\n"
            )
    start = time.perf_counter()
    replay(network_path, source, tmp / "bench-out")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waybills", type=int, default=10_000)
    parser.add_argument("--vehicles", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--skip-replay", action="store_true", help="skip the JSON replay run")
    parser.add_argument(
        "--network",
        type=Path,
        help="network file (default: the bundled network, timetable and all)",
    )
    args = parser.parse_args()

    network_path = args.network or Path(str(files("parcelwatch") / "data" / "network.yaml"))
    network = Network.load(network_path)
    stream = build_stream(network, args.waybills, args.vehicles, args.seed)
    # The input (a million pydantic records) is not the core's to pay for: keep the
    # cyclic GC from walking it over and over during the timed runs.
    gc.collect()
    gc.freeze()
    n = len(stream)
    scans = sum(isinstance(r, Scan) for r in stream)
    pings = sum(isinstance(r, GpsPing) for r in stream)

    baseline_s = min(run_baseline(stream) for _ in range(3))
    core_s, outputs = min(run_core(network, stream) for _ in range(2))
    state = measure_state(network, stream)
    figures: dict[str, Any] = {
        "events": n,
        "scans": scans,
        "gps_pings": pings,
        "waybills": args.waybills,
        "vehicles": args.vehicles,
        "outputs": outputs,
        "baseline_events_per_s": n / baseline_s,
        "core_events_per_s": n / core_s,
        "core_vs_baseline": baseline_s / core_s,
        **state,
        "python": sys.version.split()[0],
    }
    if not args.skip_replay:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            replay_s = run_replay_file(network_path, stream, Path(tmp))
        figures["replay_events_per_s"] = n / replay_s

    table = Table(title="parcelwatch core benchmark")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,.1f}" if isinstance(value, float) else str(value))
    Console(stderr=True).print(table)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
