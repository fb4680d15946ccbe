"""Gauges of the live pipeline, read at scrape time from what the handlers and the
consumer know (parcelwatch/service/app.py registers them)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import faust
from faust.types import TableT

from parcelwatch.schemas.outputs import ExceptionType
from parcelwatch.service.faust_compat import rocksdb_key_estimate
from parcelwatch.service.handlers import VehicleHandler, WaybillHandler
from parcelwatch.service.metrics import Metrics


def _table_keys(table: TableT) -> int:
    """Keys in a table: RocksDB's estimate (counting them would read the whole store at
    every scrape), or the exact count of an in-memory table."""
    estimate = rocksdb_key_estimate(table)
    return len(table.data) if estimate is None else estimate


def register_gauges(
    metrics: Metrics,
    app: faust.App,
    waybills: WaybillHandler,
    vehicles: VehicleHandler,
    tables: dict[str, TableT],
    position: Callable[[tuple[str, int]], int | None],
) -> None:
    """Gauges read at scrape time, from what the handlers and the consumer know. The
    scrape runs in the metrics server's thread while the event loop changes these
    dicts: each is copied first (`list()` of a dict view runs under the GIL at once)."""

    def open_by_type():
        counts = Counter(t for _, eps in list(waybills.open.values()) for t, _ in eps)
        return [((kind.value,), counts.get(kind.value, 0)) for kind in ExceptionType]

    def open_by_facility():
        counts = Counter(
            (metrics.facility(f), t) for _, eps in list(waybills.open.values()) for t, f in eps
        )
        return [(k, v) for k, v in sorted(counts.items())]

    def vehicles_by_condition():
        counts = Counter(c for _, c in list(vehicles.conditions.values()))
        return [((c,), counts.get(c, 0)) for c in ("OK", "STATIONARY", "SILENT")]

    def lag():
        out = []  # only partitions assigned now: revoked ones' high-water marks go stale
        for tp in sorted(app.consumer.assignment()):
            offset = position((tp.topic, tp.partition))
            high = app.consumer.highwater(tp) if offset is not None else None
            if offset is not None and high is not None:
                out.append(((tp.topic, str(tp.partition)), max(high - offset, 0)))
        return out

    metrics.gauge(
        "parcelwatch_open_exceptions",
        "Open exception episodes of the parcels this worker owns, by type.",
        ("type",),
        open_by_type,
    )
    metrics.gauge(
        "parcelwatch_open_exceptions_by_facility",
        "Open exception episodes by facility (allow-listed, else 'other') and type.",
        ("facility", "type"),
        open_by_facility,
    )
    metrics.gauge(
        "parcelwatch_vehicles",
        "Vehicles this worker owns, by GPS condition.",
        ("condition",),
        vehicles_by_condition,
    )
    metrics.gauge(
        "parcelwatch_deadline_backlog",
        "Deadlines due and not yet processed, by side.",
        ("side",),
        lambda: [
            (("waybill",), waybills.ticks.backlog()),
            (("vehicle",), vehicles.ticks.backlog()),
        ],
    )
    metrics.gauge(
        "parcelwatch_deadlines_scheduled",
        "Keys with a deadline pending, by side.",
        ("side",),
        lambda: [(("waybill",), len(waybills.ticks)), (("vehicle",), len(vehicles.ticks))],
    )
    metrics.gauge(
        "parcelwatch_parcels_set_aside",
        "Parcels with inputs set aside for the vehicle side (event clock).",
        (),
        lambda: [((), len(waybills.waiting))],
    )
    metrics.gauge(
        "parcelwatch_set_aside_oldest_age_seconds",
        "How long the parcel waiting longest has had inputs set aside (event clock; 0: none).",
        (),
        lambda: [((), waybills.oldest_aside_s(time.monotonic()))],
    )
    metrics.gauge(
        "parcelwatch_table_keys",
        "Keys in each state table on this worker (RocksDB: its estimate).",
        ("table",),
        lambda: [((name,), _table_keys(table)) for name, table in tables.items()],
    )
    metrics.gauge(
        "parcelwatch_consumer_lag",
        "Records not yet processed, per topic "
        "partition this worker reads (high-water mark minus position).",
        ("topic", "partition"),
        lag,
    )
