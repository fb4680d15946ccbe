"""Deadline ticks: sent when due, and sent again when one is not reported done."""

import asyncio

from stream.agents import deadlines
from stream.agents.deadlines import TickSource


def test_a_tick_not_done_is_sent_again_then_forgotten(monkeypatch):
    sent: list[tuple[bytes, bytes]] = []

    async def send(key: bytes, value: bytes) -> None:
        sent.append((key, value))

    ticks = TickSource(lambda: 100, send)
    ticks.track("W1", 50)
    assert asyncio.run(ticks.fire()) == 1
    assert ticks.horizon() == 50  # in flight: what it will say is not out yet
    assert asyncio.run(ticks.fire()) == 0
    monkeypatch.setattr(deadlines, "IN_FLIGHT_US", -1)  # every tick in flight is overdue
    for _ in range(deadlines.RESENDS):
        assert asyncio.run(ticks.fire()) == 1  # lost? sent again (a duplicate is harmless)
    assert asyncio.run(ticks.fire()) == 0  # tried enough: its key has moved elsewhere
    assert ticks.horizon() is None
    assert sent == [(b"W1", b"50")] * (1 + deadlines.RESENDS)


def test_a_tick_done_is_not_sent_again(monkeypatch):
    async def send(key: bytes, value: bytes) -> None:
        pass

    ticks = TickSource(lambda: 100, send)
    ticks.track("W1", 50)
    asyncio.run(ticks.fire())
    ticks.done(b"W1")
    monkeypatch.setattr(deadlines, "IN_FLIGHT_US", -1)
    assert asyncio.run(ticks.fire()) == 0
    assert ticks.horizon() is None


def test_the_backlog_counts_ticks_due_and_in_flight():
    async def send(key: bytes, value: bytes) -> None:
        pass

    now = [100]
    ticks = TickSource(lambda: now[0], send)
    for i, when in enumerate((50, 80, 150)):
        ticks.track(f"W{i}", when)
    assert ticks.backlog() == 2  # due, not sent yet
    asyncio.run(ticks.fire(limit=1))
    assert ticks.backlog() == 2  # one in flight, one still queued
    ticks.done(b"W0")
    assert ticks.backlog() == 1
    now[0] = 200
    assert ticks.backlog() == 2
