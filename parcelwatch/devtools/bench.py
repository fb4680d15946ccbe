"""`parcelwatch bench`: the live pipeline's throughput, latency, memory and state size,
against minimal Faust agents measured in the same run on the same broker (the embedded
Tansu, or Apache Kafka with `--broker kafka`).

Each phase has a worker process and topics of its own, and reads a backlog produced
before the worker starts, timed from the first offset commit to the last (the group's
committed offsets polled every 0.2 s; commits every 0.5 s everywhere):

(a) baseline: every record on one topic (4 partitions), read by an agent that does one
    table write per event, the least a stateful Faust service does;
(s) floor: the same, read by an agent that does nothing: Faust's own per-message cost;
(w) the full pipeline, every rule, on the wall clock (production mode);
(e) the full pipeline on the event clock, until it has also published every exception
    event replay publishes for the stream (`same_as_replay`);
(g) (w) with the GPS uploaded in batches of 10 pings (GpsBatch), counted in pings;
latency: a second stream on the wall clock, paced at half of (w)'s rate, each record
    stamped with the wall time as it is sent; the latency of an exception event is from
    sending the scan it cites (evidence `last_scan` / `revealed_by`) to the output
    record's broker timestamp.
lookups: while (w) and the latency stream run, a client asks the worker's web server
    for waybills of the stream (GET /waybills/{no}, a new connection each, as the
    agents' page does), 20 a second, and times each answer (`lookup_wall`: under the
    saturating backlog; `lookup_paced`: at half of (w)'s rate).

Peak RSS is the worker's VmHWM. State bytes are the serialized waybill states, as on the
table's changelog at the end of (e).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import faust
from faust import Worker
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from rich.console import Console
from rich.table import Table

from parcelwatch.detection.codec import load_waybill
from parcelwatch.devtools.brokers import Broker, BrokerKind, open_broker, worker_fields
from parcelwatch.devtools.brokers.process import free_port, stop_process
from parcelwatch.edge.files import read_replay_file, waybill_numbers
from parcelwatch.network.graph import Network
from parcelwatch.offline.replay import replay
from parcelwatch.service.clients import committed, create_topics, produce, topic_name
from parcelwatch.service.runner import app_settings, spawn_worker
from parcelwatch.service.settings import ServiceSettings
from parcelwatch.sim.config import SimConfig
from parcelwatch.sim.generator import simulate_to_files

START_ISO = "2026-11-11T00:00:00+08:00"
COMMIT_INTERVAL_S = 0.5
PING_SECONDS = (180.0, 300.0)  # as the demo: trucks report every 3–5 minutes
PARTITIONS = 4


# -- the baseline worker (`python -m parcelwatch.devtools.bench baseline BOOTSTRAP TOPIC APP`) --
def _baseline_worker(bootstrap: str, topic: str, app_id: str, data_dir: str, kind: str) -> None:
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
    source = app.topic(
        topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    table = app.Table("latest", default=None, key_type=bytes, value_type=bytes)

    if kind == "table":

        @app.agent(source)
        async def write(stream):  # one table write (one changelog record) per event
            async for event in stream.events():
                table[event.key] = event.value

    else:

        @app.agent(source)
        async def read(stream):  # nothing: Faust's own cost per message
            async for _ in stream.events():
                pass

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


def _time_backlog(
    bootstrap: str,
    group: str,
    topics: set[str],
    total: int,
    done: Any = None,
    timeout: float = 300.0,
) -> dict[str, float]:
    """Seconds from the first offset commit to the last (and to `done()`, if given)."""

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
                return {
                    "seconds": seconds,
                    "events": total - first_count,
                    "events_per_s": (total - first_count) / seconds,
                }
            time.sleep(0.2)
    finally:
        admin.close()
    finished = done() if done is not None else True
    raise TimeoutError(
        f"{group}: not done within {timeout:.0f} s: {count:,} of {total:,} "
        f"records committed; outputs complete: {finished}"
    )


class _Outputs(threading.Thread):
    """Exception events of a run, with their broker timestamps (s)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic = bootstrap, topic
        self.records: list[tuple[dict, float]] = []
        self.keys: set[tuple[str, str, str]] = set()
        self.stop = threading.Event()

    def run(self) -> None:
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


