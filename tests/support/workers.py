"""Worker processes on a real broker, and reading what they publish: the integration
tests' helpers."""

import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from parcelwatch.devtools.brokers import worker_fields
from parcelwatch.service.clients import committed, tail
from parcelwatch.service.runner import app_settings, spawn_worker
from parcelwatch.service.settings import ServiceSettings


def settings_for(broker, app_id: str) -> ServiceSettings:
    """Each test has topics of its own: the broker is shared by the session."""
    return app_settings(broker.bootstrap, app_id, partitions=4, **worker_fields(broker.kind))


def start_worker(
    broker,
    tmp_path: Path,
    network_file: Path,
    app_id: str = "parcelwatch",
    log: str = "worker.log",
    store: str = "memory://",
    data: str = "data",
    clock: str = "event",
    **fields,
) -> subprocess.Popen:
    """A worker for `app_id`'s topics, on the event clock unless told (metrics on any
    free port unless `metrics_port` is given)."""
    settings = app_settings(
        broker.bootstrap,
        app_id,
        partitions=4,
        clock=clock,
        store=store,
        data_dir=str(tmp_path / data),  # a restarted worker finds its RocksDB tables here
        network_file=str(network_file),
        **{"metrics_port": 0, **worker_fields(broker.kind), **fields},
    )
    return spawn_worker(settings, tmp_path / log)


def collect(settings, bootstrap, logical, want, timeout=120):
    """The records of an output topic, once there are `want` of them (or at the timeout)."""
    deadline = time.monotonic() + timeout
    records = []
    while time.monotonic() < deadline:
        records = list(tail(settings, bootstrap, logical, True, None, 3))
        if len(records) >= want:
            return records
        time.sleep(2)
    return records


def await_replay(settings, bootstrap: str, expected: set, timeout=240) -> tuple[set, list]:
    """The exception events on the topic, as (id, type, status) and as records, once they
    include `expected` (and a little longer: anything extra would come then) or at the
    timeout."""
    deadline = time.monotonic() + timeout
    while True:
        records = collect(settings, bootstrap, "exceptions", 0, timeout=5)
        got = {(r["exception_id"], r["type"], r["status"]) for r in records}
        if got >= expected:
            time.sleep(5)
            records = collect(settings, bootstrap, "exceptions", 0, timeout=5)
            return {(r["exception_id"], r["type"], r["status"]) for r in records}, records
        if time.monotonic() > deadline:
            return got, records
        time.sleep(3)


def await_committed(admin, app_id: str, topics: set[str], count: int, what: str) -> None:
    """Until the group has processed and committed `count` records of `topics`."""

    deadline = time.monotonic() + 90
    while committed(admin, app_id, topics) < count:
        assert time.monotonic() < deadline, f"{what} never committed"
        time.sleep(1)


def send_records(settings, bootstrap: str, records: list, client: str) -> None:
    """Send (topic, key, value, arrival) records as `parcelwatch produce` would, from a
    Java client (kafka-python: murmur2) or a librdkafka one (confluent-kafka: CRC-32 by
    default), not our emulation of it."""
    from parcelwatch.edge.intake import ARRIVAL_HEADER
    from parcelwatch.service.clients import topic_name

    def headers(arrival):
        return None if arrival is None else [(ARRIVAL_HEADER, b"%d" % arrival)]

    if client == "java":
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
        for topic, key, value, arrival in records:
            producer.send(
                topic_name(settings, topic), key=key, value=value, headers=headers(arrival)
            )
        producer.flush()
        producer.close()
        return
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for topic, key, value, arrival in records:
        while True:
            try:
                producer.produce(
                    topic_name(settings, topic), key=key, value=value, headers=headers(arrival)
                )
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.5)
    assert producer.flush(60) == 0, "librdkafka could not deliver everything"


def send_backlog(settings, bootstrap: str, path: Path, client: str = "java") -> int:
    """A whole stream onto the topics before a worker reads much of it, with arrival
    stamps: every scan, then the orders (after their scans), from `client`, then the GPS
    from a Java client. On the event clock a pause in the input longer than the idle time
    is the end of the input (invariant 5 of parcelwatch/service/eventtime.py), so a fault meant
    to strike mid-stream strikes while a worker reads such a backlog. Returns the count."""
    from parcelwatch.edge.arrival import ArrivalClock, read_with_arrival
    from parcelwatch.service.settings import rules_of

    arrival = ArrivalClock(*rules_of(settings))
    split: dict[str, list] = {"scans": [], "waybills": [], "gps": []}
    for topic, key, value, _, stamp in read_with_arrival(path, arrival):
        split[topic].append((topic, key, value, stamp))
    send_records(settings, bootstrap, split["scans"], client)
    send_records(settings, bootstrap, split["waybills"], client)
    send_records(settings, bootstrap, split["gps"], "java")
    return sum(map(len, split.values()))


def canonical(records) -> set[str]:
    return {json.dumps(r, sort_keys=True, ensure_ascii=False) for r in records}


def explain(name: str, missing: set[str], extra: set[str], log_file: Path) -> None:
    """What a failing comparison prints: the first differences, whole, and the worker's
    last event-clock status lines (where its time stood when the test gave up)."""
    print(f"--- {name}: the first differences")
    for difference in differences(missing, extra):
        print(json.dumps(difference, sort_keys=True, ensure_ascii=False))
    lines = log_file.read_text(errors="replace").splitlines()
    print("--- the worker's last event-clock status lines")
    print("\n".join([line for line in lines if '"event clock"' in line][-3:]))
    print("--- the worker's warnings and errors")
    print("\n".join([line for line in lines if '"warning"' in line or '"error"' in line][-20:]))


def differences(missing: set[str], extra: set[str]) -> list:
    """The fields in which live records differ from replay's of the same id and status,
    and the records with no counterpart at all: what a failing comparison shows."""

    def ident(r: dict) -> tuple:
        return tuple(r.get(k) for k in ("exception_id", "ticket_id", "notification_id", "status"))

    live = {ident(r): r for r in map(json.loads, extra)}
    out: list = []
    for r in map(json.loads, missing):
        other = live.pop(ident(r), None)
        if other is None:
            out.append(("only in replay", r))
        else:
            out.append(
                (
                    ident(r),
                    {
                        k: (r.get(k), other.get(k))
                        for k in r.keys() | other.keys()
                        if r.get(k) != other.get(k)
                    },
                )
            )
    out += [("only live", r) for r in live.values()]
    return out[:5]


def assignments(log_file: Path, topic: str) -> list[list[int]]:
    """The partitions of `topic` a worker was given, one list per rebalance (its log)."""
    found = re.findall(
        rf"partitions assigned: {re.escape(topic)} \[([\d, ]*)\]",
        log_file.read_text(errors="replace"),
    )
    return [[int(p) for p in x.split(",") if p.strip()] for x in found]


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def metric_families(url: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(http_get(url).decode())}


def metric_value(families: dict, family: str, **labels: str) -> float:
    return sum(s.value for s in families[family].samples if labels.items() <= s.labels.items())
