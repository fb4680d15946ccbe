"""Faults only Apache Kafka can show: the broker killed with kill -9 and started again on
its log directory, and Kafka transactions (exactly once) across a worker's kill -9. Each
test runs its own broker (the session's must not die under the other tests); they run
with `--broker kafka` (`make test-kafka`)."""

import json
import time
from collections import Counter

import pytest

from stream.kafka_server import KafkaBroker
from stream.live import ArrivalClock, create_topics, read_with_arrival, rules_of

from .conftest import await_committed, await_replay, settings_for, start_worker
from .test_live_pipeline import _canonical, _explain, _send

pytestmark = pytest.mark.integration

OUTPUTS = ("exceptions", "tickets", "notifications")


@pytest.fixture
def kafka(request, tmp_path):
    if request.config.getoption("broker") not in ("kafka", "all"):
        pytest.skip("Apache Kafka only: --broker kafka (make test-kafka)")
    broker = KafkaBroker(data_dir=tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


def _expected(small_sim) -> dict[str, set[str]]:
    return {
        name: _canonical(map(json.loads, (small_sim / "replay" / f"{name}.jsonl").open()))
        for name in OUTPUTS
    }


def _produce_all(settings, bootstrap: str, small_sim) -> int:
    """The whole stream onto the topics, as the differential test sends it: on the event
    clock a pause in the input longer than the idle time is the end of the input
    (invariant 5 of stream/agents/eventtime.py), so the faults below strike while the
    worker is still reading a backlog, not between two halves of it."""
    arrival = ArrivalClock(*rules_of(settings))
    split: dict[str, list] = {"scans": [], "waybills": [], "gps": []}
    for topic, key, value, _, stamp in read_with_arrival(small_sim / "ev.jsonl", arrival):
        split[topic].append((topic, key, value, stamp))
    for topic in ("scans", "waybills", "gps"):
        _send(settings, bootstrap, split[topic], "java")
    return sum(map(len, split.values()))


def _read_all(settings, bootstrap: str, logical: str, committed_only: bool) -> list[dict]:
    """Every record of an output topic, as a `read_committed` consumer (or any) sees it."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        getattr(settings, f"topic_{logical}"), bootstrap_servers=bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=5000,
        isolation_level="read_committed" if committed_only else "read_uncommitted",
    )  # fmt: skip
    try:
        return [json.loads(m.value) for m in consumer]
    finally:
        consumer.close()


def _ident(logical: str, record: dict) -> tuple:
    name = {"exceptions": "exception_id", "tickets": "ticket_id"}.get(logical, "notification_id")
    return (record[name], record.get("status"))


def test_the_broker_killed_and_restarted_mid_stream_loses_nothing(
    kafka, tmp_path, small_sim, default_network_path
):
    """kill -9 of Apache Kafka while the worker is busy; the broker starts again on the
    same log directory and port a few seconds later. The worker reconnects by itself,
    and its outputs are replay's records, whole: nothing lost."""
    expected = _expected(small_sim)
    settings = settings_for(kafka, "pw-broker-kill")
    create_topics(settings, kafka.bootstrap, embedded=True)
    total = _produce_all(settings, kafka.bootstrap, small_sim)
    worker = start_worker(kafka, tmp_path, default_network_path, settings.app_id)
    try:
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        inputs = {settings.topic_scans, settings.topic_gps, settings.topic_waybills}
        await_committed(admin, settings.app_id, inputs, total // 10, "a tenth of the input")
        admin.close()
        kafka.kill()  # mid-stream: most of the backlog is still to be read
        time.sleep(3)
        assert worker.poll() is None, "the worker died with the broker"
        kafka.start()
        ids = {(r["exception_id"], r["type"], r["status"])
               for r in map(json.loads, expected["exceptions"])}  # fmt: skip
        await_replay(settings, kafka.bootstrap, ids, timeout=300)
        got = {name: _canonical(_read_all(settings, kafka.bootstrap, name, False))
               for name in OUTPUTS}  # fmt: skip
        assert worker.poll() is None, "the worker died with the broker"
    finally:
        worker.terminate()
        worker.wait(30)
    for name, want in expected.items():
        missing, extra = want - got[name], got[name] - want
        if missing or extra:
            _explain(name, missing, extra, tmp_path / "worker.log")
        assert not missing and not extra, f"{name}: {len(missing)} lost, {len(extra)} extra"


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_a_worker_killed_mid_stream_repeats_what_its_guarantee_allows(
    kafka, tmp_path, small_sim, default_network_path, guarantee
):
    """kill -9 of the worker mid-stream, then a restart: replay's records, and what a
    `read_committed` consumer sees twice. exactly_once: nothing twice. at_least_once:
    what was processed after the last commit is sent again with the same ids; the
    count is printed (README, Reliability)."""
    expected = _expected(small_sim)
    settings = settings_for(kafka, f"pw-kill-{guarantee}")
    create_topics(settings, kafka.bootstrap, embedded=True)
    _produce_all(settings, kafka.bootstrap, small_sim)
    fields = {"processing_guarantee": guarantee}
    worker = start_worker(kafka, tmp_path, default_network_path, settings.app_id, "w1.log",
                          **fields)  # fmt: skip
    try:
        # Killed mid-stream, with output out whose input it has not committed yet.
        deadline = time.monotonic() + 120
        while not _read_all(settings, kafka.bootstrap, "exceptions", False):
            assert time.monotonic() < deadline, "no output before the kill"
            time.sleep(0.5)
        time.sleep(1)
        worker.kill()
        worker.wait(30)
        worker = start_worker(kafka, tmp_path, default_network_path, settings.app_id,
                              "w2.log", **fields)  # fmt: skip
        ids = {(r["exception_id"], r["type"], r["status"])
               for r in map(json.loads, expected["exceptions"])}  # fmt: skip
        await_replay(settings, kafka.bootstrap, ids, timeout=300)
        time.sleep(5)  # the last transaction's commit (its interval) and any stragglers
        records = {name: _read_all(settings, kafka.bootstrap, name, True) for name in OUTPUTS}
    finally:
        worker.terminate()
        worker.wait(30)
    repeated = {}
    for name, want in expected.items():
        got = _canonical(records[name])
        missing, extra = want - got, got - want
        if missing or extra:
            _explain(name, missing, extra, tmp_path / "w2.log")
        assert not missing and not extra, f"{name}: {len(missing)} lost, {len(extra)} extra"
        counts = Counter(_ident(name, r) for r in records[name])
        repeated[name] = sum(n - 1 for n in counts.values())
    total = sum(len(r) for r in records.values())
    print(f"{guarantee}: {total} output records read committed, repeated: {repeated}")
    if guarantee == "exactly_once":
        assert sum(repeated.values()) == 0, repeated
