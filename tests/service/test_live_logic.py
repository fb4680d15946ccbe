"""The live handlers (decode, state in a table, core, ticks, facts and marks)
against replay, in-process: a live pipeline that keeps up gives the replay's records."""

import asyncio
import contextlib
import json
from datetime import datetime

import pytest

from parcelwatch.detection.errors import InvalidRecord
from tests.support.harness import Harness


def _replay(small_sim, name: str) -> list[str]:
    lines = (small_sim / "replay" / f"{name}.jsonl").read_text().splitlines()
    return sorted(json.dumps(json.loads(x), sort_keys=True) for x in lines)


def _same_as_replay(harness, small_sim) -> None:
    """Whole records, not only ids: the live logic applies every input at replay's time,
    late uploads included (each record carries its arrival stamp, as `produce` sends it)."""
    for name in ("exceptions", "tickets", "notifications"):
        got = sorted(json.dumps(r, sort_keys=True) for r in harness.outputs[name])
        assert got == _replay(small_sim, name), name
    letters = (small_sim / "replay" / "dead_letters.jsonl").read_text().splitlines()
    assert len(harness.outputs["dead_letters"]) == len(letters)


def test_lockstep_live_logic_gives_the_replay_records(small_sim, default_network):
    harness = Harness(default_network, idle_s=3600)  # no partition is idle until the end
    harness.run_lockstep(small_sim / "ev.jsonl")
    assert len(_replay(small_sim, "exceptions")) > 20
    _same_as_replay(harness, small_sim)


def test_a_month_through_the_live_logic_forgets_what_replay_forgets(month_sim, default_network):
    """Finished parcels and silent vehicles are deleted from the tables (tombstones on
    the changelog) as replay forgets them, and the records stay replay's."""
    from parcelwatch.clock import HOUR
    from parcelwatch.detection.codec import load_vehicle
    from parcelwatch.detection.detector import Detector
    from parcelwatch.edge.files import read_replay_file
    from parcelwatch.edge.intake import decode

    WEEK = 7 * 24 * HOUR
    detector = Detector(default_network)
    seen = set()
    for logical, _, value, _ in read_replay_file(month_sim / "ev.jsonl"):
        try:
            record = decode(logical, value, default_network)
        except InvalidRecord:  # the simulator's malformed lines: dead letters
            continue
        if logical == "gps":
            seen.add(record.vehicle_id)
        with contextlib.suppress(InvalidRecord):  # refused by the core: a dead letter
            detector.feed(record)
    harness = Harness(default_network, idle_s=3600)
    harness.load(month_sim / "ev.jsonl")
    harness.run(500, 500)  # everything read, no partition idle yet
    # Replay's one clock is at the last record; the vehicle side's at the last ping: it
    # keeps the vehicles replay forgot since, and no other.
    live = {k.decode(): load_vehicle(v) for k, v in harness.vehicles.table.items()}
    vehicle_time = harness.vticks.now()
    assert set(live) >= set(detector.vehicles)
    assert all(
        live[k].last_ping_at + WEEK > vehicle_time for k in set(live) - set(detector.vehicles)
    )
    assert len(live) < len(seen) / 2, "few vehicles forgotten"
    harness.run_to_end(500, 500)
    _same_as_replay(harness, month_sim)
    waybills = {k.decode() for k in harness.waybills.table}
    assert waybills == set(detector.waybills) and len(waybills) < 300
    # Once everything is read and idle, every vehicle deadline fires (invariant 5 of
    # parcelwatch/service/eventtime.py), the last one a week after its last ping: forgotten.
    assert not harness.vehicles.table


@pytest.mark.parametrize(
    ("vehicle_batch", "waybill_batch", "orders_last"),
    [(10**9, 1, False), (1, 10**9, False), (50, 7, False), (1, 10**9, True), (0, 10**9, True)],
    ids=[
        "vehicles-ahead",
        "waybills-ahead",
        "interleaved",
        "scans-before-orders",
        "all-gps-then-all-scans-then-all-orders",
    ],
)
def test_a_backlog_read_unevenly_gives_the_replay_records(
    small_sim, default_network, vehicle_batch, waybill_batch, orders_last
):
    """The whole file is on the topics before either side starts, and one side reads far
    ahead of the other, or every scan is read before any order: marks, inputs set aside
    and the facts each partition remembers keep replay's order."""
    harness = Harness(default_network, idle_s=3600, orders_last=orders_last)
    harness.load(small_sim / "ev.jsonl")
    if vehicle_batch == 0:  # the vehicle side reads all its GPS before the other starts
        harness.run(10**9, 0)
        harness.step((harness.topics.facts,), harness.waybills, 10**9)  # and its marks
        vehicle_batch = 10**9
    harness.run_to_end(vehicle_batch, waybill_batch)
    _same_as_replay(harness, small_sim)


