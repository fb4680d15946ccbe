"""End to end on a real Kafka-protocol broker (embedded Tansu): a worker process, the
input file produced onto the topics, the outputs read back from the topics."""

import json
import time

import pytest

from parcelwatch.offline.replay import replay
from parcelwatch.service.clients import committed, create_topics, produce
from tests.support.streams import Events
from tests.support.workers import (
    assignments,
    await_committed,
    await_replay,
    canonical,
    collect,
    explain,
    send_backlog,
    settings_for,
    start_worker,
)

pytestmark = pytest.mark.integration  # a broker and worker processes: `make test-fast` skips


def test_end_to_end_on_the_topics_matches_replay(broker, tmp_path, network_file):
    events = Events().waybill(promised=10).journey()
    events.waybill("W2", promised=200).scan("PICKUP", "A-OUT", 1, no="W2")
    events.scan("DAMAGE_REPORTED", "A-OUT", 2, no="W2", reason="MAJOR")
    events.scan("HUB_ARRIVAL", "A-HUB", 3, no="W2")
    events.scan("HUB_DEPARTURE", "B-HUB", 40, no="W2")  # stall at A-HUB, skipped B-HUB
    events.raw("this is not a record")
    source = events.write(tmp_path / "events.jsonl")
    # Orders are placed before their parcels are scanned; across topics Kafka keeps no
    # order, so the test sends them first, as a real order system does.
    orders = tmp_path / "orders.jsonl"
    scans = tmp_path / "scans.jsonl"
    lines = source.read_text().splitlines()
    orders.write_text("\n".join(x for x in lines if '"waybills"' in x) + "\n")
    scans.write_text("\n".join(x for x in lines if '"waybills"' not in x) + "\n")
    replay(network_file, source, tmp_path / "replay")
    expected = [
        json.loads(x) for x in (tmp_path / "replay" / "exceptions.jsonl").read_text().splitlines()
    ]

    settings = settings_for(broker, "parcelwatch")
    create_topics(settings, broker.bootstrap, embedded=True)
    expected_tickets = [
        json.loads(x) for x in (tmp_path / "replay" / "tickets.jsonl").read_text().splitlines()
    ]
    assert expected_tickets  # the stream must make some, or the ticket check below is idle
    worker = start_worker(broker, tmp_path, network_file)
    try:
        produce(settings, broker.bootstrap, orders, None)
        # The orders are in (W1's DELAY_PREDICTED: promised 10 h, no scan yet) before
        # the scans go: across topics Kafka keeps no order.
        first = collect(settings, broker.bootstrap, "exceptions", 1, timeout=60)
        assert [r["type"] for r in first] == ["DELAY_PREDICTED"]
        produce(settings, broker.bootstrap, scans, None)
        got = collect(settings, broker.bootstrap, "exceptions", len(expected))
        letters = collect(settings, broker.bootstrap, "dead_letters", 1)
        tickets = collect(settings, broker.bootstrap, "tickets", len(expected_tickets))
    finally:
        worker.terminate()
        code = worker.wait(30)
    log = (tmp_path / "worker.log").read_text(errors="replace")
    key = lambda r: (r["exception_id"], r["type"], r["status"])  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, expected)), log[-3000:]
    assert {"DAMAGED", "DELAYED", "STALLED_AT_FACILITY"} <= {r["type"] for r in got}
    assert len(letters) == 1 and letters[0]["error"].startswith("decode")
    assert letters[0]["raw"] == "this is not a record"
    ticket_key = lambda t: (t["ticket_id"], t["status"], t["priority"], t["department"])  # noqa: E731
    assert sorted(map(ticket_key, tickets)) == sorted(map(ticket_key, expected_tickets))
    assert code == 0, log[-3000:]  # SIGTERM: a clean shutdown
    assert '"event_loop": "uvloop"' in log  # the default, PARCELWATCH_EVENT_LOOP


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_kill_9_and_restart_loses_nothing_and_repeats_nothing(
    broker, tmp_path, network_file, store
):
    """A hard kill mid-stream; the restarted worker restores its tables (from the
    changelog into memory, or from its RocksDB files and the changelog's tail) and goes
    on: no episode re-opened or missed, the same ids."""
    app_id = f"pw-restart-{store[:4]}"
    settings = settings_for(broker, app_id)
    orders, one, two = Events(), Events(), Events()
    for i in range(6):
        orders.waybill(f"R{i}", promised=12 + i)
        one.scan("PICKUP", "A-OUT", 1, no=f"R{i}", event_id=f"R{i}-1")
        one.scan("HUB_ARRIVAL", "A-HUB", 2, no=f"R{i}", event_id=f"R{i}-2")
        one.scan("DAMAGE_REPORTED", "A-HUB", 2.5, no=f"R{i}", event_id=f"R{i}-3", reason="MINOR")
        two.scan("DAMAGE_REPORTED", "A-HUB", 2.5, no=f"R{i}", event_id=f"R{i}-3", reason="MINOR")
        two.scan("HUB_DEPARTURE", "A-HUB", 20, no=f"R{i}", event_id=f"R{i}-4", vehicle_id="T1")
    files = [e.write(tmp_path / f"{n}.jsonl") for n, e in (("o", orders), ("1", one), ("2", two))]
    everything = tmp_path / "all.jsonl"
    everything.write_text("".join(f.read_text() for f in files))
    replay(network_file, everything, tmp_path / "replay")
    lines = (tmp_path / "replay" / "exceptions.jsonl").read_text().splitlines()
    expected = {(r["exception_id"], r["type"], r["status"]) for r in map(json.loads, lines)}

    def exceptions():  # this test's parcels only: the broker is shared by the session
        records = collect(settings, broker.bootstrap, "exceptions", 0, timeout=5)
        return [r for r in records if r["waybill_no"].startswith("R")]

    create_topics(settings, broker.bootstrap, embedded=True)
    worker = start_worker(broker, tmp_path, network_file, app_id, "w1.log", store)
    try:

        def wait_for(exc_type: str, count: int) -> None:
            deadline = time.monotonic() + 90
            while sum(r["type"] == exc_type for r in exceptions()) < count:
                assert time.monotonic() < deadline, f"no {count} {exc_type} records"

        produce(settings, broker.bootstrap, files[0], None)
        wait_for("DELAY_PREDICTED", 6)  # every order is in before its scans
        produce(settings, broker.bootstrap, files[1], None)
        wait_for("DAMAGED", 6)
        worker.kill()  # kill -9: no clean shutdown, no final commit
        worker.wait(30)
        worker = start_worker(broker, tmp_path, network_file, app_id, "w2.log", store)
        produce(settings, broker.bootstrap, files[2], None)
        deadline = time.monotonic() + 120
        while True:
            got = {(r["exception_id"], r["type"], r["status"]) for r in exceptions()}
            if got >= expected or time.monotonic() > deadline:
                break
    finally:
        worker.kill()
        worker.wait(30)
    log = (tmp_path / "w2.log").read_text(errors="replace")[-3000:]
    assert got == expected, log  # nothing lost, nothing re-opened, the same ids


