"""Real clients against a worker: Debian's kcat (librdkafka 2.0.2, CRC-32 partitioner)
produces the input and consumes the output. (A confluent-kafka producer is one of the
differential test's parameters, on both brokers: test_live_pipeline.py.)"""

import json
import subprocess

import pytest

from parcelwatch.edge.files import read_replay_file
from parcelwatch.offline.replay import replay
from parcelwatch.service.clients import create_topics, topic_name
from tests.support.streams import Events, tool
from tests.support.workers import settings_for, start_worker

pytestmark = pytest.mark.integration


def _kcat_produce(kcat: str, bootstrap: str, topic: str, records: list) -> None:
    """key TAB value lines on kcat's standard input (-K: the key delimiter)."""
    lines = b"".join(key + b"\t" + value + b"\n" for key, value in records)
    done = subprocess.run(
        [kcat, "-P", "-b", bootstrap, "-t", topic, "-K", "\t"],
        input=lines,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")


def _kcat_consume(kcat: str, bootstrap: str, topic: str, want: int, timeout: float) -> list:
    """The topic's records as kcat's JSON envelopes (-J), once there are `want`."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(
            [kcat, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-J"],
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        if len(records) >= want or time.monotonic() > deadline:
            return records
        time.sleep(2)


def test_kcat_feeds_a_worker_and_reads_what_it_publishes(broker, tmp_path, network_file):
    if broker.kind != "kafka":
        pytest.skip("Debian's kcat cannot parse Tansu's ApiVersions reply (DESIGN.md §3)")
    kcat = tool("kcat")
    events = Events()
    for i in range(5):
        events.waybill(f"K{i}", promised=12).journey(f"K{i}", start=1 + i / 10)
    events.scan("DAMAGE_REPORTED", "A-HUB", 2.5, no="K0", reason="MAJOR")
    # In time order: a producer's arrival order across partitions is not kept, so a
    # stream with late uploads would give other records than replay's (as it should).
    events.in_time_order()
    source = events.write(tmp_path / "events.jsonl")
    replay(network_file, source, tmp_path / "replay")
    expected = [json.loads(x) for x in (tmp_path / "replay" / "exceptions.jsonl").open()]
    assert {"DAMAGED", "DELAY_PREDICTED"} <= {r["type"] for r in expected}

    settings = settings_for(broker, "pw-kcat")
    create_topics(settings, broker.bootstrap, embedded=True)
    by_topic: dict[str, list] = {"waybills": [], "scans": [], "gps": []}
    for logical, key, value, _ in read_replay_file(source):
        by_topic[logical].append((key, value))
    worker = start_worker(broker, tmp_path, network_file, settings.app_id, clock="event")
    try:
        for logical in ("waybills", "scans", "gps"):  # the orders first, as order systems do
            if by_topic[logical]:
                _kcat_produce(
                    kcat, broker.bootstrap, topic_name(settings, logical), by_topic[logical]
                )
        got = _kcat_consume(
            kcat, broker.bootstrap, settings.topic_exceptions, len(expected), timeout=120
        )
    finally:
        worker.terminate()
        worker.wait(30)
    records = [json.loads(r["payload"]) for r in got]
    key = lambda r: (r["exception_id"], r["type"], r["status"])  # noqa: E731
    assert sorted(map(key, records)) == sorted(map(key, expected))
    assert all(r["key"] == json.loads(r["payload"])["waybill_no"] for r in got)
