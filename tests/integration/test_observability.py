"""A worker's /metrics on the real broker: what it counts equals what it published; the
Grafana dashboard and the alert rules use only metrics it really exports; docs/operations.md
lists them all; and a real Prometheus scrapes it and answers queries about it."""

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import yaml

from parcelwatch.devtools.brokers.process import free_port, stop_process
from parcelwatch.service.clients import create_topics, produce
from tests.support.streams import tool
from tests.support.workers import (
    await_replay,
    metric_families,
    metric_value,
    settings_for,
    start_worker,
)

pytestmark = pytest.mark.integration  # a broker and worker processes: `make test-fast` skips

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


@pytest.fixture(scope="module")
def worker(broker, small_sim, default_network_path, tmp_path_factory):
    """A worker that has processed the simulated stream: (settings, metrics URL, the
    exception records on its topic)."""
    tmp = tmp_path_factory.mktemp("observed")
    lines = (small_sim / "replay" / "exceptions.jsonl").read_text().splitlines()
    expected = {(r["exception_id"], r["type"], r["status"]) for r in map(json.loads, lines)}
    settings = settings_for(broker, "pw-observed")
    create_topics(settings, broker.bootstrap, embedded=True)
    port = free_port()
    proc = start_worker(
        broker,
        tmp,
        default_network_path,
        "pw-observed",
        metrics_port=port,
        metrics_host="127.0.0.1",
    )
    try:
        produce(settings, broker.bootstrap, small_sim / "ev.jsonl", None)
        got, records = await_replay(settings, broker.bootstrap, expected)
        assert got == expected, (tmp / "worker.log").read_text(errors="replace")[-3000:]
        yield settings, f"http://127.0.0.1:{port}/metrics", records
    finally:
        stop_process(proc, 30)


def test_the_scrape_counts_what_the_worker_published(worker, small_sim):
    _, url, records = worker
    families = metric_families(url)
    by_type = Counter((r["type"], r["status"]) for r in records)
    for (kind, status), n in by_type.items():
        assert metric_value(families, "parcelwatch_exceptions", type=kind, status=status) == n
    letters = (small_sim / "replay" / "dead_letters.jsonl").read_text().splitlines()
    assert metric_value(families, "parcelwatch_dead_letters") == len(letters) > 0
    assert metric_value(families, "parcelwatch_input_records", topic="gps") > 1000
    assert (
        metric_value(families, "parcelwatch_input_records", topic="scans", scan_type="PICKUP") > 50
    )
    latency = families["parcelwatch_processing_latency_seconds"]
    assert any(s.name.endswith("_count") and s.value > 0 for s in latency.samples)
    # The stream is read to its end: no lag on any partition the worker reads.
    deadline = time.monotonic() + 60
    while True:
        lag = metric_families(url)["parcelwatch_consumer_lag"].samples
        if (lag and sum(s.value for s in lag) == 0) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert {s.labels["topic"] for s in lag} >= {"pw-observed.scans", "pw-observed.gps"}
    assert sum(s.value for s in lag) == 0
    tables = {s.labels["table"]: s.value for s in families["parcelwatch_table_keys"].samples}
    assert set(tables) == {"waybill-state", "waybill-held", "waybill-fleet", "vehicle-state"}
    assert tables["waybill-state"] >= 60  # every parcel has a state
    # Every vehicle is forgotten by now (all read and idle: each one's last deadline,
    # a week after its last ping, fires); the waybill side's copies of its facts stay.
    assert tables["vehicle-state"] == 0 and tables["waybill-fleet"] > 0, tables


def _exported(url: str) -> set[str]:
    names = set()
    for family in metric_families(url).values():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def _used(expr: str) -> set[str]:
    return set(re.findall(r"\bparcelwatch_[a-z_]+", expr))


def test_every_dashboard_and_alert_query_uses_an_exported_metric(worker):
    exported = _exported(worker[1])
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "parcelwatch.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = set().union(*map(_used, exprs))
    assert len(used) >= 12
    assert used <= exported, sorted(used - exported)


def test_the_operations_page_lists_every_metric(worker):
    readme = (ROOT / "docs" / "operations.md").read_text()
    families = [n for n in metric_families(worker[1]) if n.startswith("parcelwatch_")]
    assert len(families) == 21
    missing = [n for n in families if f"`{n}" not in readme]
    assert not missing, missing


def test_a_real_prometheus_scrapes_the_worker_and_evaluates_the_rules(worker, tmp_path):
    binary = tool("prometheus")
    _, url, records = worker
    target = urllib.parse.urlparse(url).netloc
    rules = tmp_path / "alerts.yml"
    shutil.copy(DEPLOY / "prometheus" / "alerts.yml", rules)
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "scrape_configs": [
                    {"job_name": "parcelwatch", "static_configs": [{"targets": [target]}]}
                ],
            }
        )
    )
    port = free_port()
    api = f"http://127.0.0.1:{port}/api/v1"
    with (tmp_path / "prometheus.log").open("wb") as log:
        prom = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        opened = sum(r["status"] == "OPEN" for r in records)
        query = 'sum(parcelwatch_exceptions_total{status="OPEN"})'
        deadline = time.monotonic() + 90
        result = []
        while time.monotonic() < deadline:
            try:
                body = json.loads(_get(f"{api}/query?query={urllib.parse.quote(query)}"))
                result = body["data"]["result"]
                if result:
                    break
            except OSError:
                pass  # not listening yet
            time.sleep(1)
        log_text = (tmp_path / "prometheus.log").read_text(errors="replace")[-2000:]
        assert result and float(result[0]["value"][1]) == opened, log_text
        up = json.loads(_get(f"{api}/query?query={urllib.parse.quote('up')}"))["data"]["result"]
        assert [(r["metric"]["job"], r["value"][1]) for r in up] == [("parcelwatch", "1")]
        by_type = json.loads(
            _get(
                f"{api}/query?query="
                + urllib.parse.quote("sum by (type) (parcelwatch_open_exceptions)")
            )
        )["data"]["result"]
        assert len(by_type) == 10  # every type has its series, zero or not
        groups = json.loads(_get(f"{api}/rules"))["data"]["groups"]
        health = {r["name"]: r["health"] for g in groups for r in g["rules"]}
        rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
        assert len(health) == sum(len(g["rules"]) for g in rules["groups"]) >= 9
        deadline = time.monotonic() + 30
        while "unknown" in health.values() and time.monotonic() < deadline:
            time.sleep(1)
            groups = json.loads(_get(f"{api}/rules"))["data"]["groups"]
            health = {r["name"]: r["health"] for g in groups for r in g["rules"]}
        assert set(health.values()) == {"ok"}, health  # every rule evaluates on real data
    finally:
        stop_process(prom, 10)
