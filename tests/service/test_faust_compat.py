"""The private attributes of Faust and aiokafka that parcelwatch/service/faust_compat.py
reaches into: each test fails when an upgrade moves one, before a worker silently runs
without it."""

import asyncio
import inspect
from collections import Counter
from types import SimpleNamespace

import aiokafka.consumer.consumer as aiokafka_consumer
import aiokafka.consumer.fetcher as aiokafka_fetcher
import faust
import faust.transport.consumer as faust_consumer
from faust.stores import rocksdb
from faust.tables import recovery as recovery_module
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from parcelwatch.service import faust_compat


def test_the_consumer_keeps_committed_offsets_and_its_flow_state():
    source = inspect.getsource(faust_consumer.Consumer.__init__)
    assert "self._committed_offset" in source
    assert "flow_active" in inspect.getsource(faust_consumer.Consumer)
    app = SimpleNamespace(consumer=SimpleNamespace(_committed_offset={TP("t", 3): 42}))
    assert faust_compat.committed_offset(app, "t", 3) == 42
    assert faust_compat.committed_offset(app, "t", 4) is None


def test_the_fetch_wait_is_where_the_worker_sets_it():
    assert hasattr(faust_aiokafka.AIOKafkaConsumerThread, "_ensure_consumer")
    assert "self._fetcher = " in inspect.getsource(aiokafka_consumer.AIOKafkaConsumer)
    assert "self._fetch_max_wait_ms" in inspect.getsource(aiokafka_fetcher.Fetcher.__init__)
    fetcher = SimpleNamespace(_fetch_max_wait_ms=1500)
    thread = SimpleNamespace(_ensure_consumer=lambda: SimpleNamespace(_fetcher=fetcher))
    app = SimpleNamespace(consumer=SimpleNamespace(_thread=thread))
    assert faust_compat.set_fetch_max_wait(app, 50) is True
    assert fetcher._fetch_max_wait_ms == 50
    assert faust_compat.set_fetch_max_wait(SimpleNamespace(consumer=object()), 50) is False


def test_the_current_event_is_the_one_tables_write_for():
    class Event:  # weakly referenced, as Faust does
        pass

    event = Event()
    faust_compat.set_current_event(event)
    assert faust.current_event() is event
    faust_compat.set_current_event(None)
    assert faust.current_event() is None


def test_rocksdb_stores_keep_their_partitions_databases():
    assert "self._dbs" in inspect.getsource(rocksdb.Store.__init__)

    class Db:
        def property_int_value(self, name):
            assert name == "rocksdb.estimate-num-keys"
            return 7

    table = SimpleNamespace(data=SimpleNamespace(_dbs={0: Db(), 1: Db()}))
    assert faust_compat.rocksdb_key_estimate(table) == 14
    assert faust_compat.rocksdb_key_estimate(SimpleNamespace(data={})) is None


def test_commits_are_what_the_worker_processed_not_what_faust_acked():
    """Faust's consumer asks `_new_offset(tp)` what to commit, from its acks and gaps:
    the worker answers instead, with what it processed."""
    assert "self._new_offset(tp)" in inspect.getsource(
        faust_consumer.Consumer._filter_committable_offsets
    )
    asked = []

    class Consumer:
        def _new_offset(self, tp):
            asked.append(tp)
            return 100  # Faust's answer: acked (and gaps) up to 99

    consumer = Consumer()
    app = SimpleNamespace(consumer=consumer)
    processed = {TP("t", 0): 42}
    assert faust_compat.commit_only_processed(app, processed.get) is True
    assert consumer._new_offset(TP("t", 0)) == 42
    assert consumer._new_offset(TP("t", 1)) is None  # nothing processed: no commit
    assert asked == [TP("t", 0), TP("t", 1)]  # Faust's bookkeeping still ran
    assert (
        faust_compat.commit_only_processed(SimpleNamespace(consumer=object()), dict().get) is False
    )


def test_the_consumer_reads_committed_records_once_patched():
    """aiokafka reads the isolation level when the consumer starts, after Faust's
    thread created it with its own choice."""
    assert "self._create_worker_consumer(" in inspect.getsource(
        faust_aiokafka.AIOKafkaConsumerThread._create_consumer
    )
    assert "isolation_level=self._isolation_level" in inspect.getsource(
        aiokafka_consumer.AIOKafkaConsumer.start
    )

    class Thread:
        def _create_worker_consumer(self, transport):
            return SimpleNamespace(_isolation_level="read_uncommitted", transport=transport)

    thread = Thread()
    app = SimpleNamespace(consumer=SimpleNamespace(_thread=thread))
    assert faust_compat.read_committed(app) is True
    made = thread._create_worker_consumer("the transport")
    assert made._isolation_level == "read_committed" and made.transport == "the transport"
    assert (
        faust_compat.read_committed(SimpleNamespace(consumer=SimpleNamespace(_thread=1))) is False
    )


def test_a_recovery_waiting_for_a_commit_marker_is_ended():
    """The changelog's last offset (9) is a commit marker: the last record is at 8, and
    Faust's recovery waits for 9 until the position past it says there is none."""
    for name in ("active_highwaters", "active_offsets", "in_recovery"):
        assert f"self.{name}" in inspect.getsource(recovery_module.Recovery)
    assert "changelog_queue = self.tables.changelog_queue" in inspect.getsource(recovery_module)
    tp = TP("waybill-state-changelog", 0)
    queue: asyncio.Queue = asyncio.Queue()
    recovery = SimpleNamespace(
        in_recovery=True,
        tables=SimpleNamespace(changelog_queue=queue),
        active_highwaters=Counter({tp: 9}),
        active_offsets=Counter({tp: 8}),
    )
    positions = {tp: 9}

    async def position(tp):
        return positions[tp]

    app = SimpleNamespace(tables=SimpleNamespace(recovery=recovery), consumer=SimpleNamespace())
    app.consumer.position = position
    remaining = recovery_module.Recovery.active_remaining

    waiting: dict = {}

    def marked():
        return asyncio.run(faust_compat.end_recovery_at_markers(app, waiting))

    assert marked() == []  # 9 not read past yet
    positions[tp] = 10
    queue.put_nowait("an event not applied yet")
    assert marked() == []
    queue.get_nowait()
    assert marked() == []  # read past, nothing queued: settled only if still so next time
    recovery.active_offsets[tp] = 8  # unchanged
    assert marked() == [tp]
    assert remaining(recovery)[tp] == 0
