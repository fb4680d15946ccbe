"""`parcelwatch bench`: the live pipeline's throughput, latency, memory and state size,
against a minimal Faust agent measured in the same run on the same embedded broker.

Three phases, each with a worker process of its own and topics of its own:

1. baseline: every record of the simulated stream on one topic (4 partitions), read by
   an agent that does one table write per event, the least a stateful Faust service
   does;
2. pipeline: the same records on the contract's topics, read by `parcelwatch worker` (event
   clock, every rule on) until it has committed every input and published every
   exception event replay publishes for the stream;
3. latency: a second stream paced at half the measured pipeline rate; the latency of an
   exception event is the time from sending the scan it was detected at (its
   `detected_at` is the scan's event time) to the output record's broker timestamp.

Both throughput phases read a backlog produced before the worker starts, and are timed
from the first offset commit to the last, polling the group's committed offsets every
0.2 s (commits every 0.5 s in both). Peak RSS is the worker's VmHWM. State bytes are
the serialized waybill states, as on the table's changelog at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .broker import EmbeddedBroker, stop_process
from .live import app_settings, committed, create_topics, read_replay_file, spawn_worker, topic_name
from .network import Network
from .replay import replay
from .service import ServiceSettings
from .sim.config import SimConfig
from .sim.generator import simulate_to_files

START_ISO = "2026-11-11T00:00:00+08:00"
COMMIT_INTERVAL_S = 0.5
PING_SECONDS = (180.0, 300.0)  # as the demo: trucks report every 3–5 minutes
PARTITIONS = 4


# -- the baseline worker (run as `python -m stream.bench baseline BOOTSTRAP TOPIC APP`) ---
def _baseline_worker(bootstrap: str, topic: str, app_id: str, data_dir: str) -> None:
    import faust
    from faust import Worker

    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=data_dir,
        processing_guarantee="at_least_once",
        topic_partitions=PARTITIONS,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        broker_commit_interval=COMMIT_INTERVAL_S,
        broker_max_poll_records=500,
        stream_buffer_maxsize=200_000,
        web_enabled=False,
    )
    source = app.topic(topic, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")  # fmt: skip
    table = app.Table("latest", default=None, key_type=bytes, value_type=bytes)

    @app.agent(source)
    async def write(stream):  # one table write (one changelog record) per event
        async for event in stream.events():
            table[event.key] = event.value

    Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False).execute_from_commandline()


# -- measuring ---------------------------------------------------------------------------
def _peak_rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _time_backlog(bootstrap: str, group: str, topics: set[str], total: int,
                  done: Any = None, timeout: float = 300.0) -> dict[str, float]:  # fmt: skip
    """Seconds from the first offset commit to the last (and to `done()`, if given)."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    first = first_count = None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            count = committed(admin, group, topics)
            now = time.monotonic()
            if first is None and count > 0:
                first, first_count = now, count
            if count >= total and (done is None or done()):
                assert first is not None and first_count is not None
                seconds = max(now - first, 1e-9)
                return {"seconds": seconds, "events": total - first_count,
                        "events_per_s": (total - first_count) / seconds}  # fmt: skip
            time.sleep(0.2)
    finally:
        admin.close()
    finished = done() if done is not None else True
    raise TimeoutError(f"{group}: not done within {timeout:.0f} s: {count:,} of {total:,} "
                       f"records committed; outputs complete: {finished}")  # fmt: skip


class _Outputs(threading.Thread):
    """Exception events of a run, with their broker timestamps (s)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic = bootstrap, topic
        self.records: list[tuple[dict, float]] = []
        self.keys: set[tuple[str, str, str]] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        try:
            while not self.stop.is_set():
                for messages in consumer.poll(timeout_ms=200).values():
                    for m in messages:
                        r = json.loads(m.value)
                        self.records.append((r, m.timestamp / 1000))
                        self.keys.add((r["exception_id"], r["type"], r["status"]))
        finally:
            consumer.close()


def _worker(bootstrap: str, app_id: str, out: Path, network: Path) -> subprocess.Popen:
    settings = app_settings(
        bootstrap, app_id, partitions=PARTITIONS, clock="event", store="memory://",
        tansu=True, data_dir=str(out / app_id), network_file=str(network),
        tick_interval_s=0.05, commit_interval_s=COMMIT_INTERVAL_S, metrics_port=0,
        # A fresh broker: no table is ever restored, so batches may hold many records
        # (as on Apache Kafka; see ServiceSettings.tansu_single_record_batches).
        tansu_single_record_batches=False,
    )  # fmt: skip
    return spawn_worker(settings, out / f"{app_id}.log")


def _settings(bootstrap: str, app_id: str) -> ServiceSettings:
    return app_settings(bootstrap, app_id, partitions=PARTITIONS)


def _producer(bootstrap: str) -> Any:
    from kafka import KafkaProducer

    return KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024, acks=1)


def _stop(proc: subprocess.Popen) -> int | None:
    rss = _peak_rss_bytes(proc.pid)
    stop_process(proc, 30)
    return rss


def _state_bytes(bootstrap: str, app_id: str) -> dict[str, float]:
    """Serialized waybill states as last written to the table's changelog."""
    from kafka import KafkaConsumer

    from .agents.handlers import HELD
    from .core.codec import load_waybill

    consumer = KafkaConsumer(f"{app_id}-waybill-state-changelog", bootstrap_servers=bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=3000)  # fmt: skip
    latest: dict[bytes, bytes | None] = {}
    try:
        for m in consumer:
            latest[m.key] = m.value
    finally:
        consumer.close()
    states = [v for k, v in latest.items() if v and not k.endswith(HELD)]
    active = [v for v in states if load_waybill(v).terminal is None]
    return {
        "waybills": len(states),
        "active": len(active),
        "bytes_per_waybill": statistics.fmean(map(len, states)) if states else 0.0,
        "bytes_per_active_waybill": statistics.fmean(map(len, active)) if active else 0.0,
    }


