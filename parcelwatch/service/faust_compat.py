"""Every reach into Faust's and aiokafka's private attributes, in one place.

Each one fills a gap in their public API that the worker cannot do without. They are
pinned by tests/service/test_faust_compat.py, which fails (not warns) when an upgrade
moves one: the worker itself degrades as each function's docstring says instead of
stopping, since a missing tweak must not take the pipeline down.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import TP


def committed_offset(app: faust.App, topic: str, partition: int) -> int | None:
    """The offset the consumer group's last commit left on a partition, as Faust keeps
    it after seeking there (privately). None: unknown (not assigned, or Faust moved it)."""
    consumer: Any = app.consumer
    offsets = getattr(consumer, "_committed_offset", None)
    return None if offsets is None else offsets.get(TP(topic, partition))


def commit_only_processed(app: faust.App, processed: Callable[[TP], int | None]) -> bool:
    """Make the consumer commit, for each partition, exactly `processed(tp)`: the next
    offset after the records whose outputs and table writes the broker has. Faust
    commits the offsets it counts as acked, and that count runs ahead of what was
    processed: `take_events` acks a whole batch, records held back past a hole
    included, and the consumer marks the records it dropped around a rebalance as a
    gap to commit past. A commit past an unprocessed record loses it at the next
    `kill -9`. Faust's own bookkeeping still runs, so its lists of acks stay trimmed.
    False: this Faust has moved `_new_offset`, and its own offsets are committed."""
    consumer: Any = app.consumer
    original = getattr(type(consumer), "_new_offset", None)
    if original is None:
        return False

    def new_offset(tp: TP) -> int | None:
        original(consumer, tp)
        return processed(tp)

    consumer._new_offset = new_offset
    return True


def flow_active(app: faust.App) -> bool:
    """Whether the consumer delivers records (Faust stops its flow around a rebalance)."""
    consumer: Any = app.consumer
    return bool(consumer.flow_active)


def set_fetch_max_wait(app: faust.App, ms: int) -> bool:
    """Set how long a fetch waits at the broker on the running aiokafka consumer (Faust
    fixes it at 1.5 s and has no setting). False: this Faust or aiokafka has moved it,
    and its default stays."""
    consumer: Any = app.consumer
    try:
        consumer._thread._ensure_consumer()._fetcher._fetch_max_wait_ms = ms
    except AttributeError:
        return False
    return True


def set_current_event(event: faust.types.EventT | None) -> None:
    """Make `event` the one Faust's tables take as current (None: none). A table write
    goes to the changelog partition of the current event, and RocksDB reads from that
    partition's store; inside a batch from take_events there is none (faust issue #497)."""
    _current_event.set(weakref.ref(event) if event is not None else None)


def rocksdb_key_estimate(table: faust.types.TableT) -> int | None:
    """RocksDB's estimate of a table's keys over its partitions' stores; None for a
    store that is not RocksDB (or a Faust that keeps its stores elsewhere)."""
    data: Any = table.data
    dbs = getattr(data, "_dbs", None)
    if dbs is None:
        return None
    return sum(db.property_int_value("rocksdb.estimate-num-keys") or 0 for db in dbs.values())


def read_committed(app: faust.App) -> bool:
    """Make the worker's consumer read committed records only (exactly_once), without
    the rest of Faust's exactly_once mode: its commits, producers and `highwater`
    (the last stable offset, None before a partition's first fetch, which Faust's
    recovery takes for an empty changelog). aiokafka's consumer reads its isolation
    level when it starts, after Faust created it. False: this Faust or aiokafka has
    moved it, and nothing was changed."""
    consumer: Any = app.consumer
    thread = consumer._thread
    create = getattr(thread, "_create_worker_consumer", None)
    if create is None:
        return False

    def created(transport: Any) -> Any:
        consumer = create(transport)
        if not hasattr(consumer, "_isolation_level"):
            raise RuntimeError("aiokafka's consumer keeps its isolation level elsewhere")
        consumer._isolation_level = "read_committed"
        return consumer

    thread._create_worker_consumer = created
    return True


async def end_recovery_at_markers(app: faust.App, waiting: dict[TP, int]) -> list[TP]:
    """A changelog written in transactions ends with a commit marker, which is no
    record: Faust's recovery waits for an offset it never sees (its own fix runs only
    in its exactly_once mode). A partition read past its end, with nothing left in the
    recovery queue and nothing applied since the previous call (a record fetched may
    not have reached the queue yet: `waiting` remembers, per partition, the offset
    last seen so), is marked recovered; Faust ends recovery at its next check. Returns
    the partitions marked."""
    tables: Any = app.tables
    recovery = tables.recovery
    if not recovery.in_recovery or recovery.tables.changelog_queue.qsize():
        waiting.clear()
        return []
    marked = []
    for tp, high in list(recovery.active_highwaters.items()):
        offset = recovery.active_offsets.get(tp)
        if high is None or offset is None or offset >= high:
            waiting.pop(tp, None)
            continue
        position = await app.consumer.position(tp)
        if position is None or position <= high:
            waiting.pop(tp, None)
        elif waiting.get(tp) != offset:
            waiting[tp] = offset  # settled only if still so at the next call
        else:
            recovery.active_offsets[tp] = high
            del waiting[tp]
            marked.append(tp)
    return marked
