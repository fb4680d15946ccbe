"""Kafka clients beside the worker: topic creation, committed offsets, `produce` and
`tail`, configured by the service's settings (bootstrap servers, SASL/TLS, topic names)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from parcelwatch.edge.arrival import ArrivalClock, read_with_arrival
from parcelwatch.edge.intake import ARRIVAL_HEADER
from parcelwatch.edge.partitioners import _partitioner
from parcelwatch.schemas.topics import INPUT_TOPICS, OUTPUT_TOPICS
from parcelwatch.service.settings import TABLES, ServiceSettings, rules_of


def topic_name(settings: ServiceSettings, logical: str) -> str:
    """The Kafka topic of a logical name (CONTRACT §1); other names pass through."""
    return getattr(settings, f"topic_{logical}", logical)


def client_config(settings: ServiceSettings, bootstrap: str) -> dict[str, Any]:
    config: dict[str, Any] = {"bootstrap_servers": bootstrap.split(",")}
    if settings.security_protocol != "PLAINTEXT":
        config["security_protocol"] = settings.security_protocol
        context = settings.ssl_context()
        if context is not None:
            config["ssl_context"] = context
        if settings.security_protocol.startswith("SASL"):
            config["sasl_mechanism"] = settings.sasl_mechanism
            config["sasl_plain_username"] = settings.sasl_username
            if settings.sasl_password:
                config["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return config


def create_topics(settings: ServiceSettings, bootstrap: str, embedded: bool = False) -> None:
    """Create the contract's topics and the internal ones (co-partitioned), if missing."""
    names = [topic_name(settings, t) for t in (*INPUT_TOPICS, *OUTPUT_TOPICS)]
    internal = ("vehicle-facts", "waybill-ticks", "vehicle-ticks")
    names += [settings.internal(n) for n in internal]
    # The tables' changelogs too, as Faust would make them: made by Faust as the worker
    # starts, they could be missing from its metadata when the first records came, and
    # each write then failed (PartitionsMismatch) on a loaded machine.
    changelogs = {settings.changelog(t) for t in TABLES}
    admin = KafkaAdminClient(**client_config(settings, bootstrap))
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(
                n,
                settings.partitions,
                settings.replication(embedded),
                topic_configs={"cleanup.policy": "compact"} if n in changelogs else {},
            )
            for n in (*names, *sorted(changelogs))
            if n not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
    finally:
        admin.close()


def committed(admin: Any, group: str, topics: set[str]) -> int:
    """Records of `topics` the consumer `group` has committed (a KafkaAdminClient)."""
    try:
        offsets = admin.list_group_offsets(group)[group]
    except Exception:  # the group is not there yet
        return 0
    return sum(m.offset for tp, m in offsets.items() if tp.topic in topics and m.offset > 0)


def produce(
    settings: ServiceSettings,
    bootstrap: str,
    path: Path,
    speed: float | None,
    progress: Any = None,
    skipped: Callable[[int, int], None] | None = None,
    partitioner: str = "murmur2",
) -> int:
    """Send a replay-format file to the input topics; `speed` = event seconds per wall
    second (None: as fast as possible). `progress(sent, event time)` is called every
    thousand records, `skipped(line, size)` for a line too large to send. `partitioner`:
    murmur2 (Java's) or crc32 (librdkafka's). Returns the number of records sent."""
    chosen = _partitioner(partitioner)
    extra = {} if chosen is None else {"partitioner": chosen}
    producer = KafkaProducer(
        **client_config(settings, bootstrap), linger_ms=20, batch_size=256 * 1024, acks=1, **extra
    )
    sent = 0
    first_event: float | None = None
    first_wall = 0.0
    arrival = ArrivalClock(*rules_of(settings))
    try:
        for topic, key, value, when, before in read_with_arrival(path, arrival, skipped):
            if speed and when is not None:
                if first_event is None:
                    first_event, first_wall = when, time.monotonic()
                wait = (when - first_event) / speed - (time.monotonic() - first_wall)
                if wait > 0:
                    time.sleep(min(wait, 5.0))
            headers = None if before is None else [(ARRIVAL_HEADER, b"%d" % before)]
            producer.send(topic_name(settings, topic), key=key, value=value, headers=headers)
            sent += 1
            if progress is not None and sent % 1000 == 0:
                progress(sent, when)
    finally:
        producer.flush()
        producer.close()
    return sent


def tail(
    settings: ServiceSettings,
    bootstrap: str,
    logical: str,
    from_beginning: bool,
    limit: int | None,
    idle_s: float | None,
) -> Iterator[dict[str, Any]]:
    consumer = KafkaConsumer(
        topic_name(settings, logical),
        **client_config(settings, bootstrap),
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(idle_s * 1000) if idle_s else float("inf"),
        # exactly_once: what an aborted transaction wrote is no output (at_least_once
        # writes no transactions, and reads the same either way).
        isolation_level="read_committed",
    )
    seen = 0
    try:
        for message in consumer:
            try:
                yield orjson.loads(message.value)
            except orjson.JSONDecodeError:
                yield {"raw": message.value.decode("utf-8", "replace")}
            seen += 1
            if limit is not None and seen >= limit:
                return
    finally:
        consumer.close()
