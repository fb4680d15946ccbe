"""An in-process stand-in for Kafka around the live handlers: per-topic queues, the
same routing as stream/app.py, and a choice of which side reads ahead. Lets tests drive
the live logic (event clock, ticks, cross-side messages) deterministically."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from pathlib import Path

from stream.agents.clock import LiveClock
from stream.agents.deadlines import TickSource
from stream.agents.handlers import Topics, VehicleHandler, WaybillHandler
from stream.live import read_replay_file, topic_name
from stream.network import Network
from stream.rules.base import RuleContext
from stream.service import ServiceSettings


class Harness:
    def __init__(self, network: Network, idle_s: float = 0.0) -> None:
        settings = ServiceSettings(clock="event")
        self.settings = settings
        self.topics = Topics.from_settings(settings)
        self.clock = LiveClock("event", idle_s=idle_s)
        self.queues: dict[str, deque] = {}
        self.outputs: dict[str, list[dict]] = {"exceptions": [], "tickets": [],
                                               "notifications": [], "dead_letters": []}  # fmt: skip
        ctx = RuleContext.create(network)
        self.wticks = TickSource(self.clock, self._sender(self.topics.waybill_ticks))
        self.vticks = TickSource(self.clock, self._sender(self.topics.vehicle_ticks))
        self.waybills = WaybillHandler(ctx, self.topics, self.clock, self.wticks, {})
        self.vehicles = VehicleHandler(ctx, self.topics, self.clock, self.vticks, {})
        t = self.topics
        self.waybill_inputs = (t.waybills, t.scans, t.signals, t.waybill_ticks)
        self.vehicle_inputs = (t.gps, t.manifest, t.vehicle_ticks)
        names = {t.exceptions: "exceptions", t.tickets: "tickets",
                 t.notifications: "notifications", t.dead_letters: "dead_letters"}  # fmt: skip
        self._sinks = names

    def _sender(self, topic: str):
        async def send(key: bytes, value: bytes) -> None:
            self._put(topic, key, value)

        return send

    def _put(self, topic: str, key: bytes, value: bytes) -> None:
        if topic in self._sinks:
            self.outputs[self._sinks[topic]].append(json.loads(value))
        else:
            self.queues.setdefault(topic, deque()).append((key, value))

    def load(self, path: Path) -> None:
        for logical, key, value, _ in read_replay_file(path):
            self._put(topic_name(self.settings, logical), key, value)

    def _step(self, topics: tuple[str, ...], handler, limit: int) -> int:
        done = 0
        for topic in topics:
            queue = self.queues.get(topic)
            while queue and done < limit:
                key, value = queue.popleft()
                for out_topic, out_key, out_value in handler.handle(topic, 0, key, value):
                    self._put(out_topic, out_key, out_value)
                done += 1
        return done

    def run(self, vehicle_batch: int, waybill_batch: int) -> None:
        """Alternate the two sides in batches (a large vehicle batch = the vehicle side
        reads ahead), with the timer between batches, until everything is quiet."""
        self.clock.assign({(self.topics.scans, 0), (self.topics.gps, 0)})
        while True:
            moved = self._step(self.vehicle_inputs, self.vehicles, vehicle_batch)
            moved += self._step(self.waybill_inputs, self.waybills, waybill_batch)
            fired = asyncio.run(self._fire())
            if not moved and not fired:
                return

    def run_lockstep(self, path: Path) -> None:
        """Read the file in arrival order, one record at a time, letting both sides and
        the timer settle after each: the order a live pipeline keeping up sees."""
        self.clock.assign({(self.topics.scans, 0), (self.topics.gps, 0)})
        for logical, key, value, _ in read_replay_file(path):
            self._put(topic_name(self.settings, logical), key, value)
            self.run(10**9, 10**9)

    async def _fire(self) -> int:
        return await self.vticks.fire() + await self.wticks.fire()