class _Lookups(threading.Thread):
    """An agent looking parcels up on a worker: GET /waybills/{no} at `rate` a second,
    each on a new connection, timed from connecting to the last byte of the answer."""

    def __init__(self, port: int, waybills: list[str], rate: float = 20.0) -> None:
        super().__init__(daemon=True)
        self.port, self.waybills, self.rate = port, waybills, rate
        self.seconds: list[float] = []  # of the answers that looked a parcel up: 200, 404
        self.statuses: dict[int, int] = {}
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set() and self.waybills:
            number = self.waybills[n % len(self.waybills)]
            began = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                conn.request("GET", f"/waybills/{number}")
                response = conn.getresponse()
                response.read()
            except OSError:
                self.failures += 1  # the worker not listening yet, or gone
            else:
                if response.status in (200, 404):  # not a 503 while it starts
                    self.seconds.append(time.perf_counter() - began)
                self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
            finally:
                conn.close()
            n += 1
            self.stop.wait(max(0.0, 1 / self.rate - (time.perf_counter() - began)))

    def result(self) -> dict[str, Any]:
        times = sorted(self.seconds)
        return {
            "requests": len(times),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "failures": self.failures,
            "p50_s": _pct(times, 0.50) if times else None,
            "p99_s": _pct(times, 0.99) if times else None,
            "max_s": times[-1] if times else None,
        }


def _pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _worker(
    broker: Broker,
    app_id: str,
    out: Path,
    network: Path,
    clock: str = "event",
    web_port: int | None = None,
    guarantee: str = "at_least_once",
) -> subprocess.Popen:
    web = (
        {}
        if web_port is None
        else {"web_port": web_port, "web_host": "127.0.0.1", "web_bind": "127.0.0.1"}
    )
    settings = app_settings(
        broker.bootstrap,
        app_id,
        partitions=PARTITIONS,
        clock=clock,
        store="memory://",
        processing_guarantee=guarantee,
        **worker_fields(broker.kind),
        data_dir=str(out / app_id),
        network_file=str(network),
        tick_interval_s=0.05,
        commit_interval_s=COMMIT_INTERVAL_S,
        metrics_port=0,
        **web,
        # A fresh broker: no table is ever restored, so batches may hold many records
        # (as on Apache Kafka; see ServiceSettings.tansu_single_record_batches).
        tansu_single_record_batches=False,
    )
    return spawn_worker(settings, out / f"{app_id}.log")


def _settings(bootstrap: str, app_id: str) -> ServiceSettings:
    return app_settings(bootstrap, app_id, partitions=PARTITIONS)


def _producer(bootstrap: str) -> Any:
    return KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024, acks=1)


def _stop(proc: subprocess.Popen) -> int | None:
    rss = _peak_rss_bytes(proc.pid)
    stop_process(proc, 30)
    return rss


