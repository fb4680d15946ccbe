"""Metrics: what the live handlers count equals what they publish (the replay's records),
labels stay bounded, and /metrics serves it all over HTTP."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from parcelwatch.service.metrics import OTHER, Metrics
from tests.support.harness import Harness


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _samples(metrics: Metrics, name: str) -> dict[tuple, float]:
    """{sorted label items: value} of one sample name."""
    from prometheus_client import generate_latest

    text = generate_latest(metrics.registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def _by(samples: dict[tuple, float], *labels: str) -> Counter:
    counts: Counter = Counter()
    for items, value in samples.items():
        d = dict(items)
        if value:
            counts[tuple(d[label] for label in labels)] += value
    return counts


def test_counters_match_the_published_records(small_sim, default_network):
    harness = Harness(default_network)
    harness.run_lockstep(small_sim / "ev.jsonl")
    metrics = harness.waybills.metrics  # the harness's handlers share nothing: two registries
    exceptions = _lines(small_sim / "replay" / "exceptions.jsonl")
    assert len(exceptions) > 20
    got = _by(_samples(metrics, "parcelwatch_exceptions_total"), "type", "status")
    assert got == Counter((r["type"], r["status"]) for r in exceptions)
    tickets = _lines(small_sim / "replay" / "tickets.jsonl")
    got = _by(_samples(metrics, "parcelwatch_tickets_total"), "department", "priority", "status")
    assert got == Counter((t["department"], t["priority"], t["status"]) for t in tickets)
    notes = _lines(small_sim / "replay" / "notifications.jsonl")
    got = _by(_samples(metrics, "parcelwatch_notifications_total"), "channel", "locale")
    assert got == Counter((n["channel"], n["locale"]) for n in notes)
    held = sum(_samples(metrics, "parcelwatch_notifications_held_total").values())
    assert held == sum(n["send_after"] > n["created_at"] for n in notes)
    # Inputs: every valid order and scan, by scan type, on the waybill side.
    events = []
    for line in (small_sim / "ev.jsonl").read_text().splitlines():
        with contextlib.suppress(ValueError):
            events.append(json.loads(line))
    inputs = _by(_samples(metrics, "parcelwatch_input_records_total"), "topic", "scan_type")
    letters = _lines(small_sim / "replay" / "dead_letters.jsonl")
    scans = Counter(
        e["value"].get("scan_type")
        for e in events
        if isinstance(e.get("value"), dict) and e["topic"] == "scans"
    )
    assert inputs[("scans", "HUB_ARRIVAL")] == scans["HUB_ARRIVAL"] - sum(
        '"HUB_ARRIVAL"' in d["raw"] for d in letters
    )
    assert inputs[("waybills", "")] > 50
    gps = _samples(harness.vehicles.metrics, "parcelwatch_input_records_total")
    assert sum(gps.values()) > 1000


def test_dead_letters_are_counted_by_topic_and_reason(default_network):
    harness = Harness(default_network)
    t = harness.topics
    harness.waybills.handle(t.scans, 0, b"K1", b"{not json")
    harness.waybills.handle(t.scans, 0, b"K1", b'{"event_id": "x"}')
    harness.vehicles.handle(t.gps, 0, b"V1", b"[]")
    letters = _samples(harness.waybills.metrics, "parcelwatch_dead_letters_total")
    assert _by(letters, "topic", "reason") == Counter(
        {("scans", "decode"): 1, ("scans", "schema"): 1}
    )
    assert sum(_samples(harness.vehicles.metrics, "parcelwatch_dead_letters_total").values()) == 1


def test_open_episodes_are_indexed_and_forgotten_with_their_partition(small_sim, default_network):
    harness = Harness(default_network)
    harness.load(small_sim / "ev.jsonl")
    harness.run(10**9, 10**9)  # all read; the vehicles before the end releases their deadlines
    conditions = dict(harness.vehicles.conditions)
    assert conditions and set(c for _, c in conditions.values()) <= {"OK", "STATIONARY", "SILENT"}
    harness.vehicles.forget([1])  # the harness's one partition is 0
    assert harness.vehicles.conditions == conditions
    harness.vehicles.forget([0])
    assert harness.vehicles.conditions == {}
    harness.run_to_end(10**9, 10**9)
    exceptions = _lines(small_sim / "replay" / "exceptions.jsonl")
    last = {}
    for r in exceptions:
        last[r["exception_id"]] = r
    still_open = Counter(r["type"] for r in last.values() if r["status"] != "RESOLVED")
    index = harness.waybills.open
    assert Counter(t for _, eps in index.values() for t, _ in eps) == still_open
    harness.waybills.forget([1])  # the harness's one partition is 0
    assert Counter(t for _, eps in harness.waybills.open.values() for t, _ in eps) == still_open
    harness.waybills.forget([0])
    assert harness.waybills.open == {}


def test_facility_labels_are_bounded_to_the_allow_list():
    metrics = Metrics(facilities=["SZ-HUB"])
    assert metrics.facility("SZ-HUB") == "SZ-HUB"
    assert metrics.facility("anything-else") == OTHER
    assert metrics.facility(None) == OTHER


def test_a_failing_gauge_source_spoils_neither_the_scrape_nor_the_other_gauges():
    metrics = Metrics()
    metrics.gauge("parcelwatch_broken", "Fails.", (), lambda: 1 / 0)
    metrics.gauge("parcelwatch_fine", "Works.", ("side",), lambda: [(("a",), 3)])
    assert _samples(metrics, "parcelwatch_fine") == {(("side", "a"),): 3}
    assert _samples(metrics, "parcelwatch_broken") == {}


def test_metrics_are_served_over_http():
    metrics = Metrics()
    metrics.input("scans", "PICKUP")
    port = metrics.serve(0, "127.0.0.1")
    try:
        assert port
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        assert b'parcelwatch_input_records_total{scan_type="PICKUP",topic="scans"} 1.0' in body
        with pytest.raises(OSError):  # taken: the worker stops (see the test below)
            metrics.serve(port, "127.0.0.1")
    finally:
        metrics.close()


def test_a_failure_in_processing_becomes_a_counted_dead_letter(default_network, monkeypatch):
    harness = Harness(default_network)
    t = harness.topics

    def broken(*args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(harness.vehicles.side, "ping", broken)
    ping = (
        b'{"vehicle_id": "V1", "event_time": "2026-11-20T10:00:00+08:00", "lat": 28.2, "lon": 113}'
    )
    ((topic, key, value),) = harness.vehicles.handle_safely(t.gps, 0, b"V1", ping)
    letter = json.loads(value)
    assert topic == t.dead_letters and key == b"V1"
    assert (
        letter["error"] == "internal_error: RuntimeError: a bug" and letter["raw"] == ping.decode()
    )
    letters = _samples(harness.vehicles.metrics, "parcelwatch_dead_letters_total")
    assert _by(letters, "topic", "reason") == Counter({("gps", "internal_error"): 1})


def test_on_the_wall_clock_the_detection_delay_is_measured_from_the_scan(default_network):
    from datetime import UTC, datetime, timedelta

    from parcelwatch.detection.context import RuleContext
    from parcelwatch.service.eventtime import SystemClock
    from parcelwatch.service.handlers import WaybillHandler
    from parcelwatch.service.settings import ServiceSettings, Topics
    from parcelwatch.service.ticks import TickSource

    async def send(key: bytes, value: bytes, partition: int | None = None) -> None:
        pass

    clock = SystemClock()
    handler = WaybillHandler(
        RuleContext.create(default_network),
        Topics.from_settings(ServiceSettings()),
        clock,
        TickSource(lambda: None, send),
        {},
    )
    t = handler.topics
    now = datetime.now(UTC)
    order = {
        "waybill_no": "SF1",
        "product": "STANDARD",
        "created_at": (now - timedelta(hours=2)).isoformat(),
        "origin_facility_id": "CS-FR",
        "destination_facility_id": "YC-JF",
        "insured_value": 0.0,
        "recipient": {"name": "丁燕", "phone": "13941545078"},
    }
    damage = {
        "event_id": "SF1-1",
        "waybill_no": "SF1",
        "facility_id": "CS-FR",
        "event_time": (now - timedelta(minutes=10)).isoformat(),
        "scan_type": "DAMAGE_REPORTED",
        "reason": "MAJOR",
    }
    handler.handle(t.waybills, 0, b"SF1", json.dumps(order, ensure_ascii=False).encode())
    out = handler.handle(t.scans, 0, b"SF1", json.dumps(damage).encode())
    assert any(topic == t.exceptions for topic, _, _ in out)
    count = _samples(handler.metrics, "parcelwatch_detection_delay_seconds_count")
    total = _samples(handler.metrics, "parcelwatch_detection_delay_seconds_sum")
    assert count[(("type", "DAMAGED"),)] == 1
    assert 590 < total[(("type", "DAMAGED"),)] < 700  # ten minutes late, as uploaded


def test_a_worker_whose_metrics_port_is_taken_says_so_and_exits(tmp_path):
    """Not run on without metrics: `curl :9108` would show another worker's."""
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "PARCELWATCH_METRICS_PORT": str(port),
            "PARCELWATCH_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "PARCELWATCH_LOG_FORMAT": "json",
            "PARCELWATCH_DATA_DIR": str(tmp_path),
        }
        done = subprocess.run(
            [sys.executable, "-m", "parcelwatch", "worker"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 3, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert f"cannot listen on 0.0.0.0:{port}" in said and "PARCELWATCH_METRICS_PORT" in said