def test_a_restarted_worker_goes_on_with_partitions_it_has_nothing_left_to_read(
    broker, tmp_path, network_file
):
    """Everything is processed and committed, the worker is killed and restarted, and
    new input comes for one parcel only: the partitions with nothing left to read must
    not hold the event clock (they are caught up as of the group's last commit)."""
    from kafka.admin import KafkaAdminClient

    app_id = "pw-caught-up"
    settings = settings_for(broker, app_id)
    before, after = Events(), Events()
    for i in range(6):
        before.waybill(f"C{i}", promised=30 + i)
        before.scan("PICKUP", "A-OUT", 1, no=f"C{i}", event_id=f"C{i}-1")
        before.scan("HUB_ARRIVAL", "A-HUB", 2, no=f"C{i}", event_id=f"C{i}-2")
    after.scan("HUB_DEPARTURE", "A-HUB", 20, no="C0", event_id="C0-3")  # one partition
    files = [e.write(tmp_path / f"{n}.jsonl") for n, e in (("1", before), ("2", after))]
    everything = tmp_path / "all.jsonl"
    everything.write_text("".join(f.read_text() for f in files))
    replay(network_file, everything, tmp_path / "replay")
    lines = (tmp_path / "replay" / "exceptions.jsonl").read_text().splitlines()
    expected = {(r["exception_id"], r["type"], r["status"]) for r in map(json.loads, lines)}
    assert {t for _, t, _ in expected} >= {"STALLED_AT_FACILITY"}  # fires only as time moves
    inputs = {settings.topic_waybills, settings.topic_scans, settings.topic_gps}
    total = len(files[0].read_text().splitlines())

    create_topics(settings, broker.bootstrap, embedded=True)
    worker = start_worker(broker, tmp_path, network_file, app_id, "w1.log")
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        produce(settings, broker.bootstrap, files[0], None)
        await_committed(admin, app_id, inputs, total, "part one")
        worker.kill()
        worker.wait(30)
        worker = start_worker(broker, tmp_path, network_file, app_id, "w2.log")
        produce(settings, broker.bootstrap, files[1], None)
        got, _ = await_replay(settings, broker.bootstrap, expected, timeout=120)
    finally:
        admin.close()
        worker.kill()
        worker.wait(30)
    log = (tmp_path / "w2.log").read_text(errors="replace")[-3000:]
    assert got == expected, (sorted(expected - got)[:5], log)