SCAN = {
    "event_id": "e1",
    "waybill_no": "W1",
    "facility_id": "SZ-HUB",
    "event_time": "2026-11-20T09:00:00+08:00",
    "scan_type": "HUB_ARRIVAL",
}
PING = {"vehicle_id": "T1", "event_time": "2026-11-20T09:00:00+08:00", "lat": 22.6, "lon": 114.0}


@pytest.mark.parametrize(
    ("key", "reason"),
    [(None, "no_key"), (b"WRONG", "key_mismatch"), (b"\xff\xfe", "key_mismatch")],
)
@pytest.mark.parametrize("side", ["scans", "gps"])
def test_a_record_not_keyed_by_its_id_is_a_dead_letter(default_network, side, key, reason):
    """CONTRACT §1: never re-keyed (where a key's state lives is where its records
    arrive), never processed, counted once with its reason."""
    harness = Harness(default_network)
    handler, topic, value = (
        (harness.waybills, harness.topics.scans, SCAN)
        if side == "scans"
        else (harness.vehicles, harness.topics.gps, PING)
    )
    raw = json.dumps(value).encode()
    before = _dead_letters_counted(handler, side, reason)
    ((out_topic, out_key, letter),) = handler.handle_safely(topic, 0, key, raw)
    assert out_topic == harness.topics.dead_letters and out_key == (key or b"")
    letter = json.loads(letter)
    assert letter["error"].startswith(f"{reason}: ") and letter["raw"] == raw.decode()
    assert handler.table == {}
    assert _dead_letters_counted(handler, side, reason) == before + 1


@pytest.mark.parametrize("side", ["waybill", "vehicle"])
def test_a_tick_without_a_key_is_a_dead_letter(default_network, side):
    """Ticks are the pipeline's own, always keyed: a stray record on a ticks topic
    (a tombstone, another client's) is refused, not applied to a key of None."""
    harness = Harness(default_network)
    t = harness.topics
    handler, topic = (
        (harness.waybills, t.waybill_ticks)
        if side == "waybill"
        else (harness.vehicles, t.vehicle_ticks)
    )
    ((out_topic, out_key, letter),) = handler.handle_safely(topic, 0, None, b"1")
    assert out_topic == t.dead_letters and out_key == b""
    assert json.loads(letter)["error"].startswith("no_key: ")
    assert handler.table == {} and len(handler.ticks) == 0


def _dead_letters_counted(handler, side: str, reason: str) -> float:
    value = handler.metrics.registry.get_sample_value(
        "parcelwatch_dead_letters_total", {"topic": side, "reason": reason}
    )
    return value or 0.0


def test_bad_records_become_dead_letters_with_the_key(default_network):
    harness = Harness(default_network)
    out = harness.waybills.handle(harness.topics.scans, 0, b"K1", b"{not json")
    ((topic, key, value),) = out
    letter = json.loads(value)
    assert topic == harness.topics.dead_letters and key == b"K1"
    assert letter["key"] == "K1" and letter["error"].startswith("decode") and "line" not in letter


ORDER = {
    "waybill_no": "SF000000000001",
    "product": "STANDARD",
    "created_at": "2026-11-20T08:00:00+08:00",
    "origin_facility_id": "CS-FR",
    "destination_facility_id": "YC-JF",
    "insured_value": 0.0,
    "recipient": {
        "name": "丁燕",
        "phone": "13941545078",
        "locale": "zh-CN",
        "timezone": "Asia/Shanghai",
    },
}
PICKUP = {
    "event_id": "SF000000000001-00",
    "waybill_no": "SF000000000001",
    "facility_id": "CS-FR",
    "event_time": "2026-11-20T11:30:00+08:00",
    "scan_type": "PICKUP",
    "courier_id": "C1",
}
LATE = {
    **PICKUP,
    "event_id": "SF000000000001-x",
    "scan_type": "HUB_ARRIVAL",
    "event_time": "2026-11-20T09:00:00+08:00",
}  # uploaded after the pickup
PING = {
    "vehicle_id": "V1",
    "event_time": "2026-11-20T10:00:00+08:00",
    "lat": 28.230128,
    "lon": 112.979832,
}
KEY = b"SF000000000001"


