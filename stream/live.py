"""Running the live pipeline: the worker (with the embedded broker when no cluster is
configured), topic creation, `produce` and `tail`."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import structlog
from pydantic import SecretStr

from .broker import EmbeddedBroker
from .service import ServiceSettings

INPUT_TOPICS = ("waybills", "scans", "gps")
OUTPUT_TOPICS = ("exceptions", "tickets", "notifications", "dead_letters")


def topic_name(settings: ServiceSettings, logical: str) -> str:
    """The Kafka topic of a logical name (CONTRACT §1); other names pass through."""
    return getattr(settings, f"topic_{logical}", logical)


def app_settings(bootstrap: str, app_id: str, **fields: Any) -> ServiceSettings:
    """Settings of an app whose contract topics carry its id as a prefix: the tests and
    the bench run several apps on one broker, and one app's events must not move
    another's event clock."""
    names = {f"topic_{t}": f"{app_id}.{t}" for t in (*INPUT_TOPICS, *OUTPUT_TOPICS)}
    return ServiceSettings(bootstrap_servers=bootstrap, app_id=app_id, **{**names, **fields})


def settings_env(settings: ServiceSettings) -> dict[str, str]:
    """The environment that configures a worker as `settings` (what differs from the
    defaults)."""
    env = {}
    for name, value in settings.model_dump(exclude_defaults=True).items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, bool):
            value = str(value).lower()
        env[f"PARCELWATCH_{name.upper()}"] = str(value)
    return env


def spawn_worker(settings: ServiceSettings, log: Path, loglevel: str = "info") -> subprocess.Popen:
    """`parcelwatch worker` in a child process, configured by `settings` through its
    environment, its output appended to `log` (the demo, the bench, the tests)."""
    env = {**os.environ, **settings_env(settings)}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "stream", "worker", "--loglevel", loglevel],
                                env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def _client_config(settings: ServiceSettings, bootstrap: str) -> dict[str, Any]:
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
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    names = [topic_name(settings, t) for t in (*INPUT_TOPICS, *OUTPUT_TOPICS)]
    internal = ("vehicle-facts", "waybill-ticks", "vehicle-ticks")
    names += [settings.internal(n) for n in internal]
    admin = KafkaAdminClient(**_client_config(settings, bootstrap))
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(n, settings.partitions, settings.replication(embedded))
            for n in names
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


@contextlib.contextmanager
def bootstrap_servers(
    settings: ServiceSettings, log: Path | None = None
) -> Iterator[tuple[str, bool]]:
    """(bootstrap, embedded): the configured cluster, or a fresh embedded broker."""
    if settings.bootstrap_servers:
        yield settings.bootstrap_servers, False
        return
    with EmbeddedBroker(log=log) as broker:
        yield broker.bootstrap, True


def run_worker(
    settings: ServiceSettings, bootstrap: str, embedded: bool, loglevel: str | None = None
) -> int:
    from faust import Worker

    from . import logs
    from .app import create_app

    level = loglevel or settings.log_level
    if settings.event_loop == "uvloop":  # before Faust creates its loops (one per thread)
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    config = logs.configure(level, settings.log_format)
    pipeline = create_app(settings, bootstrap, embedded)
    if settings.metrics:  # before anything reaches the broker: a taken port ends it early
        try:
            pipeline.metrics.serve(settings.metrics_port, settings.metrics_host)
        except OSError as exc:
            structlog.get_logger(__name__).error(
                f"metrics: cannot listen on {settings.metrics_host}:{settings.metrics_port} "
                f"({exc.strerror}): another process has the port; set "
                "PARCELWATCH_METRICS_PORT to a free one, or 0 for any",
            )
            return 3
    create_topics(settings, bootstrap, embedded)
    worker = Worker(pipeline.app, loglevel=level, quiet=True, redirect_stdouts=False,
                    logging_config=config)  # fmt: skip
    try:
        worker.execute_from_commandline()
    finally:
        pipeline.metrics.close()
    return 0


def rules_of(settings: ServiceSettings) -> tuple[Any, Any]:
    """The network and rule settings a service's settings name (the bundled network by
    default)."""
    from importlib.resources import files

    from .network import Network
    from .settings import RuleSettings

    path = settings.network_file or Path(str(files("stream") / "data" / "network.yaml"))
    return Network.load(path), RuleSettings.load(settings.config_file)


def read_replay_file(
    path: Path, skipped: Callable[[int, int], None] | None = None
) -> Iterator[tuple[str, bytes | None, bytes, float | None]]:
    """(logical topic, key, value bytes, event time in s) of each usable line; lines
    that are not even an envelope are passed through to the scans topic as they are, so
    the service's dead-letter path sees them. A line over the record limit is not read
    whole nor sent (a broker refuses it): `skipped(line number, size)` is told instead."""
    for _, topic, key, raw, when in _envelopes(path, skipped):
        yield topic, key, raw, when


def waybill_numbers(path: Path, limit: int) -> list[str]:
    """The keys of the first `limit` orders of a replay file (parcels to look up)."""
    out: list[str] = []
    for topic, key, _, _ in read_replay_file(path):
        if topic == "waybills" and key:
            out.append(key.decode("utf-8", "replace"))
            if len(out) >= limit:
                break
    return out


