"""An in-process stand-in for Kafka around the live handlers: per-topic queues, the
same routing as parcelwatch/service/app.py, and a choice of which side reads ahead. Lets tests drive
the live logic (event clock, ticks, facts and marks) deterministically."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections import deque
from pathlib import Path

from parcelwatch.detection.context import RuleContext
from parcelwatch.edge.arrival import ArrivalClock, read_with_arrival
from parcelwatch.network.graph import Network
from parcelwatch.service.clients import topic_name
from parcelwatch.service.eventtime import WatermarkClock, wall_us
from parcelwatch.service.handlers import VehicleHandler, WaybillHandler
from parcelwatch.service.settings import ServiceSettings, Topics
from parcelwatch.service.ticks import TickSource
from parcelwatch.service.wire import encode_marks


class Harness:
    def __init__(self, network: Network, idle_s: float = 3600.0, orders_last: bool = False) -> None:
        # idle_s: no partition is idle until `run_to_end` says all is read (0 would have
        # every partition idle after each record, which no live pipeline sees).
        settings = ServiceSettings(clock="event", partitions=1)
        self.settings = settings
        self.topics = Topics.from_settings(settings)
        self.clock = WatermarkClock(idle_s=idle_s, partitions=1, stale_s=1e9)
        self._marks: dict[str, list] = {}
        self.queues: dict[str, deque] = {}
        self.outputs: dict[str, list[dict]] = {
            "exceptions": [],
            "tickets": [],
            "notifications": [],
            "dead_letters": [],
        }
        ctx = RuleContext.create(network)
        self._rules = (network, ctx.settings)
        t = self.topics
        self.wticks = TickSource(
            lambda: self.clock.waybill_now(t.waybill_inputs, t.facts),
            self._sender(t.waybill_ticks),
        )
        self.vticks = TickSource(
            lambda: self.clock.now(t.gps),
            self._sender(t.vehicle_ticks),
            released=lambda: self.clock.released(t.gps),
        )
        self.waybills = WaybillHandler(ctx, self.topics, self.clock, self.wticks, {})
        self.vehicles = VehicleHandler(ctx, self.topics, self.clock, self.vticks, {})
        # Faust reads the orders and scans topics of a backlog in no set order.
        orders = (t.scans, t.waybills) if orders_last else (t.waybills, t.scans)
        self.waybill_inputs = (*orders, t.facts, t.waybill_ticks)
        self.vehicle_inputs = (t.gps, t.vehicle_ticks)
        names = {
            t.exceptions: "exceptions",
            t.tickets: "tickets",
            t.notifications: "notifications",
            t.dead_letters: "dead_letters",
        }
        self._sinks = names
        self.loaded = 0  # input records, which bound the rounds to quiet (see `run`)
        # One event loop for the timer's rounds: asyncio.run makes one per call, and a
        # lockstep run has tens of thousands of rounds.
        self._loop = asyncio.new_event_loop()
        weakref.finalize(self, self._loop.close)

    def _sender(self, topic: str):
        async def send(key: bytes, value: bytes, partition: int | None = None) -> None:
            self._put(topic, key, value)

        return send

    def _put(self, topic: str, key: bytes, value: bytes, arrival: int | None = None) -> None:
        if topic in self._sinks:
            self.outputs[self._sinks[topic]].append(json.loads(value))
        else:
            self.queues.setdefault(topic, deque()).append((key, value, arrival))

    def _records(self, path: Path):
        """The file's records as `parcelwatch produce` sends them: with arrival stamps."""
        for logical, key, value, _, arrival in read_with_arrival(path, ArrivalClock(*self._rules)):
            yield topic_name(self.settings, logical), key, value, arrival

    def load(self, path: Path) -> None:
        for record in self._records(path):
            self._put(*record)
            self.loaded += 1

    def step(self, topics: tuple[str, ...], handler, limit: int) -> int:
        """Up to `limit` messages of each topic, in order, as the agents of service/app.py
        handle them."""
        done = 0
        t = self.topics
        for topic in topics:
            queue = self.queues.get(topic)
            while queue and done < limit:
                key, value, arrival = queue.popleft()
                for out_topic, out_key, out_value in handler.handle(topic, 0, key, value, arrival):
                    self._put(out_topic, out_key, out_value)
                if topic == t.gps:  # as the GPS agent: marks cover what is delivered
                    self.clock.confirm((topic, 0))
                elif topic == t.vehicle_ticks:
                    self.vticks.done(key)
                elif topic == t.waybill_ticks:
                    self.wticks.done(key)
                done += 1
        return done

    def _assign(self) -> None:
        t = self.topics
        self.clock.assign(
            {(t.waybills, 0), (t.scans, 0), (t.gps, 0), (t.facts, 0)},
            frozenset({t.facts}),
        )

    def run(self, vehicle_batch: int, waybill_batch: int) -> None:
        """Alternate the two sides in batches (a large vehicle batch = the vehicle side
        reads ahead), with the timer between batches, until everything is quiet. A
        livelock (ticks sent round and round, nothing released) fails instead of
        spinning: every round moves at least one input until all are read."""
        self._assign()
        for _ in range(2 * self.loaded + 1000):
            moved = self.step(self.vehicle_inputs, self.vehicles, vehicle_batch)
            moved += self.step(self.waybill_inputs, self.waybills, waybill_batch)
            fired = self._loop.run_until_complete(self._fire())
            if not moved and not fired:
                return
        raise AssertionError(f"not quiet: set aside {self.waybills.waiting}")

    def run_to_end(self, vehicle_batch: int, waybill_batch: int) -> None:
        """`run`, then every partition goes idle (all is read), as at the end of a file."""
        self.run(vehicle_batch, waybill_batch)
        self.clock.idle_us = 0
        self.run(vehicle_batch, waybill_batch)

    def run_lockstep(self, path: Path) -> None:
        """Read the file in arrival order, one record at a time, letting both sides and
        the timer settle after each: the order a live pipeline keeping up sees."""
        self._assign()
        for record in self._records(path):
            self._put(*record)
            self.run(10**9, 10**9)
        self.run_to_end(10**9, 10**9)

    async def _fire(self) -> int:
        fired = await self.vticks.fire()
        t = self.topics
        marks = self.vehicles.marks()
        if marks != self._marks.get(t.facts):  # the timer's marks, when they say something new
            self._marks[t.facts] = marks
            self._put(t.facts, b"", encode_marks(marks, wall_us()))
            fired += 1
        return fired + await self.wticks.fire()
