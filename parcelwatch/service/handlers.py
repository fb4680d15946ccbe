"""What the live agents do with one message, without Faust: decode at the edge, load the
key's state from the table, run the core, store the state, and say what to send where.
The Faust agents (parcelwatch/service/app.py) are thin loops around these."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, MutableMapping
from datetime import UTC, datetime

import orjson
import structlog
from kafka.partitioner.default import murmur2

from parcelwatch.clock import to_us
from parcelwatch.detection.codec import (
    dump_facts,
    dump_vehicle,
    dump_waybill,
    load_facts,
    load_stored_vehicle,
    load_stored_waybill,
    load_vehicle,
    load_waybill,
    stored_schedule,
)
from parcelwatch.detection.context import RuleContext
from parcelwatch.detection.fleet import Riders, condition_at, remember
from parcelwatch.detection.guard import ClockGuard, record_time
from parcelwatch.detection.state import VehicleFact, WaybillState
from parcelwatch.detection.vehicles import VehicleProcessor
from parcelwatch.detection.waybills import WaybillProcessor, WaybillStep
from parcelwatch.edge.intake import InvalidRecord, check_key, dead_letter, decode
from parcelwatch.schemas import GpsBatch, GpsPing, Scan, Waybill, to_json
from parcelwatch.service.eventtime import LiveClock, Mark, wall_us
from parcelwatch.service.logs import bind, mask
from parcelwatch.service.metrics import Metrics
from parcelwatch.service.settings import Topics
from parcelwatch.service.ticks import TickSource
from parcelwatch.service.wire import decode_fact, decode_marks, decode_tick, encode_fact

log = structlog.get_logger(__name__)

Send = tuple[str, bytes, bytes]
"""(topic name, key, value) to produce."""


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the Java (murmur2) partitioner gives `key`: only for state stored
    by an older version, without the partition its records arrived on."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class _Base:
    def __init__(
        self,
        ctx: RuleContext,
        topics: Topics,
        clock: LiveClock,
        ticks: TickSource,
        table: MutableMapping[bytes, bytes],
        metrics: Metrics | None = None,
        partitions: int = 1,
    ) -> None:
        self.ctx = ctx
        self.topics = topics
        self.clock = clock
        self.ticks = ticks
        self.table = table
        self.metrics = metrics or Metrics()
        self.partitions = partitions
        self._output_topics = {
            "exceptions": topics.exceptions,
            "tickets": topics.tickets,
            "notifications": topics.notifications,
        }
        self._bad: dict[tuple[str, str], int] = {}
        self.guard = ClockGuard(ctx.settings)

    def _admit_time(self, *times: int) -> None:
        """Raise InvalidRecord for an input dated too far ahead (CONTRACT §7): of this
        worker's event clock (`clock_jump`), or of the wall clock (`future`). Several
        times: inputs applied one after another (a GPS batch's pings)."""
        self.clock.admit(self.guard, list(times))

    key_name = "key"
    """What the key is, in log lines (waybill_no, vehicle_id)."""

    def _owner(self, key: bytes, stored: int | None) -> int:
        """The partition a restored key belongs to: stored with its state, else (state
        of an older version) the murmur2 partitioner's."""
        return stored if stored is not None else partition_of(key, self.partitions)

    def handle(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        raw: bytes,
        arrival: int | None = None,
        offset: int | None = None,
    ) -> list[Send]:
        """Process one record; `arrival`: its arrival stamp (ARRIVAL_HEADER), if any;
        `offset`: where it is on its partition, if known."""
        raise NotImplementedError

    def _arrived(self, arrival: int | None, when: int) -> int:
        """The time an input is applied at (see LiveClock.applied_at)."""
        return self.clock.applied_at(self.guard, arrival, when)

    def handle_safely(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        raw: bytes | None,
        arrival: int | None = None,
        offset: int | None = None,
    ) -> list[Send]:
        """`handle`, but a failure (a bug, not bad data: that is a dead letter already)
        never stops the stream: the record goes to dead letters with the error, and the
        log has the traceback with the key."""
        if raw is None:
            return [self._tombstone(topic, key)]
        try:
            return self.handle(topic, partition, key, raw, arrival, offset)
        except Exception as exc:
            ident = key.decode("utf-8", "replace")[:200] if key else None
            with bind(**{self.key_name: ident}):
                log.exception("processing failed; the record goes to dead letters", topic=topic)
            error = InvalidRecord("internal_error", f"{type(exc).__name__}: {exc}")
            return [self._dead_letter(topic, key, raw, error)]

    def _unkeyed_tick(self, topic: str, raw: bytes) -> list[Send]:
        """A record without a key on a ticks topic: never ours (every tick is keyed by
        its waybill or vehicle), and nothing to apply it to."""
        return [self._dead_letter(topic, None, raw, InvalidRecord("no_key", "a tick has no key"))]

    def _tombstone(self, topic: str, key: bytes | None) -> Send:
        """A record with no value: nothing to process, but not nothing to report."""
        return self._dead_letter(topic, key, b"", InvalidRecord("tombstone", "no value"))

    def _dead_letter(self, topic: str, key: bytes | None, raw: bytes, exc: InvalidRecord) -> Send:
        logical = self.topics.inputs.get(topic, topic)
        self.metrics.dead_letter(logical, exc.reason)
        seen = self._bad[(logical, exc.reason)] = self._bad.get((logical, exc.reason), 0) + 1
        if seen & (seen - 1) == 0 or seen % 10_000 == 0:  # 1, 2, 4, …: a flood logs little
            log.warning(
                "dead letter",
                topic=logical,
                reason=exc.reason,
                count=seen,
                key=mask(key.decode("utf-8", "replace")[:200]) if key else None,
                error=mask(str(exc)[:300]),
            )
        letter = dead_letter(
            topic,
            raw,
            f"{exc.reason}: {exc}",
            datetime.fromtimestamp(wall_us() / 1e6, tz=UTC),
            key=key.decode("utf-8", "replace")[:200] if key is not None else None,
        )
        return (self.topics.dead_letters, key or b"", to_json(letter))


class WaybillHandler(_Base):
    """Orders, scans, vehicle facts and ticks, keyed by waybill_no.

    Orders and scans go through `parse` and `apply`; on the event clock `apply` sets a
    scan aside (in the table) until the vehicle side has published every fact up to its
    time, and a later tick releases it. Facts, marks and ticks go through `handle`."""

    key_name = "waybill_no"

    def __init__(
        self,
        ctx: RuleContext,
        topics: Topics,
        clock: LiveClock,
        ticks: TickSource,
        table: MutableMapping[bytes, bytes],
        metrics: Metrics | None = None,
        partitions: int = 1,
        *,
        held: MutableMapping[bytes, bytes] | None = None,
        fleet: MutableMapping[bytes, bytes] | None = None,
        position: Callable[[tuple[str, int]], int | None] = lambda source: None,
    ) -> None:
        super().__init__(ctx, topics, clock, ticks, table, metrics, partitions)
        self.side = WaybillProcessor(ctx)
        self.held: MutableMapping[bytes, bytes] = {} if held is None else held
        """waybill_no -> its inputs set aside until the vehicle side has caught up."""
        self.position = position
        """The next offset this worker processes on an input partition (None: unknown)."""
        self._unsettled: list[tuple[tuple[str, int], int, int]] = []
        """Inputs restored aside, (source, offset, time), not yet behind the position."""
        self.fleet: MutableMapping[bytes, bytes] = {} if fleet is None else fleet
        """(partition, NUL, vehicle_id) -> the vehicle's recent facts: one copy per
        partition, because the facts are read on every partition of the facts topic and
        each partition's copy moves with it in a rebalance."""
        # key -> (partition, ((type, facility), ...)) of its open episodes: the open
        # exceptions gauges, without reading the table.
        self.open: dict[bytes, tuple[int, tuple[tuple[str, str | None], ...]]] = {}
        # partition -> which of its parcels ride which vehicle (rebuilt from the states
        # after a restart: a state knows its vehicle).
        self.riders: dict[int, Riders] = {}
        # key -> event time of its first input set aside (the inputs are in the table).
        # They go in arrival order, each at the key's time, which never goes back: no
        # output of theirs comes before the first one's time, whatever the later ones'.
        self.waiting: dict[bytes, int] = {}
        self._legacy = 0  # keys of an older layout met in recovery
        self.aside: dict[bytes, tuple[int, float]] = {}
        """key -> (its partition, monotonic time its first input still aside was set
        aside or restored): how long the event clock has kept it waiting."""

    def parse(self, topic: str, key: bytes | None, raw: bytes) -> Waybill | Scan | list[Send]:
        """The record, or its dead letter (undecodable, invalid, or not keyed by its
        waybill_no)."""
        logical = "waybills" if topic == self.topics.waybills else "scans"
        try:
            record = decode(logical, raw, self.ctx.network)
            assert isinstance(record, Waybill | Scan)  # what decode gives for these topics
            check_key(record, key)
        except InvalidRecord as exc:
            return [self._dead_letter(topic, key, raw, exc)]
        return record

    def apply(
        self,
        topic: str,
        partition: int,
        record: Waybill | Scan,
        raw: bytes,
        when: int,
        offset: int | None = None,
    ) -> list[Send]:
        """Process an order or scan at `when` (its time, or its arrival if later), or set
        it aside until it may be (event clock), with its `offset` (see `restored_held`)."""
        key = record.waybill_no.encode()
        if not self.clock.in_order:
            return self._process(topic, partition, key, record, raw, when)
        held = orjson.loads(self.held.get(key) or b"[]") if key in self.waiting else []
        # Scans stay in arrival order (replay's); an order comes on a topic of its own,
        # whose order against the scans topic means nothing: it goes by its time, before
        # the scans set aside that come after it.
        at = len(held)
        if isinstance(record, Waybill):
            at = next((i for i, item in enumerate(held) if _aside(item)[3] > when), at)
        if at == 0 and self._ready(topic, when):
            return self._process(topic, partition, key, record, raw, when)
        # Set aside in the table (changelogged: a restart keeps it). The partition has
        # been read this far: its watermark moves on, and this key's ticks stop before
        # its first input set aside.
        self.clock.observe((topic, partition), when)
        held.insert(at, [topic, partition, raw.decode(), when, offset])
        self.held[key] = orjson.dumps(held)
        if at == 0:
            self.waiting[key] = when
            self.ticks.no_later(key.decode(), when, partition)
        self.aside.setdefault(key, (partition, time.monotonic()))
        return []

    def _ready(self, topic: str, when: int) -> bool:
        """Whether an input of `topic` may be applied at `when`: once the other input
        topic has been read that far, and for a scan once the vehicle side has published
        every fact up to then."""
        t, clock = self.topics, self.clock
        if topic == t.waybills:
            return clock.reached((t.scans,), when)
        return clock.reached((t.waybills,), when) and clock.upstream_reached(t.facts, when)

    def _process(
        self, topic: str, partition: int, key: bytes, record: Waybill | Scan, raw: bytes, when: int
    ) -> list[Send]:
        data = self.table.get(key)
        w = load_waybill(data) if data is not None else None
        at = record_time(record)
        if isinstance(record, Waybill):
            step = self.side.register(w, record, self.clock.observe((topic, partition), when))
            return self._store(key, step, partition, at)
        try:
            admitted = self.side.admit(w, record, at)  # before it moves any clock
        except InvalidRecord as exc:
            return [self._dead_letter(topic, key, raw, exc)]
        now = self.clock.observe((topic, partition), when)
        if admitted is None:
            return []  # a redelivery changes nothing
        step = self.side.scan(w, record, now, admitted, at)
        out = self._store(key, step, partition, at)
        for change in step.manifest:
            out += self._board(partition, change, step.state, now, topic, raw)
        return out

    def _board(
        self, partition: int, change, w: WaybillState, now: int, topic: str, raw: bytes
    ) -> list[Send]:
        """The partition's index of riders follows a boarding or a leaving; a parcel
        boarding (its state `w`, just stored) is told the vehicle's condition then and
        every fact since."""
        riders = self._riders(partition)
        if not change.on:
            riders.leave(change.vehicle_id, change.waybill_no)
            return []
        refusal = riders.board(change.vehicle_id, change.waybill_no)
        if refusal is not None:  # the scan stands; the parcel is not indexed on it
            return [self._dead_letter(topic, change.waybill_no.encode(), raw, refusal)]
        out: list[Send] = []
        for fact in condition_at(self._facts(partition, change.vehicle_id), change.at):
            out += self._tell(partition, change.waybill_no.encode(), fact, now, w)
        return out

    def _riders(self, partition: int) -> Riders:
        riders = self.riders.get(partition)
        if riders is None:
            cap = self.ctx.settings.max_parcels_per_vehicle
            riders = self.riders[partition] = Riders(cap)
        return riders

    @staticmethod
    def _fleet_key(partition: int, vehicle_id: str) -> bytes:
        return b"%d\x00%s" % (partition, vehicle_id.encode())

    def _facts(self, partition: int, vehicle_id: str) -> list[VehicleFact] | None:
        data = self.fleet.get(self._fleet_key(partition, vehicle_id))
        return load_facts(data) if data is not None else None

    def _fact(self, partition: int, fact: VehicleFact) -> list[Send]:
        """A fact read on `partition`: remembered there, and told to its riders there."""
        history = remember(self._facts(partition, fact.vehicle_id), fact)
        if history is None:
            return []  # known already: a redelivery
        self.fleet[self._fleet_key(partition, fact.vehicle_id)] = dump_facts(history)
        out: list[Send] = []
        for waybill_no in self._riders(partition).on(fact.vehicle_id):
            out += self._tell(partition, waybill_no.encode(), fact, None)
        return out

    def _tell(
        self,
        partition: int,
        key: bytes,
        fact: VehicleFact,
        now: int | None,
        w: WaybillState | None = None,
    ) -> list[Send]:
        """Apply a fact to a rider: its state `w` if the caller has it in hand (the fact
        moves it on in place), else read from the table."""
        if w is None:
            data = self.table.get(key)
            w = load_waybill(data) if data is not None else None
        if now is None:
            now = self.clock.for_key(w.clock if w is not None else None, fact.at)
        step = self.side.vehicle_fact(w, fact, now)
        return [] if step is None else self._store(key, step, partition, fact.at)

    def handle(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        raw: bytes,
        arrival: int | None = None,
        offset: int | None = None,
    ) -> list[Send]:
        t = self.topics
        if topic == t.waybill_ticks:
            if key is None:
                return self._unkeyed_tick(topic, raw)
            return self._tick(key, partition, decode_tick(raw))
        if topic == t.facts:
            marks = decode_marks(raw)
            if marks is not None:
                self.clock.mark((topic, partition), *marks)
                return []
            return self._fact(partition, decode_fact(raw))
        record = self.parse(topic, key, raw)
        if isinstance(record, list):
            return record
        at = record_time(record)
        try:
            self._admit_time(at)
        except InvalidRecord as exc:
            return [self._dead_letter(topic, key, raw, exc)]
        scan_type = record.scan_type.value if isinstance(record, Scan) else ""
        self.metrics.input(self.topics.inputs.get(topic, topic), scan_type)
        return self.apply(topic, partition, record, raw, self._arrived(arrival, at), offset)

    def _tick(self, key: bytes, partition: int, deadline: int) -> list[Send]:
        out = self._release(key) if key in self.waiting else []
        if not self.ticks.reached(deadline, partition):  # (TickSource.reached)
            self.track(key, self.table.get(key))
            return out
        due = self.clock.for_tick(deadline)
        if due > self.waiting.get(key, due):
            # Nothing fires past an input still set aside: a tick sent before the vehicle
            # side's marks went back (its partitions moved to another worker) can come
            # after they did.
            self.track(key, self.table.get(key))
            return out
        data = self.table.get(key)
        if data is None:
            return out
        step = self.side.tick(load_waybill(data), due)
        return out + self._store(key, step, partition, deadline)

    def _release(self, key: bytes) -> list[Send]:
        """Process what was set aside for `key` and may go now, in order; the rest (from
        the first that still must wait) stays aside."""
        out: list[Send] = []
        held = orjson.loads(self.held.get(key) or b"[]")
        rest: list[list] = []
        for i, item in enumerate(held):
            topic, partition, raw, when = _aside(item)
            if not self._ready(topic, when):
                # It and everything after it stay aside, unread: only the first can go
                # next, so decoding the others on every release is wasted (a parcel on
                # a truck read far ahead holds hundreds).
                self.waiting[key] = when
                rest = held[i:]
                break
            record = self.parse(topic, key, raw.encode())
            if isinstance(record, list):
                continue  # cannot happen: it was parsed before it was set aside
            out += self._process(topic, partition, key, record, raw.encode(), when)
        if rest:
            self.held[key] = orjson.dumps(rest)
        else:
            self.held.pop(key, None)
            self.waiting.pop(key, None)
            self.aside.pop(key, None)
        self.track(key, self.table.get(key))
        return out

    def track(self, key: bytes, data: bytes | None) -> None:
        """Schedule the key's next tick from its stored state `data`."""
        self._schedule(key, *(stored_schedule(data) if data is not None else (None, None)))

    def _schedule(self, key: bytes, deadline: int | None, partition: int | None) -> None:
        """The key's next tick: its state's deadline, or its first input set aside."""
        aside = self.waiting.get(key)
        if aside is not None and (deadline is None or aside < deadline):
            deadline = aside
        self.ticks.track(key.decode(), deadline, partition)

    def restored_held(self, key: bytes, value: bytes) -> None:
        """After a restart or a rebalance: rebuild the index of inputs set aside (the
        next tick releases what may go), and note where each was read: the watermark
        learns of it in `settle_restored`, which the waybill ticks' timer calls (here
        the consumer has not sought to the group's commit yet, so nothing could settle,
        and a call per key would scan every key restored so far)."""
        first = True
        for item in orjson.loads(value):
            topic, partition, _, when = _aside(item)
            if first:
                self.waiting[key] = when
                self.aside.setdefault(key, (partition, time.monotonic()))
                self.track(key, self.table.get(key))
                first = False
            offset = item[4] if len(item) > 4 else None
            if offset is None:  # (set aside where offsets are not known: the harness)
                self.clock.restore((topic, partition), when)
            else:
                self._unsettled.append(((topic, partition), offset, when))

    def settle_restored(self) -> None:
        """Inputs set aside before a restart move the watermark once this worker stands
        past them on their partition: at once for those before the group's commit (known
        only once the consumer has sought there, after the recovery), as they are read
        again for the others. Not before: records after the commit come again, earlier
        ones among them, and a deadline fired past them would run on a state without
        them (a DELAYED opened for a parcel delivered before it)."""
        if not self._unsettled:
            return
        waiting = []
        for source, offset, when in self._unsettled:
            position = self.position(source)
            if position is not None and offset < position:
                self.clock.restore(source, when)
            else:
                waiting.append((source, offset, when))
        self._unsettled = waiting

    def restored(self, key: bytes, value: bytes) -> None:
        """After recovery or a rebalance: a key's state read back from the table."""
        if b"\x00" in key:  # no waybill_no has a NUL: an older version's held or fleet key
            self._legacy += 1
            if self._legacy == 1:
                log.warning(
                    "waybill-state holds keys of an older version (inputs set aside, vehicle "
                    "facts): ignored; drain the event clock's backlog before upgrading"
                )
            return
        state, stored = load_stored_waybill(value)
        partition = self._owner(key, stored)
        self._schedule(key, state.deadline, stored)
        self._index(key, partition, state.episodes)
        if state.clock is not None:
            self.clock.restored_time((self.topics.scans, partition), state.clock)
        if state.vehicle is not None:
            self._riders(partition).board(state.vehicle, state.waybill_no)

    def oldest_aside_s(self, now: float) -> float:
        """Seconds the longest-waiting parcel has had inputs set aside (0: none)."""
        return max((now - since for _, since in list(self.aside.values())), default=0.0)

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions revoked: their parcels are another worker's now."""
        gone = set(partitions)
        self.open = _without(self.open, gone)
        for partition in gone:
            self.riders.pop(partition, None)
        for key in [k for k, (p, _) in self.aside.items() if p in gone]:
            del self.aside[key]
            self.waiting.pop(key, None)  # restored with the table if it comes back

    def _index(self, key: bytes, partition: int, episodes: dict | None) -> None:
        if episodes:
            self.open[key] = (partition, tuple((e.type, e.facility) for e in episodes.values()))
        else:
            self.open.pop(key, None)

    def _store(self, key: bytes, step: WaybillStep, partition: int, due: int | None) -> list[Send]:
        """Write the state, queue its records (`due`: when what this step detects became
        due, for the detection delay on the wall clock) and schedule its next tick."""
        out: list[Send] = []
        names = self._output_topics
        now = self.clock.detected_at()
        for logical, record in step.outputs:
            out.append((names[logical], key, to_json(record)))
            self.metrics.output(record, due, now)
        if step.gone:  # finished long ago: a tombstone, and the compacted changelog forgets
            self.table.pop(key, None)
            self._index(key, partition, None)
            self._schedule(key, None, partition)
            return out
        self.table[key] = dump_waybill(step.state, partition)
        self._index(key, partition, step.state.episodes)
        self._schedule(key, step.state.deadline, partition)
        return out


def _aside(item: list) -> tuple[str, int, str, int]:
    """(topic, partition, raw value, time to apply it at) of an input set aside; one set
    aside by an older version has no time: its own."""
    if len(item) >= 4:
        return item[0], item[1], item[2], item[3]
    topic, partition, raw = item
    value = orjson.loads(raw)
    stamp = value["created_at"] if "created_at" in value else value["event_time"]
    return topic, partition, raw, to_us(datetime.fromisoformat(stamp))


def _without(index: dict, partitions: Iterable[int]) -> dict:
    """`index` (key -> (partition, …)) without the keys of `partitions`."""
    gone = set(partitions)
    return {k: v for k, v in index.items() if v[0] not in gone}


class VehicleHandler(_Base):
    """GPS pings and ticks, keyed by vehicle_id. Publishes facts, never reads anything
    from the waybill side."""

    key_name = "vehicle_id"

    def __init__(
        self,
        ctx: RuleContext,
        topics: Topics,
        clock: LiveClock,
        ticks: TickSource,
        table: MutableMapping[bytes, bytes],
        metrics: Metrics | None = None,
        partitions: int = 1,
    ) -> None:
        super().__init__(ctx, topics, clock, ticks, table, metrics, partitions)
        self.side = VehicleProcessor(ctx)
        # vehicle_id -> (partition, condition): the vehicles-by-condition gauge.
        self.conditions: dict[str, tuple[int, str]] = {}

    def handle(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        raw: bytes,
        arrival: int | None = None,
        offset: int | None = None,
    ) -> list[Send]:
        if topic != self.topics.vehicle_ticks:
            return self.handle_pings(partition, key, [(raw, arrival)])
        if key is None:
            return self._unkeyed_tick(topic, raw)
        data = self.table.get(key)
        if data is None:
            return []
        deadline = decode_tick(raw)
        if not self.ticks.reached(deadline, partition):  # (TickSource.reached)
            state, _ = load_stored_vehicle(data)
            self.ticks.track(state.vehicle_id, state.deadline, partition)
            return []
        step = self.side.tick(load_vehicle(data), self.clock.for_tick(deadline))
        if step.gone:  # silent for long: a tombstone, and the compacted changelog forgets
            self.table.pop(key, None)
            self.ticks.track(step.state.vehicle_id, None, partition)
            self.conditions.pop(step.state.vehicle_id, None)
            return []
        return self._store(key, step.state, partition, step.facts)

    def handle_pings(
        self, partition: int, key: bytes | None, records: list[tuple[bytes | None, int | None]]
    ) -> list[Send]:
        """One vehicle's GPS records of a micro-batch, in arrival order, as (value,
        arrival stamp): its state is read and decoded once and written once, however many
        it got. Each record is still checked, refused and applied on its own, so one bad
        record changes nothing for the others."""
        topic = self.topics.gps
        out: list[Send] = []
        facts: list[VehicleFact] = []
        v = None
        owned: bytes | None = None  # the key, once a record has shown it is right
        loaded = False
        for raw, arrival in records:
            if raw is None:
                out.append(self._tombstone(topic, key))
                continue
            try:
                record = decode("gps", raw, self.ctx.network)
                assert isinstance(record, GpsPing | GpsBatch)
                owned = check_key(record, key)
                pings = record.as_pings() if isinstance(record, GpsBatch) else [record]
                times = [to_us(p.event_time) for p in pings]
                self._admit_time(*times)  # a batch is refused whole
            except InvalidRecord as exc:
                out.append(self._dead_letter(topic, key, raw, exc))
                continue
            self.metrics.input("gps")
            if not loaded:
                data = self.table.get(owned)
                v = load_vehicle(data) if data is not None else None
                loaded = True
            when = self._arrived(arrival, times[0])
            for ping, at in zip(pings, times, strict=True):  # one by one, in time order
                when = max(when, at)  # replay's clock moves on with each ping
                step = self.side.ping(v, ping, self.clock.observe((topic, partition), when), at)
                v = step.state
                facts += step.facts
        if v is None or owned is None:
            return out
        return out + self._store(owned, v, partition, facts)

    def handle_pings_safely(
        self, partition: int, key: bytes | None, records: list[tuple[bytes | None, int | None]]
    ) -> list[Send]:
        """`handle_pings`; after a failure (a bug) each record goes again on its own, so
        only the one that fails is a dead letter (see `handle_safely`)."""
        try:
            return self.handle_pings(partition, key, records)
        except Exception:
            gps = self.topics.gps
            return [
                x
                for raw, stamp in records
                for x in self.handle_safely(gps, partition, key, raw, stamp)
            ]

    def _store(self, key: bytes, state, partition: int, facts: list[VehicleFact]) -> list[Send]:
        self.table[key] = dump_vehicle(state, partition)
        self.ticks.track(state.vehicle_id, state.deadline, partition)
        self.conditions[state.vehicle_id] = (partition, state.status)
        return [(self.topics.facts, state.vehicle_id.encode(), encode_fact(f)) for f in facts]

    def restored(self, key: bytes, value: bytes) -> None:
        """After recovery or a rebalance: a vehicle's state read back from the table."""
        state, partition = load_stored_vehicle(value)
        self.ticks.track(state.vehicle_id, state.deadline, partition)
        owner = self._owner(key, partition)
        self.conditions[state.vehicle_id] = (owner, state.status)
        if state.clock is not None:
            self.clock.restored_time((self.topics.gps, owner), state.clock)

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions revoked: their vehicles are another worker's now."""
        self.conditions = _without(self.conditions, partitions)

    def marks(self) -> list[Mark]:
        """This side's progress for the facts topic (see WatermarkClock.marks): before its
        earliest deadline not yet fired, which replay fires before any input at its time."""
        horizon = self.ticks.horizon()
        return self.clock.marks(self.topics.gps, None if horizon is None else horizon - 1)
