"""The Faust application: the two sides of the pure core as agents, their changelogged
tables, deadline timers, and the topics of CONTRACT §1.

    gps, vehicle-ticks                          -> vehicle side (table: vehicle state)
    waybills, scans, vehicle-facts, waybill-ticks -> waybill side (table: waybill state,
                                                   each partition's copy of the facts)

Data flows one way. The vehicle side publishes each fact (a vehicle's condition changed)
and its progress marks to every partition of vehicle-facts; the waybill side reads the
partition numbered like its scans partitions (Faust assigns topics of equal partition
counts read by the same workers together), keeps which of its parcels ride which vehicle
and applies the facts to them. Ticks go to the partition the key's inputs arrived on. No
message is addressed by hashing a key, so the producers' partitioner does not matter.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar

import faust
import structlog
from faust.auth import SASLCredentials, SSLCredentials
from faust.types import TP
from faust.web.drivers.aiohttp import Web as AiohttpWeb

from parcelwatch.detection.context import RuleContext
from parcelwatch.edge.intake import arrival
from parcelwatch.network.graph import Network
from parcelwatch.service.eventtime import LiveClock, wall_us
from parcelwatch.service.faust_compat import (
    committed_offset,
    flow_active,
    set_current_event,
    set_fetch_max_wait,
)
from parcelwatch.service.gauges import register_gauges
from parcelwatch.service.handlers import Send, VehicleHandler, WaybillHandler
from parcelwatch.service.metrics import Metrics
from parcelwatch.service.settings import ServiceSettings, Topics
from parcelwatch.service.ticks import TickSource
from parcelwatch.service.watchdog import Gaps, Watchdog
from parcelwatch.service.web.server import Lookup, riders_of
from parcelwatch.service.web.server import install as install_web
from parcelwatch.service.wire import encode_marks
from parcelwatch.settings import RuleSettings

log = structlog.get_logger(__name__)

MARKS_REPEAT_S = 1.0
"""Unchanged marks are sent again this often (well within LiveClock's `stale_s`)."""


@dataclass
class Pipeline:
    app: faust.App
    settings: ServiceSettings
    topics: Topics
    clock: LiveClock
    waybills: WaybillHandler
    vehicles: VehicleHandler
    metrics: Metrics


def _credentials(s: ServiceSettings) -> SASLCredentials | SSLCredentials | None:
    if s.security_protocol.startswith("SASL"):
        return SASLCredentials(
            username=s.sasl_username,
            password=s.sasl_password.get_secret_value() if s.sasl_password else None,
            mechanism=s.sasl_mechanism,
            ssl_context=s.ssl_context(),
        )
    context = s.ssl_context()
    return SSLCredentials(context) if context is not None else None


class _Web(AiohttpWeb):
    """Faust's web server with none of its own pages: they would show any table's raw
    contents (/table) and the cluster's layout (/router) to whoever asks, and its index
    takes "/", which is the agents' page (parcelwatch/service/web/)."""

    default_blueprints: ClassVar = []
    production_blueprints: ClassVar = []
    debug_blueprints: ClassVar = []
    optional_blueprints: ClassVar = []


class _App(faust.App):
    def _new_web(self) -> _Web:
        return _Web(self)


WEB_LIMITS = {
    # GET requests only (and the page's sign-in form): no body worth more than that, and
    # no URL or header longer than a waybill lookup needs.
    "client_max_size": 16 * 1024,
    "handler_args": {"max_line_size": 4096, "max_field_size": 8192},
}


def create_app(settings: ServiceSettings, bootstrap: str, embedded: bool = False) -> Pipeline:
    """Build the app for `bootstrap` ("host:port,..."). `embedded` applies the settings
    the Tansu broker needs (DESIGN.md §3)."""
    network = Network.load(
        settings.network_file or Path(str(files("parcelwatch") / "data" / "network.yaml"))
    )
    ctx = RuleContext.create(network, RuleSettings.load(settings.config_file))
    metrics = Metrics(facilities=_facilities(settings, network))
    session, heartbeat = settings.session_timeout_s, settings.session_timeout_s / 10
    tuning: dict[str, Any] = {}
    if embedded or settings.tansu:
        session, heartbeat = 6.0, 1.0
        tuning = {
            # Tansu reports the first offset of the last batch + 1 as the end offset;
            # one record per batch makes that the true end, so table recovery is complete.
            "producer_max_batch_size": 1,
        }
        if not settings.tansu_single_record_batches:
            del tuning["producer_max_batch_size"]
    app = _App(
        settings.app_id,
        broker=[f"kafka://{host}" for host in bootstrap.split(",")],
        broker_credentials=_credentials(settings),
        store=settings.store,
        datadir=settings.data_dir,
        processing_guarantee=settings.processing_guarantee,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication(embedded),
        web_enabled=settings.web_port is not None,
        web_port=settings.web_port or 6066,
        web_bind=settings.web_bind,
        web_host=settings.web_host or socket.gethostname(),
        web_application_options=WEB_LIMITS,
        consumer_auto_offset_reset="earliest",
        # Every topic and table here holds raw bytes. Set as the app default, not only per
        # topic: faust's changelog recovery and channel clones use the app's serializers.
        key_serializer="raw",
        value_serializer="raw",
        table_standby_replicas=1,
        # Faust stops fetching a partition whose agent buffer is 80 % full; under that
        # pressure, on the embedded broker, vehicle ticks were held up for tens of seconds
        # and the marks with them. A large buffer keeps the pressure off (at the cost of
        # memory: at most this many records per agent), small polls keep latency low.
        broker_commit_interval=settings.commit_interval_s,
        broker_max_poll_records=500,
        stream_buffer_maxsize=200_000,
        broker_session_timeout=session,
        broker_heartbeat_interval=heartbeat,
        **tuning,
    )
    topics = Topics.from_settings(settings)
    read: dict[tuple[str, int], int] = {}  # next offset to process, per partition

    def position(source: tuple[str, int]) -> int | None:
        """The next offset this worker processes on `source`: past what it processed,
        else where the group's last commit left it. After a restart or a fail-over a
        partition may have nothing left to read, and must not wait for a record that
        never comes (faust keeps the committed offsets it sought to, privately)."""
        if source in read:
            return read[source]
        return committed_offset(app, *source)

    def highwater(source: tuple[str, int]) -> int | None:
        try:
            return app.consumer.highwater(TP(*source))
        except Exception:  # not assigned (any more): nothing of it to wait for
            return None

    def caught_up(source: tuple[str, int]) -> bool:
        try:
            high = app.consumer.highwater(TP(*source))
        except Exception:  # not assigned (any more): nothing of it to wait for
            return True
        # Assigned but not fetched from yet (as while its tables recover after a
        # fail-over): its end is unknown, so all of it may be still to come.
        return high is not None and (position(source) or 0) >= high

    clock = LiveClock(settings.clock, partitions=settings.partitions, caught_up=caught_up)
    gaps = Gaps(position)

    def admitted(events: list) -> list:
        """The events of a batch that follow on from what was processed: none past a
        record the consumer skipped (parcelwatch/service/watchdog.py, Gaps)."""
        return [
            e
            for e in events
            if gaps.admit((e.message.topic, e.message.partition), e.message.offset)
        ]

    async def read_holes_again() -> None:
        for source, offset in gaps.to_seek():
            log.warning(
                "input records skipped by the consumer: reading them again",
                topic=source[0],
                partition=source[1],
                offset=offset,
            )
            metrics.reread(source[0])
            try:
                await app.consumer.seek(TP(*source), offset)
            except Exception:  # revoked meanwhile: its next owner starts from the commit
                log.info(
                    "partition gone before it could be read again",
                    topic=source[0],
                    partition=source[1],
                )

    def topic(*names: str) -> faust.TopicT:
        return app.topic(
            *names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    outputs = {
        name: topic(name)
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
    everywhere = range(settings.partitions)

    async def send(items: list[Send]) -> None:
        for name, key, value in items:
            if name == topics.facts:  # every partition: each worker's waybill side reads its own
                for partition in everywhere:
                    await outputs[name].send(key=key, value=value, partition=partition)
            else:
                await outputs[name].send(key=key, value=value)

    # key_type/value_type bytes (not a Schema): faust derives the changelog serializers
    # from the types, and would otherwise decode the changelog as JSON on recovery.
    waybill_table = app.Table("waybill-state", default=None, key_type=bytes, value_type=bytes)
    vehicle_table = app.Table("vehicle-state", default=None, key_type=bytes, value_type=bytes)
    waybill_ticks = TickSource(
        lambda: clock.waybill_now(topics.waybill_inputs, topics.facts),
        lambda k, v, p: outputs[topics.waybill_ticks].send(key=k, value=v, partition=p),
    )
    vehicle_ticks = TickSource(
        lambda: clock.now(topics.gps),
        lambda k, v, p: outputs[topics.vehicle_ticks].send(key=k, value=v, partition=p),
        released=lambda: clock.released(topics.gps),
    )
    waybills = WaybillHandler(
        ctx, topics, clock, waybill_ticks, waybill_table, metrics, settings.partitions
    )
    vehicles = VehicleHandler(
        ctx, topics, clock, vehicle_ticks, vehicle_table, metrics, settings.partitions
    )

    def done(msg: faust.types.Message) -> None:
        """An input record is done: its processing latency, and how far it is read."""
        read[(msg.topic, msg.partition)] = msg.offset + 1
        name = topics.inputs.get(msg.topic)
        if name is not None and msg.timestamp:
            metrics.processed(name, time.time() - msg.timestamp)

    async def deliver(items: list[Send]) -> None:
        """Send what a batch produced and wait until the broker has it, its changelog
        records included: take_events acks the batch's offsets after this."""
        await send(items)
        await app.producer.flush()

    ticks_read = {topics.waybill_ticks: waybill_ticks, topics.vehicle_ticks: vehicle_ticks}

    async def in_batches(stream, handler) -> None:
        """Each record of a micro-batch through `handler`, with its own event current
        (its table writes go to its partition's changelog); what the batch produced is
        delivered before its offsets are acked, and a tick's source is told it is done."""
        async for batch in stream.take_events(settings.batch_max, within=settings.batch_within_s):
            events = admitted(batch)
            out: list[Send] = []
            for event in events:
                set_current_event(event)
                msg = event.message
                out += handler.handle_safely(
                    msg.topic, msg.partition, event.key, event.value, arrival(msg.headers)
                )
            set_current_event(None)
            await deliver(out)
            for event in events:
                ticks = ticks_read.get(event.message.topic)
                if ticks is not None:
                    ticks.done(event.key)
                done(event.message)
            await read_holes_again()

    # Inputs in micro-batches, each key's records in arrival order. Orders and scans have
    # an agent of their own, facts and ticks another: a scan set aside for the vehicle
    # side (event clock, parcelwatch/service/eventtime.py) is released by what arrives there.
    @app.agent(topic(topics.waybills, topics.scans))
    async def scan_agent(stream):
        await in_batches(stream, waybills)

    @app.agent(topic(topics.facts, topics.waybill_ticks))
    async def waybill_agent(stream):
        await in_batches(stream, waybills)

    # A truck's pings come in runs: each vehicle's state is read and written once per
    # batch, with the run's last event as current.
    @app.agent(topic(topics.gps))
    async def gps_agent(stream):
        async for batch in stream.take_events(settings.batch_max, within=settings.batch_within_s):
            events = admitted(batch)
            runs: dict[tuple[int, bytes | None], list] = {}
            for event in events:
                runs.setdefault((event.message.partition, event.key), []).append(event)
            out: list[Send] = []
            for (partition, key), run in runs.items():
                set_current_event(run[-1])
                out += vehicles.handle_pings_safely(
                    partition, key, [(e.value, arrival(e.message.headers)) for e in run]
                )
            set_current_event(None)
            await deliver(out)
            for source in {(e.message.topic, e.message.partition) for e in events}:
                clock.confirm(source)
            for event in events:
                done(event.message)
            await read_holes_again()

    # Ticks do not queue behind the GPS stream: a due condition change holds the waybill
    # side back until it is out.
    @app.agent(topic(topics.vehicle_ticks))
    async def vehicle_agent(stream):
        await in_batches(stream, vehicles)

    @waybill_table.on_recover
    async def _rebuild_waybill_index() -> None:
        for key, value in waybill_table.items():
            if value is not None:
                waybills.restored(key, value)

    @vehicle_table.on_recover
    async def _rebuild_vehicle_index() -> None:
        for key, value in vehicle_table.items():
            if value is not None:
                vehicles.restored(key, value)

    marked = frozenset({topics.facts})
    clocked = {*topics.waybill_inputs, topics.gps, *marked}

    consumed = frozenset(
        {
            *topics.waybill_inputs,
            topics.facts,
            topics.waybill_ticks,
            topics.gps,
            topics.vehicle_ticks,
        }
    )

    def assigned() -> list[tuple[str, int]]:
        return [
            (tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in consumed
        ]

    watchdog = Watchdog(assigned, position, highwater)

    @app.timer(interval=5.0)
    async def unstick() -> None:
        """A partition the consumer stopped delivering is sought back to its next
        offset to process (parcelwatch/service/watchdog.py)."""
        if app.rebalancing or not flow_active(app):
            watchdog.reset()
            return
        for source, offset in watchdog.stuck(time.monotonic()):
            log.warning(
                "input partition stuck behind its end: reading it again",
                topic=source[0],
                partition=source[1],
                offset=offset,
            )
            metrics.reread(source[0])
            await app.consumer.seek(TP(*source), offset)

    # Faust's signal types take no receiver with named arguments; these are called as
    # receiver(app, partitions).
    signals: Any = app

    @signals.on_partitions_revoked.connect
    async def _forget_revoked(app, revoked, **kwargs) -> None:
        watchdog.reset()
        gaps.reset()
        clock.forget({(tp.topic, tp.partition) for tp in revoked})
        waybills.forget(tp.partition for tp in revoked if tp.topic == topics.scans)
        vehicles.forget(tp.partition for tp in revoked if tp.topic == topics.gps)
        for tp in revoked:  # if it comes back, the group's commit says where it stands
            read.pop((tp.topic, tp.partition), None)

    @signals.on_partitions_assigned.connect
    async def _hold_assigned(app, assigned, **kwargs) -> None:
        if not set_fetch_max_wait(app, settings.fetch_max_wait_ms):
            log.warning(
                "cannot set the consumer's fetch wait", fetch_max_wait_ms=settings.fetch_max_wait_ms
            )
        sources = {(tp.topic, tp.partition) for tp in assigned if tp.topic in clocked}
        clock.assign(sources, marked)
        mine = sorted(tp.partition for tp in assigned if tp.topic == topics.scans)
        loop = type(asyncio.get_running_loop())
        log.info(f"partitions assigned: {topics.scans} {mine}", event_loop=loop.__module__)

    @app.timer(interval=10.0)
    async def status() -> None:
        if clock.event_mode:
            aside = min(waybills.waiting.items(), key=lambda kv: kv[1], default=None)
            behind = {
                f"{t}/{p}": [position((t, p)), highwater((t, p))]
                for t, p in clock.sources()
                if not caught_up((t, p))
            }
            log.info(
                "event clock",
                clock=clock.describe(),
                behind=behind,
                set_aside=len(waybills.waiting),
                earliest_aside=aside,
                waybill_ticks_queued=len(waybill_ticks),
                waybill_ticks_in_flight=waybill_ticks.in_flight,
                vehicle_horizon=vehicle_ticks.horizon(),
                vehicle_ticks_in_flight=vehicle_ticks.in_flight,
                vehicle_time=vehicle_ticks.now(),
                waybill_time=waybill_ticks.now(),
            )

    # Three timers, so that a flood of waybill ticks (a backlog's scans set aside and
    # released) never delays the marks or the vehicle side's ticks.
    @app.timer(interval=settings.tick_interval_s)
    async def fire_vehicle_deadlines() -> None:
        await vehicle_ticks.fire()

    said: list[object] = [None, 0.0]  # the last marks sent, and when (monotonic)

    @app.timer(interval=settings.tick_interval_s)
    async def send_marks() -> None:
        """The vehicle side's progress, after the facts it covers: when it says
        something new, and at least every MARKS_REPEAT_S (an idle mark is only believed
        while it is repeated, see LiveClock._safe). A short tick interval then costs
        nothing while nothing moves, and the waybill side waits less."""
        if not clock.event_mode:
            return
        now = time.monotonic()
        marks = vehicles.marks()
        if marks == said[0] and now - said[1] < MARKS_REPEAT_S:  # type: ignore[operator]
            return
        said[:] = [marks, now]
        value = encode_marks(marks, wall_us())
        for partition in everywhere:
            await outputs[topics.facts].send(key=b"", value=value, partition=partition)

    @app.timer(interval=settings.tick_interval_s)
    async def fire_waybill_deadlines() -> None:
        await waybill_ticks.fire(limit=2_000)

    if settings.web_port is not None:
        lookup = Lookup(
            app,
            settings,
            ctx,
            waybill_table,
            vehicle_table,
            riders_of(waybills),
            waybill_ticks.now,
            metrics,
        )
        install_web(app, lookup)

    register_gauges(metrics, app, waybills, vehicles, waybill_table, vehicle_table, position)
    return Pipeline(app, settings, topics, clock, waybills, vehicles, metrics)


def _facilities(settings: ServiceSettings, network: Network) -> list[str]:
    """The facilities with a label of their own on per-facility metrics."""
    if settings.metrics_facilities:
        return [f.strip() for f in settings.metrics_facilities.split(",") if f.strip()]
    hubs = sorted(f.id for f in network.facilities.values() if f.is_hub)
    return hubs[: settings.metrics_max_facilities]
