"""parcelwatch/service/transactions.py without a broker: how a batch is cut into
transactions, the offsets each commits, and writes outside one refused. (Commits,
fencing and kill -9 are tests/integration/test_broker_faults.py's, on Apache Kafka.)"""

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka.structs import TopicPartition

from parcelwatch.service.settings import ServiceSettings, Topics
from parcelwatch.service.transactions import (
    Transaction,
    TransactionFailed,
    Transactions,
    wipe_local_tables,
)


def _event(topic: str, partition: int, offset: int):
    return SimpleNamespace(message=SimpleNamespace(topic=topic, partition=partition, offset=offset))


@pytest.fixture
def transactions():
    settings = ServiceSettings(app_id="pw")
    return Transactions(SimpleNamespace(), settings, Topics.from_settings(settings), {})


def test_a_batch_is_one_transaction_per_side_and_partition(transactions):
    t = Topics.from_settings(ServiceSettings(app_id="pw"))
    events = [
        _event(t.scans, 0, 5),
        _event(t.waybills, 0, 9),
        _event(t.facts, 1, 3),
        _event(t.scans, 0, 6),
        _event(t.gps, 0, 40),
        _event(t.vehicle_ticks, 0, 2),
    ]
    groups = transactions.groups(events)
    assert list(groups) == [("waybill", 0), ("waybill", 1), ("vehicle", 0)]
    assert [e.message.offset for e in groups[("waybill", 0)]] == [5, 9, 6]  # arrival order
    assert [e.message.offset for e in groups[("vehicle", 0)]] == [40, 2]
    assert transactions.owned([TopicPartition(t.facts, 2), TopicPartition("other", 1)]) == {
        ("waybill", 2)
    }


def test_a_transaction_commits_the_offset_after_each_partitions_last_record():
    txn = Transaction("waybill", 0)
    txn.consumed([_event("scans", 0, 7), _event("waybills", 0, 3), _event("scans", 0, 5)])
    assert txn.offsets == {TopicPartition("scans", 0): 8, TopicPartition("waybills", 0): 4}


def test_a_table_write_outside_a_transaction_is_refused(transactions):
    with pytest.raises(TransactionFailed, match=r"written outside a transaction"):
        transactions.changelog("waybill", "pw-waybill-state-changelog", 0, b"k", b"v")


def test_writes_go_into_the_open_transaction_of_their_partition(transactions):
    committed: list[Transaction] = []

    async def commit(key, txn):
        committed.append(txn)

    transactions._commit = commit

    async def batch(partition: int, key: bytes, pause: float):
        async with transactions.batch(("waybill", partition)) as txn:
            transactions.changelog("waybill", "changelog", partition, key, b"v")
            await asyncio.sleep(pause)  # another batch of the partition must wait
            txn.send("exceptions", key, b"out", None)

    async def main():
        await asyncio.gather(batch(0, b"a", 0.05), batch(0, b"b", 0), batch(1, b"c", 0))

    asyncio.run(main())
    by_key = {t.records[0][1]: t for t in committed}
    assert by_key[b"a"].records == [
        ("changelog", b"a", b"v", 0),
        ("exceptions", b"a", b"out", None),
    ]
    assert by_key[b"b"].records == [
        ("changelog", b"b", b"v", 0),
        ("exceptions", b"b", b"out", None),
    ]
    order = [t.records[0][1] for t in committed]
    assert order.index(b"a") < order.index(b"b")  # partition 0's batches one at a time


def test_local_tables_are_wiped(tmp_path):
    tables = tmp_path / "tables"
    (tables / "waybill-state-0.db").mkdir(parents=True)
    assert wipe_local_tables(tables) is True
    assert not tables.exists()
    assert wipe_local_tables(tables) is False
