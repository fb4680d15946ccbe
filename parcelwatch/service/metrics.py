"""Prometheus metrics of a worker (listed in the README, used by deploy/).

Counters and histograms are updated where records pass (parcelwatch/service/handlers.py, the
agents in parcelwatch/service/app.py); gauges whose truth lives elsewhere (open exceptions, vehicles
by condition, the deadline backlog, table sizes, consumer lag) are read when Prometheus
scrapes, from functions the app registers. Every label has a bounded set of values:
exception types, severities, departments, topics, reasons come from closed vocabularies,
and facility ids are kept to an allow-list (`facility`), everything else being "other".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from parcelwatch.schemas.outputs import ExceptionRecord, ExceptionType, Notification, Ticket

log = logging.getLogger(__name__)

# `*_created` samples are separate gauge series in the text format Prometheus scrapes:
# one more series per counter and histogram child, that no query here uses.
disable_created_metrics()

OTHER = "other"
"""The facility label of every facility not on the allow-list."""

# Detection and processing happen in milliseconds to minutes; deadline ticks can lag by
# the tick interval, and a backlog by much more.
_DELAY_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

GaugeSource = Callable[[], Iterable[tuple[tuple[str, ...], float]]]
"""Returns (label values, value) pairs when scraped."""


class _Gauges(Collector):
    """Gauges computed at scrape time."""

    def __init__(self) -> None:
        self.sources: list[tuple[str, str, tuple[str, ...], GaugeSource]] = []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, doc, labels, source in self.sources:
            family = GaugeMetricFamily(name, doc, labels=list(labels))
            try:
                for values, value in source():
                    family.add_metric(list(values), value)
            except Exception:  # a scrape never fails the worker, nor the other gauges
                log.exception("metric %s could not be read", name)
                continue
            yield family

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(name, doc, labels=list(labels))
            for name, doc, labels, _ in self.sources
        ]


class Metrics:
    """The metrics of one worker, on a registry of its own (tests run several)."""

    def __init__(
        self, registry: CollectorRegistry | None = None, facilities: Collection[str] = ()
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.facilities = frozenset(facilities)
        r = self.registry
        self.inputs = Counter(
            "parcelwatch_input_records",
            "Input records read, by topic (logical name) and scan type ('' for orders and pings).",
            ["topic", "scan_type"],
            registry=r,
        )
        self.dead_letters = Counter(
            "parcelwatch_dead_letters",
            "Records sent to dead letters, by source topic and reason.",
            ["topic", "reason"],
            registry=r,
        )
        self.exceptions = Counter(
            "parcelwatch_exceptions",
            "Exception events published, by type, severity and status (OPEN, UPDATED, RESOLVED).",
            ["type", "severity", "status"],
            registry=r,
        )
        self.facility_exceptions = Counter(
            "parcelwatch_facility_exceptions",
            "Exception episodes opened, by facility (allow-listed, else 'other') and type.",
            ["facility", "type"],
            registry=r,
        )
        self.tickets = Counter(
            "parcelwatch_tickets",
            "Ticket events published, by department, priority and status.",
            ["department", "priority", "status"],
            registry=r,
        )
        self.notifications = Counter(
            "parcelwatch_notifications",
            "Customer notifications published, by channel and locale.",
            ["channel", "locale"],
            registry=r,
        )
        self.notifications_held = Counter(
            "parcelwatch_notifications_held",
            "Notifications held for the recipient's quiet "
            "hours (send_after later than created_at), by channel and locale.",
            ["channel", "locale"],
            registry=r,
        )
        self.detection_delay = Histogram(
            "parcelwatch_detection_delay_seconds",
            "From the moment an exception became "
            "due (its deadline, or the scan or signal that shows it) to its detection, on "
            "the wall clock; not observed on the event clock, where it is 0 by design.",
            ["type"],
            buckets=_DELAY_BUCKETS,
            registry=r,
        )
        self.latency = Histogram(
            "parcelwatch_processing_latency_seconds",
            "From an input record's broker "
            "timestamp to the end of its processing, outputs handed to the producer.",
            ["topic"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rereads = Counter(
            "parcelwatch_input_rereads",
            "Input partitions the consumer stopped delivering "
            "short of their end, sought back to their next offset to process, by topic.",
            ["topic"],
            registry=r,
        )
        self.http_requests = Counter(
            "parcelwatch_http_requests",
            "Lookup API and page requests, by route (its template: bounded) and status code.",
            ["route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "parcelwatch_http_request_seconds",
            "Lookup API and page requests, from their "
            "arrival to their answer (asking another worker included), by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        for kind in ExceptionType:  # every type has its series from the start
            self.detection_delay.labels(kind.value)
        # The series of the per-record metrics, by label values (bounded: topics, scan
        # types): an increment per record without a labels() lookup each time.
        self._inputs: dict[tuple[str, ...], Any] = {}
        self._latency: dict[tuple[str, ...], Any] = {}
        self._gauges = _Gauges()
        r.register(self._gauges)

    # -- updated where records pass --------------------------------------------------
    def facility(self, facility_id: str | None) -> str:
        """The bounded label of a facility."""
        return facility_id if facility_id in self.facilities else OTHER

    def input(self, topic: str, scan_type: str = "") -> None:
        _series(self.inputs, self._inputs, topic, scan_type).inc()

    def dead_letter(self, topic: str, reason: str) -> None:
        self.dead_letters.labels(topic, reason).inc()

    def output(self, record: Any, due_us: int | None = None, now_us: int | None = None) -> None:
        """An exception, ticket or notification record on its way out. `due_us`/`now_us`:
        when it became due and when it was detected (wall clock), for the delay."""
        if isinstance(record, ExceptionRecord):
            kind = _v(record.type)
            self.exceptions.labels(kind, _v(record.severity), _v(record.status)).inc()
            if _v(record.status) == "OPEN":
                self.facility_exceptions.labels(self.facility(record.facility_id), kind).inc()
                if due_us is not None and now_us is not None:
                    self.detection_delay.labels(kind).observe(max(now_us - due_us, 0) / 1e6)
        elif isinstance(record, Ticket):
            self.tickets.labels(_v(record.department), _v(record.priority), _v(record.status)).inc()
        elif isinstance(record, Notification):
            channel, locale = _v(record.channel), _v(record.locale)
            self.notifications.labels(channel, locale).inc()
            if record.send_after > record.created_at:
                self.notifications_held.labels(channel, locale).inc()

    def http(self, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(route, str(status)).inc()
        self.http_latency.labels(route).observe(seconds)

    def reread(self, topic: str) -> None:
        self.rereads.labels(topic).inc()

    def processed(self, topic: str, seconds: float) -> None:
        """An input record done, `seconds` after its broker timestamp."""
        _series(self.latency, self._latency, topic).observe(max(seconds, 0.0))

    # -- read at scrape time ---------------------------------------------------------
    def gauge(self, name: str, doc: str, labels: tuple[str, ...], source: GaugeSource) -> None:
        self._gauges.sources.append((name, doc, labels, source))

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Serve /metrics on `port` (0: any free port) in a thread; the port bound.
        OSError if it cannot be bound: a worker that ran on would leave `curl :9108`
        showing another process's metrics, and dashboards blind to this one."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = (server, thread)
        bound = server.server_address[1]
        log.info("metrics on http://%s:%s/metrics", host, bound)
        return bound

    def close(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server[0].shutdown()
            threading.Thread(target=server[0].server_close, daemon=True).start()


def _series(metric: Any, kept: dict[tuple[str, ...], Any], *labels: str) -> Any:
    """`metric`'s series for `labels`, kept in `kept`: labels() costs more than the
    increment it serves, so the per-record metrics look each series up once."""
    series = kept.get(labels)
    if series is None:
        series = kept[labels] = metric.labels(*labels)
    return series


def _v(value: Any) -> str:
    """An enum's value (records built from the core carry enums), else the text."""
    return str(getattr(value, "value", value))