@pytest.mark.parametrize(
    ("producers", "store", "gps_batch"),
    [
        ("java", "memory://", 1),
        ("java", "memory://", 4000),
        ("java", "rocksdb://", 1),
        ("java", "rocksdb://", 4000),
        ("librdkafka-scans-java-gps", "memory://", 1000),
    ],
)
def test_a_simulated_backlog_through_the_live_pipeline_matches_replay(
    broker, tmp_path, small_sim, default_network_path, producers, store, gps_batch
):
    """The differential test: a simulated stream with late uploads, all of it on the
    topics before the worker has read much (the scans before the orders), gives replay's
    exceptions, tickets and notifications, whole records. The orders and scans topics and
    the GPS are read at their own speeds; the marks keep replay's order. The GPS is taken
    one record at a time or in batches of up to 4 000 (each vehicle's state read and
    written once per batch), on either store: the same records.

    Produced by Java clients (murmur2) for every topic, or by a librdkafka client
    (confluent-kafka, CRC-32) for orders and scans with the GPS from a Java client: the
    partitioners disagree, and nothing may depend on it (CONTRACT §1)."""
    expected = {
        name: canonical(map(json.loads, (small_sim / "replay" / f"{name}.jsonl").open()))
        for name in ("exceptions", "tickets", "notifications")
    }
    assert len(expected["exceptions"]) > 50 and expected["notifications"]
    app_id = f"pw-backlog-{producers}-{store[:4]}-{gps_batch}"
    settings = settings_for(broker, app_id)
    create_topics(settings, broker.bootstrap, embedded=True)
    client = "java" if producers == "java" else "librdkafka"
    send_backlog(settings, broker.bootstrap, small_sim / "ev.jsonl", client)
    worker = start_worker(
        broker, tmp_path, default_network_path, app_id, store=store, batch_max=gps_batch
    )
    try:
        ids = {
            (r["exception_id"], r["type"], r["status"])
            for r in map(json.loads, expected["exceptions"])
        }
        await_replay(settings, broker.bootstrap, ids)
        got = {
            name: canonical(collect(settings, broker.bootstrap, name, len(want)))
            for name, want in expected.items()
        }
    finally:
        worker.terminate()
        worker.wait(30)
    for name, want in expected.items():
        missing, extra = want - got[name], got[name] - want
        if missing or extra:  # pytest shows captured output in full, an assertion cut short
            explain(name, missing, extra, tmp_path / "worker.log")
        assert not missing and not extra, (
            f"{name}: {len(missing)} only replay, {len(extra)} only live"
        )


