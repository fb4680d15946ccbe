"""The topics the pipeline writes, and the one way records leave it."""

from __future__ import annotations

import faust

from parcelwatch.service.handlers import Send
from parcelwatch.service.settings import Topics
from parcelwatch.service.transactions import Transaction


class Outputs:
    def __init__(self, app: faust.App, topics: Topics, partitions: int) -> None:
        self._app = app
        self._facts = topics.facts
        self.everywhere = range(partitions)
        self._topics = {
            name: self.topic(name)
            for name in (
                topics.exceptions,
                topics.tickets,
                topics.notifications,
                topics.dead_letters,
                topics.facts,
                topics.waybill_ticks,
                topics.vehicle_ticks,
                topics.waybills,
                topics.scans,
                topics.gps,
            )
        }

    def topic(self, *names: str) -> faust.TopicT:
        """Topics of raw bytes, keys and values: every record is decoded by the handlers,
        which dead-letter what does not decode (a Faust codec would raise instead)."""
        return self._app.topic(
            *names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    async def to(self, name: str, key: bytes, value: bytes, partition: int | None = None) -> None:
        await self._topics[name].send(key=key, value=value, partition=partition)

    async def everywhere_on(self, name: str, key: bytes, value: bytes) -> None:
        """To every partition of `name`: each worker's waybill side reads its own."""
        for partition in self.everywhere:
            await self.to(name, key, value, partition)

    async def deliver(self, items: list[Send], txn: Transaction | None = None) -> None:
        """Send what a batch produced and wait until the broker has it, its changelog
        records included: the batch's offsets are acked after this. With `txn`
        (exactly_once) all of it goes into the transaction, which the caller commits
        (parcelwatch/service/transactions.py): nothing is sent here."""
        for name, key, value in items:
            facts = name == self._facts
            if txn is not None:
                for partition in self.everywhere if facts else (None,):
                    txn.send(name, key, value, partition)
            elif facts:
                await self.everywhere_on(name, key, value)
            else:
                await self.to(name, key, value)
        if txn is None:
            await self._app.producer.flush()