# -- the phases --------------------------------------------------------------------------
def _baseline(broker: EmbeddedBroker, events: Path, out: Path) -> dict[str, Any]:
    topic, app_id = "bench-baseline.in", "bench-baseline"
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    admin.close()
    producer = _producer(broker.bootstrap)
    total = 0
    for _, key, value, _ in read_replay_file(events):
        producer.send(topic, key=key or b"", value=value)
        total += 1
    producer.flush()
    producer.close()
    with (out / f"{app_id}.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stream.bench", "baseline", broker.bootstrap, topic, app_id,
             str(out / app_id)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            timing = _time_backlog(broker.bootstrap, app_id, {topic}, total)
        finally:
            rss = _stop(proc)
    return {**timing, "records": total, "peak_rss_bytes": rss}


def _pipeline(broker: EmbeddedBroker, events: Path, network: Path, expected: set,
              out: Path) -> dict[str, Any]:  # fmt: skip
    app_id = "bench-pipeline"
    settings = _settings(broker.bootstrap, app_id)
    create_topics(settings, broker.bootstrap, embedded=True)
    producer = _producer(broker.bootstrap)
    records = list(read_replay_file(events))
    total = 0
    # Orders first (an order system sends them before the parcel is scanned), then the rest.
    for first in (True, False):
        for logical, key, value, _ in records:
            if (logical == "waybills") == first:
                producer.send(topic_name(settings, logical), key=key, value=value)
                total += 1
    producer.flush()
    producer.close()
    outputs = _Outputs(broker.bootstrap, settings.topic_exceptions)
    outputs.start()
    proc = _worker(broker.bootstrap, app_id, out, network)
    inputs = {settings.topic_waybills, settings.topic_scans, settings.topic_gps}
    try:
        timing = _time_backlog(broker.bootstrap, app_id, inputs, total,
                               done=lambda: outputs.keys >= expected)  # fmt: skip
    finally:
        rss = _stop(proc)
        outputs.stop.set()
        outputs.join()
    state = _state_bytes(broker.bootstrap, app_id)
    return {**timing, "records": total, "peak_rss_bytes": rss, "state": state,
            "same_as_replay": outputs.keys == expected}  # fmt: skip


def _latency(broker: EmbeddedBroker, events: Path, network: Path, rate: float,
             out: Path) -> dict[str, Any]:  # fmt: skip
    from datetime import datetime

    from .core.clock import to_us

    app_id = "bench-latency"
    settings = _settings(broker.bootstrap, app_id)
    create_topics(settings, broker.bootstrap, embedded=True)
    outputs = _Outputs(broker.bootstrap, settings.topic_exceptions)
    outputs.start()
    proc = _worker(broker.bootstrap, app_id, out, network)
    sent_at: dict[tuple[str, int], float] = {}
    producer = _producer(broker.bootstrap)
    try:
        records = list(read_replay_file(events))
        for logical, key, value, _ in records:
            if logical == "waybills":
                producer.send(topic_name(settings, logical), key=key, value=value)
        producer.flush()
        time.sleep(8)  # the worker joins and reads the orders
        started = time.monotonic()
        n = 0
        for logical, key, value, _ in records:
            if logical == "waybills":
                continue
            wait = started + n / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            producer.send(topic_name(settings, logical), key=key, value=value)
            if logical == "scans" and key is not None:
                with contextlib.suppress(Exception):  # the stream's malformed lines
                    stamp = datetime.fromisoformat(json.loads(value)["event_time"])
                    sent_at[(key.decode(), to_us(stamp))] = time.time()
            n += 1
        producer.flush()
        time.sleep(5)  # the last outputs
    finally:
        producer.close()
        _stop(proc)
        outputs.stop.set()
        outputs.join()
    latencies = []
    for record, stamp in outputs.records:
        scan = sent_at.get(
            (record["waybill_no"], to_us(datetime.fromisoformat(record["detected_at"])))
        )
        if scan is not None:
            latencies.append(stamp - scan)
    latencies.sort()

    def pct(q: float) -> float | None:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None

    return {
        "rate": rate,
        "records": n,
        "outputs": len(outputs.records),
        "measured": len(latencies),
        "p50_s": pct(0.50),
        "p99_s": pct(0.99),
        "max_s": latencies[-1] if latencies else None,
    }


def run_bench(out: Path, parcels: int = 300, seed: int = 7, console: Console | None = None) -> dict:
    console = console or Console()
    out.mkdir(parents=True, exist_ok=True)
    network_path = Path(str(files("stream") / "data" / "network.yaml"))
    network = Network.load(network_path)
    config = SimConfig()
    config.ping_seconds = PING_SECONDS
    config.noise.late_upload = 0.0  # as in the differential test: replay is the oracle
    from datetime import datetime

    start = datetime.fromisoformat(START_ISO)
    events = out / "events.jsonl"
    sim = simulate_to_files(network, parcels, start, 1, seed, events, out / "truth.jsonl",
                            config, False)  # fmt: skip
    replay(network_path, events, out / "replay")
    expected = {(r["exception_id"], r["type"], r["status"])
                for r in map(json.loads, (out / "replay" / "exceptions.jsonl").open())}  # fmt: skip
    paced = out / "paced.jsonl"
    simulate_to_files(network, max(parcels // 3, 20), start, 1, seed + 1, paced,
                      out / "paced-truth.jsonl", config, False)  # fmt: skip
    console.print(f"stream: {parcels:,} parcels, {sim.records:,} records "
                  f"({sim.scans:,} scans, {sim.pings:,} pings); replay: {len(expected):,} "
                  "exception events")  # fmt: skip
    with EmbeddedBroker(log=out / "broker.log") as broker:
        console.print("baseline: one table write per event…")
        base = _baseline(broker, events, out)
        console.print(f"  {base['events_per_s']:,.0f} events/s")
        console.print("pipeline: every rule, event clock…")
        pipe = _pipeline(broker, events, network_path, expected, out)
        console.print(f"  {pipe['events_per_s']:,.0f} events/s")
        rate = round(pipe["events_per_s"] / 2)
        console.print(f"latency: a second stream paced at {rate:,} records/s…")
        lat = _latency(broker, paced, network_path, rate, out)
    result = {"parcels": parcels, "records": sim.records, "baseline": base, "pipeline": pipe,
              "latency": lat, "ratio": pipe["events_per_s"] / base["events_per_s"],
              "cpus": os.cpu_count()}  # fmt: skip
    (out / "bench.json").write_text(json.dumps(result, indent=2))
    console.print(render(result))
    console.print(f"JSON: {out / 'bench.json'}")
    return result


def render(r: dict) -> Table:
    def mib(n: int | None) -> str:
        return f"{n / 2**20:,.0f} MiB" if n else "—"

    def ms(s: float | None) -> str:
        return f"{s * 1000:,.0f} ms" if s is not None else "—"

    base, pipe, lat, state = r["baseline"], r["pipeline"], r["latency"], r["pipeline"]["state"]
    table = Table(title=f"parcelwatch bench — {r['records']:,} records, one worker each")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(
        "(a) baseline: one table write per event", f"{base['events_per_s']:,.0f} events/s"
    )
    table.add_row("(b) full pipeline, every rule", f"{pipe['events_per_s']:,.0f} events/s")
    table.add_row("(b) / (a)", f"{r['ratio']:.2f}×")
    table.add_row("pipeline output = replay", "yes" if pipe["same_as_replay"] else "NO")
    table.add_row(f"latency scan → exception, p50 (n={lat['measured']})", ms(lat["p50_s"]))
    table.add_row("latency p99", ms(lat["p99_s"]))
    table.add_row(
        "peak RSS (a) / (b)", f"{mib(base['peak_rss_bytes'])} / {mib(pipe['peak_rss_bytes'])}"
    )
    table.add_row("state bytes per active waybill", f"{state['bytes_per_active_waybill']:,.0f}")
    table.add_row("state bytes per waybill (all)", f"{state['bytes_per_waybill']:,.0f}")
    return table


if __name__ == "__main__":  # the baseline worker process
    if sys.argv[1:2] == ["baseline"]:
        _baseline_worker(*sys.argv[2:6])