def _raw(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


def _us(record: dict) -> int:
    stamp = record.get("event_time") or record["created_at"]
    return int(datetime.fromisoformat(stamp).timestamp()) * 1_000_000


def test_inputs_set_aside_wait_from_the_first_not_the_earliest(default_network):
    """Inputs set aside go in arrival order, each at the key's time, so a scan uploaded
    late changes nothing before the time of the scan set aside before it."""
    harness = Harness(default_network, idle_s=3600)
    harness._assign()
    w, t = harness.waybills, harness.topics
    assert w.handle(t.scans, 0, KEY, _raw(PICKUP)) == []  # no vehicle marks yet: aside
    assert w.handle(t.scans, 0, KEY, _raw(LATE)) == []
    harness.clock.confirm((t.scans, 0))
    assert w.waiting == {KEY: _us(PICKUP)}
    assert [x[2] for x in json.loads(w.held[KEY])] == [
        _raw(PICKUP).decode(),
        _raw(LATE).decode(),
    ]
    assert w.ticks.queue.peek() == _us(PICKUP)


def test_an_order_goes_past_its_parcels_scans_set_aside(default_network):
    harness = Harness(default_network, idle_s=3600)
    harness._assign()
    w, t = harness.waybills, harness.topics
    assert w.handle(t.scans, 0, KEY, _raw(PICKUP)) == []
    w.handle(t.waybills, 0, KEY, _raw(ORDER))
    assert KEY in w.table  # registered now; the pickup still waits for the vehicle side
    assert len(json.loads(w.held[KEY])) == 1
    assert w.waiting == {KEY: _us(PICKUP)}


def test_a_scan_waiting_for_a_vehicle_deadline_past_the_last_ping_is_released(default_network):
    """The bench's stall: the truck's silence deadline (10:00 + 60 min) falls after its
    last ping, a scan at 11:30 waits for it, and a scan of 09:00 is uploaded after it.
    No GPS input will bring the vehicle side's time to the deadline: once its partition
    is read to the end and quiet, the deadline fires, and the marks let the scans go."""
    harness = Harness(default_network, idle_s=3600)
    t = harness.topics
    harness._put(t.waybills, KEY, _raw(ORDER))
    harness._put(t.gps, b"V1", _raw(PING))
    harness._put(t.scans, KEY, _raw(PICKUP))
    harness.run(10**9, 10**9)
    assert harness.waybills.waiting  # the pickup waits for the truck's 11:00
    harness._put(t.scans, KEY, _raw(LATE))
    harness.run_to_end(10**9, 10**9)  # all read: every partition goes idle
    assert harness.waybills.waiting == {}
    assert set(harness.waybills.table) == {KEY}  # both scans applied
    assert harness.waybills.held == {}  # nothing aside


def test_a_parcels_ticks_go_to_the_partition_its_records_arrived_on(default_network):
    """Not to the partition a hash of its key names: a producer with another partitioner
    (librdkafka's CRC32) put its records elsewhere, and its state lives where they are.
    A worker that restores the state from its table addresses the ticks the same way."""
    from datetime import UTC, datetime

    from parcelwatch.detection.context import RuleContext
    from parcelwatch.service.eventtime import SystemClock
    from parcelwatch.service.handlers import WaybillHandler, partition_of
    from parcelwatch.service.settings import ServiceSettings, Topics
    from parcelwatch.service.ticks import TickSource

    sent: list[tuple[bytes, int | None]] = []

    async def send(key: bytes, value: bytes, partition: int | None = None) -> None:
        sent.append((key, partition))

    def handler(table):
        ticks = TickSource(lambda: 2**62, send)  # every deadline is due
        topics = Topics.from_settings(ServiceSettings())
        ctx = RuleContext.create(default_network)
        return WaybillHandler(ctx, topics, SystemClock(), ticks, table, partitions=4), ticks

    key = ORDER["waybill_no"].encode()
    elsewhere = (partition_of(key, 4) + 1) % 4  # where a murmur2 producer would not put it
    order = {**ORDER, "created_at": datetime.now(UTC).isoformat()}
    table: dict[bytes, bytes] = {}
    first, ticks = handler(table)
    first.handle(first.topics.waybills, elsewhere, key, json.dumps(order).encode())
    asyncio.run(ticks.fire())
    assert sent == [(key, elsewhere)]  # PICKUP_OVERDUE's deadline

    restarted, ticks = handler(table)  # a new worker, the same table
    for stored_key, value in table.items():
        restarted.restored(stored_key, value)
    asyncio.run(ticks.fire())
    assert sent[-1] == (key, elsewhere)
    assert restarted.open == {} and len(sent) == 2


@pytest.mark.parametrize(
    ("stamp", "applied_at"),
    [(None, "order"), ("order+1h", "order+1h"), ("order+100d", "order"), ("order-1h", "order")],
)
def test_an_order_is_applied_at_its_arrival_stamp_unless_the_guard_refuses_it(
    default_network, stamp, applied_at
):
    """The stamp `produce` puts on a late record moves it to when it arrived; a stamp
    from the past changes nothing, and one a record's time could not be (past the clock
    guard's jump) is hostile input and ignored: it must not move any parcel's time."""
    from parcelwatch.detection.codec import load_waybill

    hour = 3600 * 1_000_000
    times = {
        "order": _us(ORDER),
        "order+1h": _us(ORDER) + hour,
        "order+100d": _us(ORDER) + 2400 * hour,
        "order-1h": _us(ORDER) - hour,
    }
    harness = Harness(default_network, idle_s=3600)
    w, t = harness.waybills, harness.topics
    w.handle(t.waybills, 0, KEY, _raw(ORDER), times.get(stamp))
    assert load_waybill(w.table[KEY]).clock == times[applied_at]


def test_a_tick_read_before_this_workers_clock_got_there_waits_for_it(default_network):
    """After a fail-over the new owner reads the dead worker's ticks, which it sent once
    *its* clock had passed them, perhaps before the state of the scans it had read
    reached the changelog. The new owner reads those scans again: a tick fired before
    they are back would open a stall on a state that lacks them. It waits for this
    worker's own clock, and the deadline fires then, once."""
    from parcelwatch.detection.codec import stored_schedule
    from parcelwatch.detection.context import RuleContext
    from parcelwatch.service.eventtime import WatermarkClock
    from parcelwatch.service.handlers import WaybillHandler
    from parcelwatch.service.settings import ServiceSettings, Topics
    from parcelwatch.service.ticks import TickSource
    from parcelwatch.service.wire import encode_tick

    sent: list[tuple[bytes, bytes, int | None]] = []

    async def send(key: bytes, value: bytes, partition: int | None = None) -> None:
        sent.append((key, value, partition))

    now: list[int | None] = [None]  # this worker has not read its inputs yet
    ticks = TickSource(lambda: now[0], send)
    topics = Topics.from_settings(ServiceSettings())
    ctx = RuleContext.create(default_network)
    table: dict[bytes, bytes] = {}
    handler = WaybillHandler(ctx, topics, WatermarkClock(), ticks, table, partitions=4)
    key = ORDER["waybill_no"].encode()
    handler.handle(topics.waybills, 2, key, json.dumps(ORDER).encode())
    deadline, partition = stored_schedule(table[key])
    assert deadline is not None and partition == 2
    before = dict(table)

    out = handler.handle(topics.waybill_ticks, 2, key, encode_tick(deadline))
    assert out == [] and table == before  # nothing fired on another worker's say-so
    assert asyncio.run(ticks.fire()) == 0  # scheduled again, not due here yet
    now[0] = deadline
    assert asyncio.run(ticks.fire()) == 1 and sent == [(key, encode_tick(deadline), 2)]
    out = handler.handle(topics.waybill_ticks, 2, key, encode_tick(deadline))
    opened = [json.loads(v) for topic, _, v in out if topic == topics.exceptions]
    assert [(r["type"], r["status"]) for r in opened] == [("PICKUP_OVERDUE", "OPEN")]


def test_keys_of_the_older_table_layout_are_skipped_in_recovery(default_network):
    """Before the held inputs and fleet copies had tables of their own they were keys
    of waybill-state with a NUL in them: a worker restoring such a changelog must not
    die on them, nor take them for parcels."""
    harness = Harness(default_network)
    w = harness.waybills
    w.restored(b"W1\x00held", json.dumps([["scans", 0, "{}", 1]]).encode())
    w.restored(b"\x00fleet\x000\x00T1", b"[]")
    assert w.waiting == {} and w.open == {} and w.riders == {} and len(w.ticks) == 0


def test_inputs_set_aside_move_the_watermark_only_once_the_worker_stands_past_them(
    default_network,
):
    """After a restart the partitions are read again from the group's commit. An input
    set aside before it says the partition was read that far; one set aside after it
    says so only once it has been read again, with earlier records before it, which a
    deadline must not pass."""
    harness = Harness(default_network, idle_s=3600)
    harness._assign()
    w, t = harness.waybills, harness.topics
    position: dict[tuple[str, int], int] = {}  # unknown until the consumer has sought
    w.position = position.get
    early, late = _us(PICKUP), _us(LATE)
    held = [
        [t.scans, 0, _raw(PICKUP).decode(), early, 5],
        [t.scans, 0, _raw(LATE).decode(), late, 12],
    ]
    w.restored_held(KEY, json.dumps(held).encode())
    assert w.waiting == {KEY: early}
    assert not harness.clock.reached((t.scans,), early)  # nothing known yet
    position[(t.scans, 0)] = 10  # sought to the commit
    w.settle_restored()
    assert harness.clock.reached((t.scans,), early)  # offset 5: committed past it
    assert not harness.clock.reached((t.scans,), early + 1)  # offset 12: to be read again
    position[(t.scans, 0)] = 13  # read again
    w.settle_restored()
    assert harness.clock.reached((t.scans,), late)
