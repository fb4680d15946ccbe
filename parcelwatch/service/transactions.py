"""Exactly once: each micro-batch's outputs, table changes and input offsets committed
in one Kafka transaction, as Kafka Streams does (faust-streaming's own transactions put
the outputs outside them, faust#177, and are not used).

One transactional producer per side and partition number, `{app_id}-{side}-{p}`, as
Kafka Streams has one per task. The worker assigned partition p of a side starts its
producer, and starting it fences any earlier owner's: a zombie's next send fails, and
its open transaction is aborted at once (read_committed readers are not held back until
it times out). A batch's events are grouped by partition, and each group is handled
under its producer's lock: the two agents of a side share the side's table partitions,
and a transaction must never carry a change computed from another's uncommitted one.

The vehicle facts are in the vehicle side's transactions: a fact whose batch was
rolled back must not reach the waybill side, for the side's restarted run may decide
otherwise (a deadline tick and a ping can meet in another order). Their readers see a
commit marker between facts; watchdog.Gaps takes a hole as small as one marker per
producer for that. Not in a transaction: progress marks and deadline ticks, sent by
timers. A tick checks the state it finds and a mark only moves forward, so either may
come twice.

A worker's tables may be ahead of what was committed when it dies (a write is applied
in memory, and in RocksDB, as it is made): under exactly_once they are restored from
their changelogs, read committed, at every start (`wipe_local_tables`); and a
transaction that fails stops the worker rather than go on from state that is not what
the broker has.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition
from faust.types import EventT

from parcelwatch.service.settings import ServiceSettings, Topics

log = structlog.get_logger(__name__)

Key = tuple[str, int]
"""(side, partition number): one transactional producer each."""


@dataclass
class Transaction:
    """What one partition's share of a batch sends, and the offsets after its records."""

    side: str
    partition: int
    records: list[tuple[str, bytes | None, bytes | None, int | None]] = field(default_factory=list)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)

    def send(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None
    ) -> None:
        self.records.append((topic, key, value, partition))

    def consumed(self, events: Iterable[EventT]) -> None:
        for event in events:
            msg = event.message
            tp = TopicPartition(msg.topic, msg.partition)
            self.offsets[tp] = max(self.offsets.get(tp, 0), msg.offset + 1)


class TransactionFailed(RuntimeError):
    """A transaction could not be committed: the worker stops (see the module's text)."""


class Transactions:
    def __init__(
        self, app: faust.App, settings: ServiceSettings, topics: Topics, client: dict[str, Any]
    ) -> None:
        self._app = app
        self._group = settings.app_id  # the consumer group, and the producers' prefix
        self._client = client
        self._timeout_ms = int(settings.transaction_timeout_s * 1000)
        self._sides = {
            **dict.fromkeys(
                (*topics.waybill_inputs, topics.facts, topics.waybill_ticks), "waybill"
            ),
            **dict.fromkeys((topics.gps, topics.vehicle_ticks), "vehicle"),
        }
        self._producers: dict[Key, AIOKafkaProducer] = {}
        self._locks: dict[Key, asyncio.Lock] = {}
        self._open: dict[Key, Transaction] = {}

    def owned(self, tps: Iterable[Any]) -> set[Key]:
        """The (side, partition) keys of the input partitions among `tps`."""
        return {(self._sides[tp.topic], tp.partition) for tp in tps if tp.topic in self._sides}

    async def assigned(self, owned: set[Key]) -> None:
        """The partitions this worker owns now: producers started for new ones (fencing
        their previous owner), stopped for the ones gone."""
        for key in sorted(set(self._producers) - owned):
            async with self._lock(key):
                producer = self._producers.pop(key, None)
                if producer is not None:
                    await producer.stop()
        for key in sorted(owned - set(self._producers)):
            async with self._lock(key):
                await self._producer(key)

    def _lock(self, key: Key) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def _producer(self, key: Key) -> AIOKafkaProducer:
        """`key`'s producer, started if need be; called with its lock held (two started
        at once would fence each other)."""
        producer = self._producers.get(key)
        if producer is None:
            side, partition = key
            producer = AIOKafkaProducer(
                **self._client,
                transactional_id=f"{self._group}-{side}-{partition}",
                enable_idempotence=True,
                transaction_timeout_ms=self._timeout_ms,
                linger_ms=0,
            )
            await producer.start()  # InitProducerId: fences the previous owner's producer
            self._producers[key] = producer
        return producer

    def groups(self, events: Sequence[EventT]) -> dict[Key, list[EventT]]:
        """A batch's events by (side, partition): each group is one transaction."""
        out: dict[Key, list[EventT]] = {}
        for event in events:
            msg = event.message
            out.setdefault((self._sides[msg.topic], msg.partition), []).append(event)
        return out

    @asynccontextmanager
    async def batch(self, key: Key) -> AsyncIterator[Transaction]:
        """Hold `key`'s partition while its share of a batch is handled, then commit what
        it produced with its offsets. A failure stops the worker (TransactionFailed)."""
        async with self._lock(key):
            txn = Transaction(*key)
            self._open[key] = txn
            try:
                yield txn
            finally:
                del self._open[key]
            await self._commit(key, txn)

    def changelog(
        self, side: str, topic: str, partition: int, key: bytes | None, value: bytes | None
    ) -> None:
        """A table write: into the open transaction of its side and partition."""
        txn = self._open.get((side, partition))
        if txn is None:
            raise TransactionFailed(f"{topic}[{partition}] written outside a transaction")
        txn.send(topic, key, value, partition)

    async def _commit(self, key: Key, txn: Transaction) -> None:
        try:
            producer = await self._producer(key)
            async with producer.transaction():
                sent = [
                    await producer.send(topic, value=value, key=k, partition=partition)
                    for topic, k, value, partition in txn.records
                ]
                if txn.offsets:
                    await producer.send_offsets_to_transaction(txn.offsets, self._group)
                await asyncio.gather(*sent)
        except Exception as exc:
            log.error(
                "transaction failed: stopping, a restart restores the tables from what "
                "was committed",
                side=key[0],
                partition=key[1],
                error=repr(exc),
            )
            self._producers.pop(key, None)
            failure = TransactionFailed(f"transaction {key} failed: {exc!r}")
            await self._app.crash(failure)
            raise failure from exc


class TransactionalTable(faust.Table):
    """A table whose changelog records go into the open transaction of the event being
    processed (its side and partition), not to Faust's producer."""

    transactions: Transactions
    side: str

    def on_key_set(self, key: Any, value: Any) -> None:
        self._write(key, value)

    def on_key_del(self, key: Any) -> None:
        self._write(key, None)

    def _write(self, key: Any, value: Any) -> None:
        partition = self.partition_for_key(key)
        if partition is None:  # the tables here never use the partitioner
            raise TransactionFailed(f"{self.name}: a write with no current event")
        self.transactions.changelog(self.side, self.changelog_topic_name, partition, key, value)


def wipe_local_tables(tabledir: Path) -> bool:
    """Remove the local table stores: under exactly_once they may hold writes no
    committed transaction has (see the module's text). True if there were any."""
    if not tabledir.exists():
        return False
    shutil.rmtree(tabledir)
    return True
