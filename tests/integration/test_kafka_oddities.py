"""Bad records at the Kafka level, sent by a real client to a real broker: a tombstone,
no key, a key that is not the value's id, a key that is not UTF-8, a value over the
record limit. Each is a dead letter with its reason, the agents go on with the next
record, and the worker's counter equals what is on the dead-letter topic."""

import json
import time

import pytest

from parcelwatch.devtools.brokers.process import free_port, stop_process
from parcelwatch.service.clients import create_topics, produce, topic_name
from tests.support.streams import Events
from tests.support.workers import (
    await_replay,
    collect,
    metric_families,
    metric_value,
    settings_for,
    start_worker,
)

pytestmark = pytest.mark.integration

SCAN = {
    "event_id": "ODD-1",
    "waybill_no": "ODD1",
    "facility_id": "A-HUB",
    "scan_type": "HUB_ARRIVAL",
    "event_time": "2026-11-20T10:00:00+08:00",
}
PING = {"vehicle_id": "T9", "event_time": "2026-11-20T10:00:00+08:00", "lat": 23.0, "lon": 114.0}


def test_kafka_level_bad_records_are_dead_letters_and_the_agents_go_on(
    broker, tmp_path, network_file
):
    from kafka import KafkaProducer

    app_id = "pw-oddities"
    settings = settings_for(broker, app_id)
    create_topics(settings, broker.bootstrap, embedded=True)
    scans, gps = topic_name(settings, "scans"), topic_name(settings, "gps")
    scan, ping = json.dumps(SCAN).encode(), json.dumps(PING).encode()
    bad = [
        (scans, b"ODD1", None, "tombstone"),
        (gps, b"T9", None, "tombstone"),
        (scans, None, scan, "no_key"),
        (gps, None, ping, "no_key"),
        (scans, b"SOMEONE-ELSE", scan, "key_mismatch"),
        (gps, b"\xff\xfe", ping, "key_mismatch"),  # not UTF-8
        (scans, b"ODD1", b'{"pad":"' + b"x" * 100_000 + b'"}', "too_large"),
    ]
    good = Events().waybill("ODD2", promised=100)
    good.scan("PICKUP", "A-OUT", 1, no="ODD2", event_id="ODD2-1")
    good.scan("DAMAGE_REPORTED", "A-OUT", 1.5, no="ODD2", event_id="ODD2-2", reason="MINOR")
    source = good.write(tmp_path / "good.jsonl")
    from parcelwatch.offline.replay import replay

    replay(network_file, source, tmp_path / "replay")
    lines = (tmp_path / "replay" / "exceptions.jsonl").read_text().splitlines()
    expected = {(r["exception_id"], r["type"], r["status"]) for r in map(json.loads, lines)}
    assert "DAMAGED" in {t for _, t, _ in expected}

    port = free_port()
    worker = start_worker(
        broker, tmp_path, network_file, app_id, metrics_port=port, metrics_host="127.0.0.1"
    )
    try:
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, max_request_size=2**20)
        for topic, key, value, _ in bad:  # first: the good records must come through after
            producer.send(topic, key=key, value=value)
        producer.flush()
        producer.close()
        produce(settings, broker.bootstrap, source, None)
        got, _ = await_replay(settings, broker.bootstrap, expected, timeout=120)
        letters = collect(settings, broker.bootstrap, "dead_letters", len(bad), timeout=60)
        deadline = time.monotonic() + 30
        while True:  # the counter is read from the scrape, after the letters are out
            counted = metric_value(
                metric_families(f"http://127.0.0.1:{port}/metrics"), "parcelwatch_dead_letters"
            )
            if counted >= len(letters) or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        stop_process(worker, 30)
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert got == expected, log[-3000:]  # the agents went on to the good records
    reasons = sorted(x["error"].split(":")[0] for x in letters)
    assert reasons == sorted(reason for *_, reason in bad), letters
    assert counted == len(letters)
    assert "processing failed" not in log and "Traceback" not in log
