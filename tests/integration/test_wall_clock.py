"""Production mode: the wall clock, as docker-compose and Kubernetes run it. Thresholds
shortened by configuration so deadlines fall due in seconds; orders and scans from a
librdkafka producer (CRC-32), the GPS from a Java-style one (murmur2); RocksDB tables.
A worker killed with `kill -9` and restarted, or killed beside a second worker that takes
its partitions over, loses nothing and repeats no record."""

import json
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parcelwatch.edge.arrival import ArrivalClock, read_with_arrival
from parcelwatch.offline.replay import replay
from parcelwatch.service.clients import create_topics
from parcelwatch.service.settings import rules_of
from tests.support.streams import COORDS
from tests.support.workers import (
    assignments,
    await_committed,
    collect,
    send_records,
    settings_for,
    start_worker,
)

pytestmark = pytest.mark.integration

DUE_S = 30
"""Every timer rule used here falls due this long after the input that sets it."""

RULES = f"""
pickup_overdue_hours: {DUE_S / 3600}
hub_dwell_hours: {DUE_S / 3600}
gps_silence_minutes: {DUE_S / 60}
"""


def _stream(t0: datetime) -> list[dict]:
    """Eight parcels ordered now (the even ones never picked up: PICKUP_OVERDUE; the odd
    ones left at a hub: STALLED_AT_FACILITY) and one on a truck whose GPS goes silent
    (STALLED_IN_TRANSIT, through a vehicle fact)."""

    def stamp(seconds: float) -> str:
        return (t0 + timedelta(seconds=seconds)).isoformat()

    def order(no: str) -> dict:
        return {
            "topic": "waybills",
            "value": {
                "waybill_no": no,
                "product": "STANDARD",
                "created_at": stamp(0),
                "promised_at": stamp(30 * 86400),
                "origin_facility_id": "A-OUT",
                "destination_facility_id": "C-OUT",
                "insured_value": 0.0,
                "planned_route": ["A-OUT", "A-HUB", "B-HUB", "C-HUB", "C-OUT"],
                "recipient": {
                    "name": "张伟",
                    "phone": "13800138000",
                    "locale": "zh-CN",
                    "timezone": "Asia/Shanghai",
                },
            },
        }

    def scan(no: str, n: int, kind: str, facility: str, seconds: float, **extra) -> dict:
        return {
            "topic": "scans",
            "value": {
                "event_id": f"{no}-{n}",
                "waybill_no": no,
                "facility_id": facility,
                "scan_type": kind,
                "event_time": stamp(seconds),
                **extra,
            },
        }

    lines = []
    for i in range(8):
        no = f"WALL{i}"
        lines.append(order(no))
        if i % 2:
            lines += [scan(no, 1, "PICKUP", "A-OUT", 0), scan(no, 2, "HUB_ARRIVAL", "A-HUB", 1)]
    lines += [
        order("WALLQ"),
        scan("WALLQ", 1, "PICKUP", "A-OUT", 0),
        scan("WALLQ", 2, "HUB_ARRIVAL", "A-HUB", 1),
        scan("WALLQ", 3, "HUB_DEPARTURE", "A-HUB", 2, vehicle_id="TW1", next_facility_id="B-HUB"),
    ]
    (a_lat, a_lon), (b_lat, b_lon) = COORDS["A-HUB"], COORDS["B-HUB"]
    road = {
        "vehicle_id": "TW1",
        "event_time": stamp(3),
        "lat": (a_lat + b_lat) / 2,
        "lon": (a_lon + b_lon) / 2,
    }  # off-site, between hubs
    lines.append({"topic": "gps", "value": road})
    return lines