def _state_bytes(bootstrap: str, app_id: str) -> dict[str, float]:
    """Serialized waybill states as last written to the table's changelog."""
    consumer = KafkaConsumer(
        f"{app_id}-waybill-state-changelog",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    latest: dict[bytes, bytes | None] = {}
    try:
        for m in consumer:
            latest[m.key] = m.value
    finally:
        consumer.close()
    states = [v for v in latest.values() if v]
    active = [v for v in states if load_waybill(v).terminal is None]
    return {
        "waybills": len(states),
        "active": len(active),
        "bytes_per_waybill": statistics.fmean(map(len, states)) if states else 0.0,
        "bytes_per_active_waybill": statistics.fmean(map(len, active)) if active else 0.0,
    }


# -- the phases --------------------------------------------------------------------------
def _baseline(broker: Broker, events: Path, out: Path, kind: str) -> dict[str, Any]:
    topic, app_id = f"bench-{kind}.in", f"bench-{kind}"
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
            [
                sys.executable,
                "-m",
                "parcelwatch.devtools.bench",
                "baseline",
                broker.bootstrap,
                topic,
                app_id,
                str(out / app_id),
                kind,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            timing = _time_backlog(broker.bootstrap, app_id, {topic}, total)
        finally:
            rss = _stop(proc)
    return {**timing, "records": total, "peak_rss_bytes": rss}


def _pipeline(
    broker: Broker,
    events: Path,
    network: Path,
    expected: set | None,
    out: Path,
    app_id: str,
    clock: str,
    lookups: bool = False,
    guarantee: str = "at_least_once",
) -> dict[str, Any]:
    """The worker on `clock` through a backlog sent as `parcelwatch produce` sends it;
    on the event clock also until its exception events are replay's (`expected`)."""
    settings = _settings(broker.bootstrap, app_id)
    create_topics(settings, broker.bootstrap, embedded=True)
    total = produce(settings, broker.bootstrap, events, None)
    outputs = _Outputs(broker.bootstrap, settings.topic_exceptions)
    outputs.start()
    port = free_port() if lookups else None
    proc = _worker(broker, app_id, out, network, clock, port, guarantee)
    agent = _Lookups(port, waybill_numbers(events, 200)) if port else None
    inputs = {settings.topic_waybills, settings.topic_scans, settings.topic_gps}
    done = None if expected is None else (lambda: outputs.keys >= expected)
    try:
        if agent:
            agent.start()
        timing = _time_backlog(broker.bootstrap, app_id, inputs, total, done=done)
    finally:
        if agent:
            agent.stop.set()
            agent.join()
        rss = _stop(proc)
        outputs.stop.set()
        outputs.join()
    result: dict[str, Any] = {
        **timing,
        "records": total,
        "peak_rss_bytes": rss,
        "outputs": len(outputs.keys),
    }
    if agent:
        result["lookups"] = agent.result()
    if expected is not None:
        result["same_as_replay"] = outputs.keys == expected
        result["state"] = _state_bytes(broker.bootstrap, app_id)
    return result


def _now_stamped(logical: str, value: bytes, now: str) -> bytes:
    """The record as if it happened as it is sent: every time in it is `now` (a promise
    left out: derived from the plan, it lies days ahead)."""
    try:
        record = json.loads(value)
    except ValueError:
        return value  # a malformed line stays malformed
    if not isinstance(record, dict):
        return value
    if logical == "waybills":
        record["created_at"] = now
        record.pop("promised_at", None)
    elif "event_time" in record:
        record["event_time"] = now
    return json.dumps(record, ensure_ascii=False).encode()


def _cited_scans(record: dict) -> list[str]:
    """The event ids of the scans an exception event cites (what it was detected at)."""
    evidence = record.get("evidence") or {}
    found = []
    for name in ("last_scan", "revealed_by"):
        scan = evidence.get(name)
        if isinstance(scan, dict) and isinstance(scan.get("event_id"), str):
            found.append(scan["event_id"])
    return found


def _latency(broker: Broker, events: Path, network: Path, rate: float, out: Path) -> dict[str, Any]:
    app_id = "bench-latency"
    settings = _settings(broker.bootstrap, app_id)
    create_topics(settings, broker.bootstrap, embedded=True)
    outputs = _Outputs(broker.bootstrap, settings.topic_exceptions)
    outputs.start()
    port = free_port()
    proc = _worker(broker, app_id, out, network, clock="wall", web_port=port)
    agent = _Lookups(port, waybill_numbers(events, 200))
    sent_at: dict[str, float] = {}  # scan event id -> wall time sent
    producer = _producer(broker.bootstrap)
    n = 0
    try:
        records = [r for r in read_replay_file(events) if r[0] != "waybills" or r[1]]
        time.sleep(8)  # the worker joins
        agent.start()
        started = time.monotonic()
        for logical, key, value, _ in records:
            wait = started + n / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            stamped = _now_stamped(logical, value, datetime.now(UTC).isoformat())
            producer.send(topic_name(settings, logical), key=key, value=stamped)
            if logical == "scans":
                with contextlib.suppress(Exception):  # the stream's malformed lines
                    sent_at[json.loads(value)["event_id"]] = time.time()
            n += 1
        producer.flush()
        time.sleep(5)  # the last outputs
    finally:
        agent.stop.set()
        agent.join()
        producer.close()
        _stop(proc)
        outputs.stop.set()
        outputs.join()
    latencies = []
    for record, stamp in outputs.records:
        cited = [sent_at[e] for e in _cited_scans(record) if e in sent_at]
        if cited:
            latencies.append(stamp - max(cited))
    latencies.sort()
    return {
        "rate": rate,
        "records": n,
        "outputs": len(outputs.records),
        "measured": len(latencies),
        "p50_s": _pct(latencies, 0.50) if latencies else None,
        "p99_s": _pct(latencies, 0.99) if latencies else None,
        "max_s": latencies[-1] if latencies else None,
        "lookups": agent.result(),
    }


def run_bench(
    out: Path,
    parcels: int = 300,
    seed: int = 7,
    console: Console | None = None,
    broker_kind: BrokerKind = "tansu",
) -> dict:
    console = console or Console()
    out.mkdir(parents=True, exist_ok=True)
    network_path = Path(str(files("parcelwatch") / "data" / "network.yaml"))
    network = Network.load(network_path)
    config = SimConfig()
    config.ping_seconds = PING_SECONDS

    start = datetime.fromisoformat(START_ISO)
    events = out / "events.jsonl"
    sim = simulate_to_files(
        network, parcels, start, 1, seed, events, out / "truth.jsonl", config, False
    )
    replay(network_path, events, out / "replay")
    expected = {
        (r["exception_id"], r["type"], r["status"])
        for r in map(json.loads, (out / "replay" / "exceptions.jsonl").open())
    }
    config.gps_batch = 10
    batched = out / "events-gps10.jsonl"
    gsim = simulate_to_files(
        network, parcels, start, 1, seed, batched, out / "truth-gps10.jsonl", config, False
    )
    config.gps_batch = 1
    # The latency stream has its times rewritten to the wall clock as it is sent: many
    # faults a scan reveals at once, and no redelivery or late upload (a record sent
    # again would get another time, and conflict with itself).
    paced_config = config.model_copy(deep=True)
    paced_config.gps_batch = 1
    paced_config.faults.damage = paced_config.faults.failed_delivery = 0.3
    paced_config.faults.misroute = 0.2
    paced_config.noise.redelivery = paced_config.noise.late_upload = 0.0
    paced = out / "paced.jsonl"
    simulate_to_files(
        network,
        max(parcels // 3, 20),
        start,
        1,
        seed + 1,
        paced,
        out / "paced-truth.jsonl",
        paced_config,
        False,
    )
    console.print(
        f"stream: {parcels:,} parcels, {sim.records:,} records "
        f"({sim.scans:,} scans, {sim.pings:,} pings); replay: {len(expected):,} "
        "exception events"
    )
    r: dict[str, Any] = {
        "parcels": parcels,
        "records": sim.records,
        "cpus": os.cpu_count(),
        "broker": broker_kind,
    }
    phases: list[tuple[str, str, Callable[[], dict[str, Any]]]] = []
    with open_broker(broker_kind, log=out / "broker.log") as broker:
        if broker_kind == "kafka":  # transactions: Apache Kafka only
            phases.append(
                (
                    "exactly_once",
                    "(x) (w) with exactly_once",
                    lambda: _pipeline(
                        broker,
                        events,
                        network_path,
                        None,
                        out,
                        "bench-eos",
                        "wall",
                        guarantee="exactly_once",
                    ),
                )
            )
        for name, label, run in (
            (
                "baseline",
                "(a) baseline: one table write per event",
                lambda: _baseline(broker, events, out, "table"),
            ),
            (
                "floor",
                "(s) a stateless Faust agent",
                lambda: _baseline(broker, events, out, "stateless"),
            ),
            (
                "wall",
                "(w) full pipeline, wall clock",
                lambda: _pipeline(
                    broker, events, network_path, None, out, "bench-wall", "wall", lookups=True
                ),
            ),
            (
                "event",
                "(e) full pipeline, event clock",
                lambda: _pipeline(
                    broker, events, network_path, expected, out, "bench-event", "event"
                ),
            ),
            (
                "gps_batched",
                "(g) (w) with GPS in batches of 10",
                lambda: _pipeline(broker, batched, network_path, None, out, "bench-gps10", "wall"),
            ),
            *phases,
        ):
            console.print(f"{label}…")
            r[name] = run()
            console.print(f"  {r[name]['events_per_s']:,.0f} records/s")
        g = r["gps_batched"]
        g["pings_per_s"] = gsim.pings * g["events"] / g["records"] / g["seconds"]
        rate = round(r["wall"]["events_per_s"] / 2)
        console.print(f"latency: a second stream on the wall clock, paced at {rate:,} records/s…")
        r["latency"] = _latency(broker, paced, network_path, rate, out)
    r["ratio_wall"] = r["wall"]["events_per_s"] / r["baseline"]["events_per_s"]
    r["ratio_event"] = r["event"]["events_per_s"] / r["baseline"]["events_per_s"]
    r["ratio_floor"] = r["wall"]["events_per_s"] / r["floor"]["events_per_s"]
    if "exactly_once" in r:
        r["ratio_exactly_once"] = r["exactly_once"]["events_per_s"] / r["wall"]["events_per_s"]
    r["latency_wall"] = {"p50_s": r["latency"]["p50_s"], "p99_s": r["latency"]["p99_s"]}
    lookup_keys = ("requests", "p50_s", "p99_s", "max_s")
    r["lookup_wall"] = {k: r["wall"]["lookups"][k] for k in lookup_keys}
    r["lookup_paced"] = {k: r["latency"]["lookups"][k] for k in lookup_keys}
    r["same_as_replay"] = r["event"]["same_as_replay"]
    (out / "bench.json").write_text(json.dumps(r, indent=2))
    console.print(render(r))
    console.print(f"JSON: {out / 'bench.json'}")
    return r


def render(r: dict) -> Table:
    def mib(n: int | None) -> str:
        return f"{n / 2**20:,.0f} MiB" if n else "—"

    def ms(s: float | None) -> str:
        return f"{s * 1000:,.0f} ms" if s is not None else "—"

    lat, state = r["latency"], r["event"]["state"]
    on = "Apache Kafka" if r.get("broker") == "kafka" else "the embedded Tansu"
    table = Table(title=f"parcelwatch bench — {r['records']:,} records, one worker each, on {on}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, label in (
        ("baseline", "(a) baseline: one table write per event"),
        ("floor", "(s) a stateless Faust agent"),
        ("wall", "(w) full pipeline, wall clock"),
        ("event", "(e) full pipeline, event clock"),
    ):
        table.add_row(label, f"{r[name]['events_per_s']:,.0f} records/s")
    table.add_row(
        "(g) (w) with GPS in batches of 10", f"{r['gps_batched']['pings_per_s']:,.0f} pings/s"
    )
    table.add_row("ratio_wall (w) / (a)", f"{r['ratio_wall']:.2f}×")
    table.add_row("ratio_event (e) / (a)", f"{r['ratio_event']:.2f}×")
    table.add_row("ratio_floor (w) / (s)", f"{r['ratio_floor']:.2f}×")
    if "exactly_once" in r:
        table.add_row(
            "(x) (w) with exactly_once", f"{r['exactly_once']['events_per_s']:,.0f} records/s"
        )
        table.add_row("ratio_exactly_once (x) / (w)", f"{r['ratio_exactly_once']:.2f}×")
    table.add_row("(e) output = replay", "yes" if r["same_as_replay"] else "NO")
    table.add_row(
        f"wall-clock latency scan → exception, p50 (n={lat['measured']})", ms(lat["p50_s"])
    )
    table.add_row("wall-clock latency p99", ms(lat["p99_s"]))
    for name, label in (
        ("lookup_wall", "lookup GET /waybills/{no} during (w)"),
        ("lookup_paced", "lookup during the paced stream"),
    ):
        look = r[name]
        table.add_row(
            f"{label}, p50 / p99 (n={look['requests']})",
            f"{ms(look['p50_s'])} / {ms(look['p99_s'])}",
        )
    table.add_row(
        "peak RSS (a) / (w) / (e)",
        " / ".join(mib(r[n]["peak_rss_bytes"]) for n in ("baseline", "wall", "event")),
    )
    table.add_row("state bytes per active waybill", f"{state['bytes_per_active_waybill']:,.0f}")
    table.add_row("state bytes per waybill (all)", f"{state['bytes_per_waybill']:,.0f}")
    return table


if __name__ == "__main__":  # the baseline workers' process
    if sys.argv[1:2] == ["baseline"]:
        _baseline_worker(*sys.argv[2:7])
