"""Settings of the live service (12-factor: environment variables `PARCELWATCH_*`).

With no bootstrap servers the service starts its own embedded broker. For a real Kafka
cluster set `PARCELWATCH_BOOTSTRAP_SERVERS`, and SASL / TLS as needed; secrets come from
the environment, never from code or files in the repository.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from parcelwatch.network.graph import Network
from parcelwatch.schemas.topics import INPUT_TOPICS, OUTPUT_TOPICS
from parcelwatch.settings import RuleSettings

TABLES = ("waybill-state", "waybill-held", "waybill-fleet", "vehicle-state")
"""The worker's state tables (service/app.py), each changelogged to a compacted topic."""


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARCELWATCH_", extra="ignore")

    app_id: str = "parcelwatch"
    bootstrap_servers: str | None = None
    """Comma-separated host:port list; empty means: start the embedded broker."""
    tansu: bool = False
    """The cluster is a Tansu broker (as the embedded one always is): apply its
    work-arounds (short session timeout, one record per produce batch)."""
    tansu_single_record_batches: bool = True
    """One record per produce batch on Tansu, so that a restarted worker restores its
    tables completely (Tansu misreports the end offset of a multi-record batch). Costs
    most of the throughput; a run that never restores a table (the demo, on a fresh
    broker) may turn it off."""
    network_file: str | None = None
    """Network YAML; default: the bundled network."""
    config_file: str | None = None
    """Rule settings file (as `replay --config`)."""
    clock: Literal["wall", "event"] = "wall"
    """wall: deadlines fire on the wall clock; event: on the latest event time seen
    (backfills, tests, the time-compressed demo)."""
    partitions: int = Field(default=4, ge=1, le=1024)
    replication_factor: int | None = Field(default=None, ge=1, le=10)
    """Replicas of every topic parcelwatch creates (its own, the changelogs); default:
    1 on the embedded broker or Tansu, 3 on a Kafka cluster."""
    store: str = "rocksdb://"
    """Table store: rocksdb:// (production: a restart reads its tables from local disk
    and only the changelog's tail) or memory:// (restores everything from the
    changelog at start). Both are tested by a kill -9 restart."""
    data_dir: str = "./parcelwatch-data"
    tick_interval_s: float = Field(default=0.5, gt=0, le=60)
    commit_interval_s: float = Field(default=2.8, gt=0, le=60)
    """How often consumed offsets are committed (Faust's default); after a crash the
    records since the last commit are read again (outputs are idempotent)."""
    batch_max: int = Field(default=1000, ge=1, le=10_000)
    """Input records an agent takes at once: the GPS side reads and writes each
    vehicle's state once per batch; a batch is delivered before its offsets are acked."""
    batch_within_s: float = Field(default=0.01, gt=0, le=5)
    """How long an agent waits to fill a batch: the latency it may add."""
    event_wait_max_s: float = Field(default=300.0, ge=10, le=86_400)
    """Event clock: how long a partition behind its end that delivers nothing, or a
    partition of the vehicle side that never says how far it got, may hold time back
    after the last rebalance's recovery (then a warning, and time goes on)."""
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    """at_least_once: after a crash, what was processed since the last commit is processed
    again, and its outputs sent again with the same ids (harmless to consumers that key
    on them). exactly_once (Apache Kafka only): each micro-batch's outputs, table
    changes and input offsets in one transaction, read_committed inputs, the tables
    restored from their changelogs at every start (parcelwatch/service/transactions.py).
    Consumers of the outputs then read with isolation.level=read_committed."""
    transaction_timeout_s: float = Field(default=60.0, ge=1, le=900)
    """exactly_once: how long the broker lets a transaction stay open before it aborts
    it (a worker that died with one open and whose partitions nobody took over)."""
    session_timeout_s: float = Field(default=10.0, ge=2, le=300)
    """How long the group waits for a silent worker before it hands its partitions to
    the others (a worker killed with kill -9, a host lost): the fail-over time, and how
    long a restarted worker waits to rejoin. Faust's own is 60 s; heartbeats go every
    tenth of it. On Tansu 6 s (its group joins take about half of it)."""
    fetch_max_wait_ms: int = Field(default=20, ge=0, le=1500)
    """How long a fetch waits at the broker for new records (Faust's own is 1.5 s): a
    record that arrives while the worker is caught up can wait that long."""
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    """The worker's event loop: uvloop (libuv), or the standard library's asyncio where
    uvloop cannot go. Measured in README (Performance): no worse, often faster."""
    web_port: int | None = Field(default=None, ge=0, le=65535)
    """The lookup API and the agents' page (parcelwatch/service/web/), on Faust's web server; None:
    disabled."""
    web_host: str | None = None
    """The host name other workers reach this one's web server by (requests for keys
    another worker owns are passed on to it); default: this machine's host name."""
    web_bind: str = "0.0.0.0"
    api_token: SecretStr | None = None
    """A bearer token the API and the page require (`Authorization: Bearer ...`, or the
    page's sign-in cookie); None: open, for a network only agents reach."""
    api_rate_per_s: float = Field(default=50.0, gt=0, le=100_000)
    """Requests a client (by address) may make per second, on average..."""
    api_burst: int = Field(default=100, ge=1, le=1_000_000)
    """...and at once; past either, 429 with Retry-After."""
    api_peer_timeout_s: float = Field(default=2.0, gt=0, le=60)
    """How long a worker waits for another it asks for a key it does not own."""

    # Operations.
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    """Prometheus /metrics on this port (0: any free port, logged); see `metrics`."""
    metrics: bool = True
    metrics_host: str = "0.0.0.0"
    metrics_facilities: str | None = None
    """Comma-separated facility ids that get a label of their own on per-facility
    metrics; default: every hub of the network (at most `metrics_max_facilities`).
    Everything else is counted as "other", so label cardinality stays bounded."""
    metrics_max_facilities: int = Field(default=100, ge=0, le=1000)
    log_level: str = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    """auto: readable on a terminal, JSON lines otherwise (production)."""

    # Topic names (CONTRACT §1).
    topic_waybills: str = "parcel.waybills"
    topic_scans: str = "parcel.scans"
    topic_gps: str = "vehicle.gps"
    topic_exceptions: str = "parcel.exceptions"
    topic_notifications: str = "parcel.notifications"
    topic_tickets: str = "parcel.tickets"
    topic_dead_letters: str = "parcel.dead-letters"

    # Security for a real cluster.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    def replication(self, embedded: bool = False) -> int:
        if self.replication_factor is not None:
            return self.replication_factor
        return 1 if embedded or self.tansu or not self.bootstrap_servers else 3

    def contract_topics(self) -> dict[str, str]:
        """Logical name -> Kafka topic of the contract's topics (CONTRACT §1)."""
        return {name: getattr(self, f"topic_{name}") for name in (*INPUT_TOPICS, *OUTPUT_TOPICS)}

    def internal(self, name: str) -> str:
        """Name of an internal topic (repartitioning between the two sides, ticks)."""
        return f"{self.app_id}.{name}"

    def changelog(self, table: str) -> str:
        """The compacted topic Faust keeps `table`'s changes on."""
        return f"{self.app_id}-{table}-changelog"

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security_protocol not in ("SSL", "SASL_SSL"):
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context