def _assigned(log: Path) -> bool:
    return bool(
        re.search(r"partitions assigned: \S+scans \[[\d, ]+\]", log.read_text(errors="replace"))
    )


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
@pytest.mark.parametrize("mode", ["restart", "failover"])
def test_on_the_wall_clock_a_killed_worker_loses_nothing_and_repeats_nothing(
    broker, tmp_path, network_file, mode, guarantee
):
    if guarantee == "exactly_once" and broker.kind != "kafka":
        pytest.skip("transactions: Apache Kafka only (make test-kafka)")
    app_id = f"pw-wall-{mode}-{guarantee}".replace("_", "-")
    settings = settings_for(broker, app_id)
    config = tmp_path / "rules.yaml"
    config.write_text(RULES)
    create_topics(settings, broker.bootstrap, embedded=True)

    def worker(name: str):
        return start_worker(
            broker,
            tmp_path,
            network_file,
            app_id,
            f"{name}.log",
            "rocksdb://",
            data=f"data-{name}",
            clock="wall",
            config_file=str(config),
            processing_guarantee=guarantee,
        )

    workers = {"w1": worker("w1")}
    if mode == "failover":
        workers["w2"] = worker("w2")
    try:
        deadline = time.monotonic() + 90
        while not all(_assigned(tmp_path / f"{n}.log") for n in workers):
            assert time.monotonic() < deadline, "the workers never got partitions"
            time.sleep(0.5)
        if mode == "failover":
            time.sleep(8)  # the second worker's join settles: each holds some partitions
            held = assignments(tmp_path / "w1.log", settings.topic_scans)[-1]
            assert 0 < len(held) < 4, f"the worker to kill holds {held}: nothing to take over"

        t0 = datetime.now(UTC)
        source = tmp_path / "events.jsonl"
        source.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in _stream(t0)))
        split: dict[str, list] = {"scans": [], "waybills": [], "gps": []}
        arrival = ArrivalClock(*rules_of(settings))
        for topic, key, value, _, stamp in read_with_arrival(source, arrival):
            split[topic].append((topic, key, value, stamp))
        send_records(settings, broker.bootstrap, split["waybills"], "librdkafka")
        send_records(settings, broker.bootstrap, split["scans"], "librdkafka")
        send_records(settings, broker.bootstrap, split["gps"], "java")
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            inputs = {settings.topic_waybills, settings.topic_scans, settings.topic_gps}
            await_committed(admin, app_id, inputs, sum(map(len, split.values())), "the inputs")
        finally:
            admin.close()
        elapsed = (datetime.now(UTC) - t0).total_seconds()
        assert elapsed < DUE_S - 5, f"too slow to kill before the deadlines ({elapsed:.0f} s)"
        workers["w1"].kill()  # kill -9: no clean shutdown, its deadlines not yet due
        workers["w1"].wait(30)
        if mode == "restart":
            workers["w1"] = worker("w1b")

        replay(
            network_file,
            source,
            tmp_path / "replay",
            config=config,
            until=(t0 + timedelta(seconds=DUE_S + 60)).isoformat(),
        )
        lines = (tmp_path / "replay" / "exceptions.jsonl").read_text().splitlines()
        expected = {(r["exception_id"], r["type"], r["status"]) for r in map(json.loads, lines)}
        assert {t for _, t, _ in expected} >= {
            "PICKUP_OVERDUE",
            "STALLED_AT_FACILITY",
            "STALLED_IN_TRANSIT",
        }

        deadline = time.monotonic() + DUE_S + 120
        while True:
            records = collect(settings, broker.bootstrap, "exceptions", 0, timeout=5)
            got = {(r["exception_id"], r["type"], r["status"]) for r in records}
            if got >= expected or time.monotonic() > deadline:
                break
            time.sleep(2)
        time.sleep(5)  # anything repeated would come now
        records = collect(settings, broker.bootstrap, "exceptions", 0, timeout=5)
        tickets = collect(settings, broker.bootstrap, "tickets", 0, timeout=5)
        notes = collect(settings, broker.bootstrap, "notifications", 0, timeout=5)
    finally:
        for process in workers.values():
            process.kill()
            process.wait(30)
    log = "".join(
        (tmp_path / f).read_text(errors="replace")[-1500:]
        for f in ("w1.log", "w1b.log", "w2.log")
        if (tmp_path / f).exists()
    )
    got = {(r["exception_id"], r["type"], r["status"]) for r in records}
    assert got == expected, (sorted(expected - got), sorted(got - expected), log)
    repeated = [
        k for k, n in Counter((r["exception_id"], r["status"]) for r in records).items() if n > 1
    ]
    assert not repeated, repeated
    assert tickets and notes
    for name, recs, field in (
        ("tickets", tickets, "ticket_id"),
        ("notifications", notes, "notification_id"),
    ):
        ids = Counter((r[field], r.get("status")) for r in recs)
        assert all(n == 1 for n in ids.values()), (name, [k for k, n in ids.items() if n > 1])
