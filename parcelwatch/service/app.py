"""The Faust application: the two sides of the pure core as agents, their changelogged
tables, deadline timers, and the topics of CONTRACT §1.

    gps, vehicle-ticks                          -> vehicle side (table: vehicle-state)
    waybills, scans, vehicle-facts, waybill-ticks -> waybill side (tables: waybill-state,
                                                   waybill-held: inputs set aside,
                                                   waybill-fleet: each partition's copy
                                                   of the facts)

Data flows one way. The vehicle side publishes each fact (a vehicle's condition changed)
and its progress marks to every partition of vehicle-facts; the waybill side reads the
partition numbered like its scans partitions (Faust assigns topics of equal partition
counts read by the same workers together), keeps which of its parcels ride which vehicle
and applies the facts to them. Ticks go to the partition the key's inputs arrived on. No
message is addressed by hashing a key, so the producers' partitioner does not matter.

`create_app` is composition only: each `_install_*` wires one part (inputs, recovery,
rebalance, ticks, status, web) from the `_Parts` built before it.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import faust
import structlog
from faust.auth import SASLCredentials, SSLCredentials
from faust.types import EventT, TableT
from faust.web.drivers.aiohttp import Web as AiohttpWeb

from parcelwatch.detection.context import RuleContext
from parcelwatch.edge.intake import arrival
from parcelwatch.network.graph import Network
from parcelwatch.service.clients import client_config
from parcelwatch.service.eventtime import LiveClock, Mark, make_clock, wall_us
from parcelwatch.service.faust_compat import (
    end_recovery_at_markers,
    read_committed,
    set_current_event,
    set_fetch_max_wait,
)
from parcelwatch.service.gauges import register_gauges
from parcelwatch.service.handlers import Send, VehicleHandler, WaybillHandler
from parcelwatch.service.metrics import Metrics
from parcelwatch.service.outputs import Outputs
from parcelwatch.service.progress import Progress
from parcelwatch.service.settings import TABLES, ServiceSettings, Topics, rules_of
from parcelwatch.service.ticks import TickSource
from parcelwatch.service.transactions import TransactionalTable, Transactions
from parcelwatch.service.web.server import Lookup, riders_of
from parcelwatch.service.web.server import install as install_web
from parcelwatch.service.wire import encode_marks

log = structlog.get_logger(__name__)

MARKS_REPEAT_S = 1.0
"""Unchanged marks are sent again this often (well within WatermarkClock's `stale_s`)."""


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


@dataclass
class _Tables:
    """One key space each, every one changelogged to a compacted topic. Values are raw
    bytes (key_type/value_type bytes, not a Schema: faust derives the changelog
    serializers from the types, and would otherwise decode the changelog as JSON)."""

    waybill: TableT
    """waybill_no -> its state."""
    held: TableT
    """waybill_no -> its inputs set aside until the vehicle side has caught up."""
    fleet: TableT
    """partition NUL vehicle_id -> the vehicle's recent facts, that partition's copy."""
    vehicle: TableT
    """vehicle_id -> its state."""

    @classmethod
    def create(cls, app: faust.App, transactions: Transactions | None) -> _Tables:
        """Tables of Faust's own, or (exactly_once) ones whose changelog records go into
        the transaction of the batch that wrote them."""

        def table(name: str, side: str) -> TableT:
            if transactions is None:
                return app.Table(name, default=None, key_type=bytes, value_type=bytes)
            made = TransactionalTable(
                app,
                name=name,
                default=None,
                key_type=bytes,
                value_type=bytes,
                beacon=app.tables.beacon,
            )
            made.transactions, made.side = transactions, side
            app.tables.add(made)
            return made

        sides = ("waybill", "waybill", "waybill", "vehicle")
        waybill, held, fleet, vehicle = map(table, TABLES, sides)
        return cls(waybill, held, fleet, vehicle)

    def sizes(self) -> dict[str, TableT]:
        """Each table by name, for the table-size gauge."""
        return {t.name: t for t in (self.waybill, self.held, self.fleet, self.vehicle)}


@dataclass
class _Parts:
    """What the named parts of `create_app` wire together."""

    app: faust.App
    settings: ServiceSettings
    topics: Topics
    ctx: RuleContext
    metrics: Metrics
    clock: LiveClock
    progress: Progress
    outputs: Outputs
    tables: _Tables
    transactions: Transactions | None
    waybills: WaybillHandler
    vehicles: VehicleHandler


def create_app(settings: ServiceSettings, bootstrap: str, embedded: bool = False) -> Pipeline:
    """Build the app for `bootstrap` ("host:port,..."). `embedded` applies the settings
    the Tansu broker needs (DESIGN.md §3)."""
    network, rules = rules_of(settings)
    ctx = RuleContext.create(network, rules)
    if ctx.t.planned and not rules.last_mile_learned_hours:
        log.info(
            "the planned ETA runs on the contract's plan alone (a full courier round of "
            f"{rules.last_mile_hours} h at every outlet): learn the last mile from a past "
            "stream with `parcelwatch calibrate --input HISTORY --out learned.yaml` and "
            "start with PARCELWATCH_CONFIG_FILE=learned.yaml"
        )
    metrics = Metrics(facilities=_facilities(settings, network))
    app = _faust_app(settings, bootstrap, embedded)
    topics = Topics.from_settings(settings)
    transactions = _transactions(app, settings, topics, bootstrap)
    progress = Progress(
        app, topics, metrics, commits=transactions is None, partitions=settings.partitions
    )
    clock = make_clock(
        settings.clock, settings.partitions, progress.caught_up, settings.event_wait_max_s
    )
    outputs = Outputs(app, topics, settings.partitions)
    tables = _Tables.create(app, transactions)
    parts = _Parts(
        app,
        settings,
        topics,
        ctx,
        metrics,
        clock,
        progress,
        outputs,
        tables,
        transactions,
        *_handlers(settings, topics, ctx, metrics, clock, outputs, tables, progress),
    )
    _install_inputs(parts)
    _install_recovery(parts)
    _install_rebalance(parts)
    _install_ticks(parts)
    _install_status(parts)
    if settings.web_port is not None:
        _install_web(parts)
    register_gauges(metrics, app, parts.waybills, parts.vehicles, tables.sizes(), progress.position)
    return Pipeline(app, settings, topics, clock, parts.waybills, parts.vehicles, metrics)


def _faust_app(settings: ServiceSettings, bootstrap: str, embedded: bool) -> faust.App:
    session, heartbeat = settings.session_timeout_s, settings.session_timeout_s / 10
    tuning: dict[str, Any] = {}
    if embedded or settings.tansu:
        session, heartbeat = 6.0, 1.0
        if settings.tansu_single_record_batches:
            # Tansu reports the first offset of the last batch + 1 as the end offset; one
            # record per batch makes that the true end, so table recovery is complete.
            tuning["producer_max_batch_size"] = 1
    return _App(
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


def _transactions(
    app: faust.App, settings: ServiceSettings, topics: Topics, bootstrap: str
) -> Transactions | None:
    """exactly_once: the transactions, and a consumer reading committed records only."""
    if settings.processing_guarantee != "exactly_once":
        return None
    if not read_committed(app):
        raise RuntimeError(
            "exactly_once: cannot make the consumer read committed records only with "
            "this Faust (see parcelwatch/service/faust_compat.py)"
        )
    return Transactions(app, settings, topics, client_config(settings, bootstrap))


def _handlers(
    settings: ServiceSettings,
    topics: Topics,
    ctx: RuleContext,
    metrics: Metrics,
    clock: LiveClock,
    outputs: Outputs,
    tables: _Tables,
    progress: Progress,
) -> tuple[WaybillHandler, VehicleHandler]:
    """The two sides, each with its deadline ticks addressed to the partition the key's
    inputs arrived on."""
    waybill_ticks = TickSource(
        lambda: clock.waybill_now(topics.waybill_inputs, topics.facts),
        lambda k, v, p: outputs.to(topics.waybill_ticks, k, v, p),
    )
    vehicle_ticks = TickSource(
        lambda: clock.now(topics.gps),
        lambda k, v, p: outputs.to(topics.vehicle_ticks, k, v, p),
        released=lambda: clock.released(topics.gps),
    )
    n = settings.partitions
    waybills = WaybillHandler(
        ctx,
        topics,
        clock,
        waybill_ticks,
        tables.waybill,
        metrics,
        n,
        held=tables.held,
        fleet=tables.fleet,
        position=progress.position,
    )
    vehicles = VehicleHandler(ctx, topics, clock, vehicle_ticks, tables.vehicle, metrics, n)
    return waybills, vehicles


def _install_inputs(p: _Parts) -> None:
    """The agents. Orders and scans have an agent of their own, facts and waybill ticks
    another: a scan set aside for the vehicle side (event clock) is released by what
    arrives there. Vehicle ticks do not queue behind the GPS stream: a due condition
    change holds the waybill side back."""
    app, topics, topic = p.app, p.topics, p.outputs.topic

    @app.agent(topic(topics.waybills, topics.scans))
    async def scan_agent(stream: faust.StreamT) -> None:
        await _in_batches(p, stream, p.waybills)

    @app.agent(topic(topics.facts, topics.waybill_ticks))
    async def waybill_agent(stream: faust.StreamT) -> None:
        await _in_batches(p, stream, p.waybills)

    @app.agent(topic(topics.gps))
    async def gps_agent(stream: faust.StreamT) -> None:
        await _in_runs(p, stream)

    @app.agent(topic(topics.vehicle_ticks))
    async def vehicle_agent(stream: faust.StreamT) -> None:
        await _in_batches(p, stream, p.vehicles)

    app.timer(interval=5.0)(p.progress.unstick)


def _batches(p: _Parts, stream: faust.StreamT) -> AsyncIterator[Sequence[EventT]]:
    """Micro-batches of the stream, each key's records in arrival order, none past a
    record the consumer skipped."""
    settings = p.settings
    # take_events is the concrete Stream's: StreamT does not declare it.
    return cast(faust.Stream, stream).take_events(
        settings.batch_max, within=settings.batch_within_s
    )


async def _in_batches(
    p: _Parts, stream: faust.StreamT, handler: WaybillHandler | VehicleHandler
) -> None:
    """Each record through `handler` with its own event current (its table writes go to
    its partition's changelog); what a batch produced is delivered before its offsets
    are acked, and a tick's source is told when it is done."""
    ticks_read = {
        p.topics.waybill_ticks: p.waybills.ticks,
        p.topics.vehicle_ticks: p.vehicles.ticks,
    }

    def handle(events: Sequence[EventT]) -> list[Send]:
        out: list[Send] = []
        for event in events:
            set_current_event(event)
            msg = event.message
            out += handler.handle_safely(
                msg.topic, msg.partition, event.key, event.value, arrival(msg.headers), msg.offset
            )
        set_current_event(None)
        return out

    async for batch in _batches(p, stream):
        events = p.progress.admitted(batch)
        await _handled(p, events, handle)
        for event in events:
            ticks = ticks_read.get(event.message.topic)
            if ticks is not None:
                ticks.done(event.key)
            p.progress.done(event.message)
        await p.progress.read_holes_again()


async def _in_runs(p: _Parts, stream: faust.StreamT) -> None:
    """A truck's pings come in runs: each vehicle's state is read and written once per
    batch, with the run's last event as current."""

    def handle(events: Sequence[EventT]) -> list[Send]:
        runs: dict[tuple[int, bytes | None], list[EventT]] = {}
        for event in events:
            runs.setdefault((event.message.partition, event.key), []).append(event)
        out: list[Send] = []
        for (partition, key), run in runs.items():
            set_current_event(run[-1])
            out += p.vehicles.handle_pings_safely(
                partition, key, [(e.value, arrival(e.message.headers)) for e in run]
            )
        set_current_event(None)
        return out

    async for batch in _batches(p, stream):
        events = p.progress.admitted(batch)
        await _handled(p, events, handle)
        for source in {(e.message.topic, e.message.partition) for e in events}:
            p.clock.confirm(source)
        for event in events:
            p.progress.done(event.message)
        await p.progress.read_holes_again()


async def _handled(
    p: _Parts, events: Sequence[EventT], handle: Callable[[Sequence[EventT]], list[Send]]
) -> None:
    """Handle `events` and deliver what they produced, before they count as done: at
    least once, the batch at once and one flush; exactly once, one transaction per
    partition, with the changelog records of its table writes and its offsets."""
    transactions = p.transactions
    if transactions is None:
        await p.outputs.deliver(handle(events))
        return
    for key, group in transactions.groups(events).items():
        async with transactions.batch(key) as txn:
            await p.outputs.deliver(handle(group), txn)
            txn.consumed(group)


def _install_recovery(p: _Parts) -> None:
    """After a restart or a rebalance, the in-memory indexes are rebuilt from the tables
    (the fleet copies are read when a fact or a boarding needs them)."""
    waybills, vehicles, tables = p.waybills, p.vehicles, p.tables

    async def waybill_states() -> None:
        for key, value in tables.waybill.items():
            if value is not None:
                waybills.restored(key, value)

    async def held_inputs() -> None:
        for key, value in tables.held.items():
            if value is not None:
                waybills.restored_held(key, value)

    async def vehicle_states() -> None:
        for key, value in tables.vehicle.items():
            if value is not None:
                vehicles.restored(key, value)

    tables.waybill.on_recover(waybill_states)
    tables.held.on_recover(held_inputs)
    tables.vehicle.on_recover(vehicle_states)
    if p.transactions is not None:
        _install_marker_check(p.app)


def _install_marker_check(app: faust.App) -> None:
    """exactly_once: a recovery that waits for a commit marker is ended
    (faust_compat.end_recovery_at_markers). Not an app timer: those start only after
    the first recovery, which is the one that would wait forever."""
    running: list[asyncio.Task] = []
    signals: Any = app

    async def check() -> None:
        waiting: dict = {}
        while True:
            await asyncio.sleep(0.5)
            try:
                marked = await end_recovery_at_markers(app, waiting)
            except Exception as exc:  # a partition revoked meanwhile: checked again next
                log.info("changelog ends not checked", error=repr(exc))
                continue
            for tp in marked:
                log.info("changelog recovered up to its commit marker", changelog=str(tp))

    @signals.on_partitions_assigned.connect
    async def _start(app, assigned, **kwargs) -> None:
        if not running:
            running.append(asyncio.create_task(check(), name="end_recovery_at_markers"))


def _install_rebalance(p: _Parts) -> None:
    topics, clock, settings = p.topics, p.clock, p.settings
    marked = frozenset({topics.facts})
    clocked = {*topics.waybill_inputs, topics.gps, *marked}
    # Faust's signal types take no receiver with named arguments; these are called as
    # receiver(app, partitions).
    signals: Any = p.app

    @signals.on_partitions_revoked.connect
    async def _forget_revoked(app, revoked, **kwargs) -> None:
        sources = {(tp.topic, tp.partition) for tp in revoked}
        p.progress.revoked(sources)
        clock.forget(sources)
        p.waybills.forget(tp.partition for tp in revoked if tp.topic == topics.scans)
        p.vehicles.forget(tp.partition for tp in revoked if tp.topic == topics.gps)

    @signals.on_rebalance_complete.connect
    async def _resumed(app, **kwargs) -> None:
        clock.resumed()

    @signals.on_partitions_assigned.connect
    async def _hold_assigned(app, assigned, **kwargs) -> None:
        p.progress.guard_commits()
        if p.transactions is not None:  # producers of the partitions now owned
            await p.transactions.assigned(p.transactions.owned(assigned))
        if not set_fetch_max_wait(app, settings.fetch_max_wait_ms):
            log.warning(
                "cannot set the consumer's fetch wait", fetch_max_wait_ms=settings.fetch_max_wait_ms
            )
        clock.assign({(tp.topic, tp.partition) for tp in assigned if tp.topic in clocked}, marked)
        mine = sorted(tp.partition for tp in assigned if tp.topic == topics.scans)
        loop = type(asyncio.get_running_loop())
        log.info(f"partitions assigned: {topics.scans} {mine}", event_loop=loop.__module__)


def _install_ticks(p: _Parts) -> None:
    """Three timers, so that a flood of waybill ticks (a backlog's scans set aside and
    released) never delays the marks or the vehicle side's ticks."""
    interval = p.settings.tick_interval_s
    facts = p.topics.facts
    said = _Said()

    async def fire_vehicle_deadlines() -> None:
        await p.vehicles.ticks.fire()

    async def send_marks() -> None:
        """The vehicle side's progress, after the facts it covers: when it says
        something new, and at least every MARKS_REPEAT_S (an idle mark is only believed
        while it is repeated, see WatermarkClock._bound). A short tick interval then
        costs nothing while nothing moves, and the waybill side waits less."""
        marks = p.vehicles.marks()
        if not marks:
            return  # the wall clock, or no GPS partition here: nothing to tell
        now = time.monotonic()
        if marks == said.marks and now - said.at < MARKS_REPEAT_S:
            return
        said.marks, said.at = marks, now
        await p.outputs.everywhere_on(facts, b"", encode_marks(marks, wall_us()))

    async def fire_waybill_deadlines() -> None:
        p.waybills.settle_restored()
        await p.waybills.ticks.fire(limit=2_000)

    for timer in (fire_vehicle_deadlines, send_marks, fire_waybill_deadlines):
        p.app.timer(interval=interval, name=timer.__name__)(timer)


@dataclass
class _Said:
    """The last marks sent, and when (monotonic seconds)."""

    marks: list[Mark] | None = None
    at: float = 0.0


def _install_status(p: _Parts) -> None:
    """A status line every 10 s where the clock has something to say (the event clock:
    what holds it back)."""
    progress, waybills, vehicles = p.progress, p.waybills, p.vehicles

    async def status() -> None:
        described = p.clock.describe()
        if described is None:
            return
        aside = min(waybills.waiting.items(), key=lambda kv: kv[1], default=None)
        behind = {
            f"{t}/{n}": [progress.position((t, n)), progress.highwater((t, n))]
            for t, n in p.clock.sources()
            if not progress.caught_up((t, n))
        }
        log.info(
            "event clock",
            clock=described,
            behind=behind,
            set_aside=len(waybills.waiting),
            earliest_aside=aside,
            waybill_ticks_queued=len(waybills.ticks),
            waybill_ticks_in_flight=waybills.ticks.in_flight,
            vehicle_horizon=vehicles.ticks.horizon(),
            vehicle_ticks_in_flight=vehicles.ticks.in_flight,
            vehicle_time=vehicles.ticks.now(),
            waybill_time=waybills.ticks.now(),
        )

    p.app.timer(interval=10.0, name="status")(status)


def _install_web(p: _Parts) -> None:
    """The lookup API and page (parcelwatch/service/web/)."""
    lookup = Lookup(
        p.app,
        p.settings,
        p.ctx,
        p.tables.waybill,
        p.tables.vehicle,
        riders_of(p.waybills),
        p.waybills.ticks.now,
        p.metrics,
    )
    install_web(p.app, lookup)


def _facilities(settings: ServiceSettings, network: Network) -> list[str]:
    """The facilities with a label of their own on per-facility metrics."""
    if settings.metrics_facilities:
        return [f.strip() for f in settings.metrics_facilities.split(",") if f.strip()]
    hubs = sorted(f.id for f in network.facilities.values() if f.is_hub)
    return hubs[: settings.metrics_max_facilities]
