"""Deadline ticks: sent when due, and sent again when one is not reported done."""

import asyncio

from parcelwatch.service import ticks as deadlines
from parcelwatch.service.ticks import TickSource


def test_a_tick_not_done_is_sent_again_then_forgotten(monkeypatch):
    sent: list[tuple[bytes, bytes, int | None]] = []

    async def send(key: bytes, value: bytes, partition: int | None = None) -> None:
        sent.append((key, value, partition))

    ticks = TickSource(lambda: 100, send)
    ticks.track("W1", 50, 3)
    assert asyncio.run(ticks.fire()) == 1
    assert ticks.horizon() == 50  # in flight: what it will say is not out yet
    assert asyncio.run(ticks.fire()) == 0
    monkeypatch.setattr(deadlines, "IN_FLIGHT_US", -1)  # every tick in flight is overdue
    for _ in range(deadlines.RESENDS):
        assert asyncio.run(ticks.fire()) == 1  # lost? sent again (a duplicate is harmless)
    assert asyncio.run(ticks.fire()) == 0  # tried enough: its key has moved elsewhere
    assert ticks.horizon() is None
    assert sent == [(b"W1", b"50", 3)] * (1 + deadlines.RESENDS)


def test_a_tick_done_is_not_sent_again(monkeypatch):
    async def send(key: bytes, value: bytes, partition: int | None = None) -> None:
        pass

    ticks = TickSource(lambda: 100, send)
    ticks.track("W1", 50, 3)
    asyncio.run(ticks.fire())
    ticks.done(b"W1")
    monkeypatch.setattr(deadlines, "IN_FLIGHT_US", -1)
    assert asyncio.run(ticks.fire()) == 0
    assert ticks.horizon() is None


def test_the_backlog_counts_ticks_due_and_in_flight():
    async def send(key: bytes, value: bytes, partition: int | None = None) -> None:
        pass

    now = [100]
    ticks = TickSource(lambda: now[0], send)
    for i, when in enumerate((50, 80, 150)):
        ticks.track(f"W{i}", when, i)
    assert ticks.backlog() == 2  # due, not sent yet
    asyncio.run(ticks.fire(limit=1))
    assert ticks.backlog() == 2  # one in flight, one still queued
    ticks.done(b"W0")
    assert ticks.backlog() == 1
    now[0] = 200
    assert ticks.backlog() == 2


def test_a_tick_goes_to_the_partition_its_key_lives_on_not_a_hash_of_the_key():
    """A key's state lives on the partition its inputs arrive on, which a producer with
    another partitioner (librdkafka's CRC32) chooses: the tick is addressed there."""
    sent: list[tuple[bytes, int | None]] = []

    async def send(key: bytes, value: bytes, partition: int | None = None) -> None:
        sent.append((key, partition))

    ticks = TickSource(lambda: 100, send)
    ticks.track("W1", 50, 2)
    ticks.no_later("W2", 60, 0)
    ticks.track("W3", 70, None)  # state stored before partitions were: the partitioner's
    asyncio.run(ticks.fire())
    assert sorted(sent) == [(b"W1", 2), (b"W2", 0), (b"W3", None)]
    ticks.track("W1", 90, 1)  # moved (a rebalance, a restored state): the new partition
    ticks.done(b"W1")
    asyncio.run(ticks.fire())
    assert sent[-1] == (b"W1", 1)


def test_a_tick_has_been_reached_as_far_as_this_workers_clock_or_its_released_partitions():
    async def send(key: bytes, value: bytes, partition: int | None = None) -> None:
        pass

    now: list[int | None] = [None]
    released: list[tuple[set[int], int | None]] = [(set(), None)]
    ticks = TickSource(lambda: now[0], send, released=lambda: released[0])
    assert not ticks.reached(50, 1)  # nothing read here yet
    now[0] = 50
    assert ticks.reached(50, 1) and not ticks.reached(51, 1)
    released[0] = ({1}, 80)  # partition 1 idle: its deadlines fire up to 80
    assert ticks.reached(80, 1) and not ticks.reached(81, 1) and not ticks.reached(60, 2)
    released[0] = ({1}, None)  # all read everywhere: all of partition 1's
    assert ticks.reached(10**12, 1) and not ticks.reached(60, 0)


def test_released_partitions_fire_with_no_time_of_this_sides_own():
    """A restarted worker whose GPS input was all committed before it died reads no ping:
    its side has no time, but its idle partitions' deadlines still fire as far as they
    are released (all of them once everything it reads is idle)."""
    sent: list[tuple[bytes, int | None]] = []

    async def send(key: bytes, value: bytes, partition: int | None = None) -> None:
        sent.append((key, partition))

    released: list[tuple[set[int], int | None]] = [({1}, 0)]
    ticks = TickSource(lambda: None, send, released=lambda: released[0])
    ticks.track("T1", 50, 1)
    ticks.track("T2", 60, 2)
    asyncio.run(ticks.fire())
    assert sent == []  # released up to 0: nothing is due yet
    released[0] = ({1}, None)
    asyncio.run(ticks.fire())
    assert sent == [(b"T1", 1)]  # partition 2 is not released: T2 waits