def read_with_arrival(
    path: Path, arrival: ArrivalClock, skipped: Callable[[int, int], None] | None = None
) -> Iterator[tuple[str, bytes | None, bytes, float | None, int | None]]:
    """`read_replay_file`, each record with replay's clock as it reaches the line (see
    ArrivalClock): what `produce` stamps on it."""
    for line, topic, key, raw, when in _envelopes(path, skipped):
        yield topic, key, raw, when, arrival.before(line)


def _envelopes(
    path: Path, skipped: Callable[[int, int], None] | None
) -> Iterator[tuple[bytes, str, bytes | None, bytes, float | None]]:
    from .intake import Oversized, read_lines

    with path.open("rb") as fh:
        for number, line in read_lines(fh):
            if isinstance(line, Oversized):
                if skipped is not None:
                    skipped(number, line.size)
                continue
            line = line.strip()
            try:
                envelope = orjson.loads(line)
                topic = envelope["topic"]
                value = envelope["value"]
                assert topic in INPUT_TOPICS
            except Exception:
                yield line, "scans", None, line, None
                continue
            key = envelope.get("key")
            if key is None and isinstance(value, dict):
                key = value.get("vehicle_id" if topic == "gps" else "waybill_no")
            raw = orjson.dumps(value)
            when = None
            if isinstance(value, dict):
                stamp = value.get("created_at" if topic == "waybills" else "event_time")
                with contextlib.suppress(Exception):
                    from datetime import datetime

                    when = datetime.fromisoformat(stamp).timestamp()
            yield line, topic, str(key).encode() if key is not None else None, raw, when


class ArrivalClock:
    """Replay's clock over a replay file, line by line: the latest event time of the
    records replay accepts (valid, and within `max_clock_jump_hours` of the clock).

    `produce` stamps it on each record (header ARRIVAL_HEADER), and the worker on the
    event clock applies the record no earlier than that: a scan uploaded hours late is
    applied when it arrived, as replay applies it, not at its own time. Without the
    stamp (another producer) a record is applied at its own time and its parcel's.
    A scan the core refuses (an event id reused with other content, a cap) moves
    replay's clock no further but moves this one: such records are rare, and only the
    detected_at of what the next records of the stream say can differ."""

    def __init__(self, network: Any, rules: Any) -> None:
        from .core.guard import ClockGuard

        self.now: int | None = None
        self._network = network
        self._guard = ClockGuard(rules)

    def before(self, line: bytes) -> int | None:
        """The clock as replay reaches `line`; then moved as replay moves it."""
        from .core.clock import to_us
        from .core.errors import InvalidRecord
        from .core.guard import record_time
        from .replay import parse_line
        from .schemas import GpsBatch

        before = self.now
        try:
            record = parse_line(line, self._network)
            if isinstance(record, GpsBatch):
                times = [to_us(p.event_time) for p in record.as_pings()]
            else:
                times = [record_time(record)]  # type: ignore[arg-type]
            self._guard.on_event_clock_each(times, before)
        except InvalidRecord:
            return before
        latest = max(times)
        self.now = latest if before is None else max(before, latest)
        return before


def crc32_partition(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """librdkafka's default partitioner (`consistent_random`: CRC-32 of the key, modulo
    the partition count; a random available partition for a null key): what kcat,
    confluent-kafka and the other librdkafka clients do."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[zlib.crc32(key) % len(all_partitions)]


def _partitioner(name: str) -> Any:
    """A kafka-python partitioner: None for its own (murmur2, as Java clients), or one
    doing what librdkafka's clients do."""
    if name == "murmur2":
        return None
    from kafka.partitioner import Partitioner

    class Crc32(Partitioner):
        def partition(self, topic, key, serialized_key, value, serialized_value, cluster):  # type: ignore[no-untyped-def]
            everything = sorted(cluster.partitions_for_topic(topic))
            return crc32_partition(
                serialized_key, everything, list(cluster.available_partitions_for_topic(topic))
            )

    return Crc32()


def produce(settings: ServiceSettings, bootstrap: str, path: Path, speed: float | None,
            progress: Any = None, skipped: Callable[[int, int], None] | None = None,
            partitioner: str = "murmur2") -> int:  # fmt: skip
    """Send a replay-format file to the input topics; `speed` = event seconds per wall
    second (None: as fast as possible). `progress(sent, event time)` is called every
    thousand records, `skipped(line, size)` for a line too large to send. `partitioner`:
    murmur2 (Java's) or crc32 (librdkafka's). Returns the number of records sent."""
    from kafka import KafkaProducer

    from .intake import ARRIVAL_HEADER

    chosen = _partitioner(partitioner)
    extra = {} if chosen is None else {"partitioner": chosen}
    producer = KafkaProducer(**_client_config(settings, bootstrap), linger_ms=20,
                             batch_size=256 * 1024, acks=1, **extra)  # fmt: skip
    sent = 0
    first_event = first_wall = None
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


def tail(settings: ServiceSettings, bootstrap: str, logical: str, from_beginning: bool,
         limit: int | None, idle_s: float | None) -> Iterator[dict[str, Any]]:  # fmt: skip
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic_name(settings, logical),
        **_client_config(settings, bootstrap),
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(idle_s * 1000) if idle_s else float("inf"),
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


def install_stop_handlers() -> None:
    """SIGTERM ends a long-running command as Ctrl-C does, so `with` blocks (the embedded
    broker above all) are cleaned up."""

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