def _wait_consumed(settings, bootstrap: str, logical: str, count: int, timeout=90) -> None:
    """Until the app's consumer group has committed `count` records of a topic."""
    from kafka.admin import KafkaAdminClient

    topic = getattr(settings, f"topic_{logical}")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + timeout
        while True:
            done = committed(admin, settings.app_id, {topic})
            if done >= count:
                return
            assert time.monotonic() < deadline, f"{done} of {count} {logical} consumed"
            time.sleep(0.5)
    finally:
        admin.close()


def test_two_workers_split_the_partitions_and_the_survivor_takes_over(
    broker, tmp_path, default_network, default_network_path
):
    """Two workers of one app share the partitions; one is killed (-9) mid-stream, the
    other is given its partitions, restores their tables (it held them as standbys) and
    ends with exactly replay's records."""
    from parcelwatch.sim.generator import simulate_to_files
    from tests.support.streams import SIM_START, fast_config

    config = fast_config(damage=0.1, hub_stall=0.1, left_on_truck=0.1, truck_breakdown=0.2)
    config.noise.late_upload = 0.0
    source = tmp_path / "events.jsonl"
    simulate_to_files(default_network, 40, SIM_START, 0.2, 5, source, tmp_path / "t.jsonl", config)
    replay(default_network_path, source, tmp_path / "replay")
    lines = (tmp_path / "replay" / "exceptions.jsonl").read_text().splitlines()
    expected = {(r["exception_id"], r["type"], r["status"]) for r in map(json.loads, lines)}
    all_lines = source.read_text().splitlines()
    orders = [x for x in all_lines if x.startswith('{"topic":"waybills"')]
    rest = [x for x in all_lines if not x.startswith('{"topic":"waybills"')]
    files = []
    for name, part in (("o", orders), ("1", rest[: len(rest) // 2]), ("2", rest[len(rest) // 2 :])):
        files.append(tmp_path / f"{name}.jsonl")
        files[-1].write_text("\n".join(part) + "\n")

    app_id = "pw-failover"
    settings = settings_for(broker, app_id)
    create_topics(settings, broker.bootstrap, embedded=True)
    scans = settings.topic_scans
    a = start_worker(broker, tmp_path, default_network_path, app_id, "a.log", "rocksdb://", "a")
    b = start_worker(broker, tmp_path, default_network_path, app_id, "b.log", "rocksdb://", "b")
    try:
        deadline = time.monotonic() + 90
        while not (
            assignments(tmp_path / "a.log", scans)[-1:]
            and assignments(tmp_path / "b.log", scans)[-1:]
            and len(assignments(tmp_path / "a.log", scans)[-1]) == 2
            and len(assignments(tmp_path / "b.log", scans)[-1]) == 2
        ):
            assert time.monotonic() < deadline, "the two workers did not split the partitions"
            time.sleep(1)
        split = (
            assignments(tmp_path / "a.log", scans)[-1],
            assignments(tmp_path / "b.log", scans)[-1],
        )
        assert sorted(split[0] + split[1]) == [0, 1, 2, 3]
        produce(settings, broker.bootstrap, files[0], None)
        _wait_consumed(settings, broker.bootstrap, "waybills", len(orders))
        produce(settings, broker.bootstrap, files[1], None)
        first = sum('"topic":"scans"' in x for x in rest[: len(rest) // 2])
        _wait_consumed(settings, broker.bootstrap, "scans", first)
        a.kill()  # kill -9 mid-stream: no clean shutdown, no final commit
        a.wait(30)
        produce(settings, broker.bootstrap, files[2], None)
        got, records = await_replay(settings, broker.bootstrap, expected)
        (tmp_path / "exceptions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    finally:
        for worker in (a, b):
            worker.kill()
            worker.wait(30)
    log = (tmp_path / "b.log").read_text(errors="replace")[-3000:]
    assert assignments(tmp_path / "b.log", scans)[-1] == [0, 1, 2, 3], log  # took over
    assert got == expected, (sorted(expected - got)[:10], sorted(got - expected)[:10], log)
    for name in ("exceptions", "tickets", "notifications"):  # and every record whole
        want = canonical(map(json.loads, (tmp_path / "replay" / f"{name}.jsonl").open()))
        live = canonical(collect(settings_for(broker, app_id), broker.bootstrap, name, 0, 5))
        missing, extra = want - live, live - want
        if missing or extra:
            explain(name, missing, extra, tmp_path / "b.log")
        assert not missing and not extra, f"{name}: {len(missing)} lost, {len(extra)} extra"


@pytest.mark.parametrize("partitioner", ["murmur2", "crc32"])
def test_timer_rules_fire_whatever_partitioner_the_producer_used(
    broker, tmp_path, network_file, partitioner
):
    """Orders and scans produced as a Java client would (murmur2) and as librdkafka's
    clients do (CRC-32): a parcel's state lives on the RocksDB partition its records
    arrived on, and its deadline ticks are addressed there, so overdue pickups and hub
    stalls fire with no further input for those parcels, as in replay."""
    from parcelwatch.edge.partitioners import crc32_partition
    from parcelwatch.service.handlers import partition_of

    app_id = f"pw-part-{partitioner}"
    settings = settings_for(broker, app_id)
    events = Events()
    for i in range(8):
        events.waybill(f"P{i}", promised=100)
        if i % 2:  # picked up, then stuck at the hub
            events.scan("PICKUP", "A-OUT", 1, no=f"P{i}", event_id=f"P{i}-1")
            events.scan("HUB_ARRIVAL", "A-HUB", 2, no=f"P{i}", event_id=f"P{i}-2")
    events.waybill("CLOCK", promised=100).scan("PICKUP", "A-OUT", 30, no="CLOCK")
    source = events.write(tmp_path / "events.jsonl")
    keys = [f"P{i}".encode() for i in range(8)]
    moved = [k for k in keys if crc32_partition(k, [0, 1, 2, 3], []) != partition_of(k, 4)]
    assert moved  # the partitioners disagree on some keys, or the test proves nothing
    replay(network_file, source, tmp_path / "replay")
    lines = (tmp_path / "replay" / "exceptions.jsonl").read_text().splitlines()
    expected = {(r["exception_id"], r["type"], r["status"]) for r in map(json.loads, lines)}
    assert {t for _, t, _ in expected} >= {"PICKUP_OVERDUE", "STALLED_AT_FACILITY"}

    lines = source.read_text().splitlines()
    orders, scans = tmp_path / "orders.jsonl", tmp_path / "scans.jsonl"
    orders.write_text("\n".join(x for x in lines if '"waybills"' in x) + "\n")
    scans.write_text("\n".join(x for x in lines if '"waybills"' not in x) + "\n")

    from kafka.admin import KafkaAdminClient

    create_topics(settings, broker.bootstrap, embedded=True)
    worker = start_worker(broker, tmp_path, network_file, app_id, store="rocksdb://")
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        # Orders first, as an order system sends them (across topics Kafka keeps no order)
        sent = produce(settings, broker.bootstrap, orders, None, partitioner=partitioner)
        await_committed(admin, app_id, {settings.topic_waybills}, sent, "the orders")
        produce(settings, broker.bootstrap, scans, None, partitioner=partitioner)
        got, _ = await_replay(settings, broker.bootstrap, expected, timeout=120)
    finally:
        admin.close()
        worker.kill()
        worker.wait(30)
    log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    assert got == expected, (sorted(expected - got)[:5], log)