@dataclass(frozen=True)
class Topics:
    waybills: str
    scans: str
    gps: str
    exceptions: str
    tickets: str
    notifications: str
    dead_letters: str
    facts: str
    waybill_ticks: str
    vehicle_ticks: str

    @cached_property
    def inputs(self) -> dict[str, str]:
        """Input topic -> its logical name (metric labels)."""
        return {self.waybills: "waybills", self.scans: "scans", self.gps: "gps"}

    @property
    def waybill_inputs(self) -> tuple[str, str]:
        """The orders and scans topics: a parcel's inputs, applied in time order across
        the two on the event clock."""
        return (self.waybills, self.scans)

    @classmethod
    def from_settings(cls, s: ServiceSettings) -> Topics:
        return cls(
            s.topic_waybills,
            s.topic_scans,
            s.topic_gps,
            s.topic_exceptions,
            s.topic_tickets,
            s.topic_notifications,
            s.topic_dead_letters,
            s.internal("vehicle-facts"),
            s.internal("waybill-ticks"),
            s.internal("vehicle-ticks"),
        )


def rules_of(settings: ServiceSettings) -> tuple[Network, RuleSettings]:
    """The network and rule settings a service's settings name (the bundled network by
    default)."""
    path = settings.network_file or Path(str(files("parcelwatch") / "data" / "network.yaml"))
    return Network.load(path), RuleSettings.load(settings.config_file)
