"""What the live agents do with one message, without Faust: decode at the edge, load the
key's state from the table, run the core, store the state, and say what to send where.
The Faust agents (stream/app.py) are thin loops around these."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ..core.clock import to_us
from ..core.codec import dump_vehicle, dump_waybill, load_vehicle, load_waybill
from ..core.vehicles import VehicleProcessor, VehicleStep
from ..core.waybills import WaybillProcessor, WaybillStep
from ..intake import InvalidRecord, dead_letter, decode
from ..rules.base import RuleContext
from ..schemas import GpsPing, Waybill, to_json
from ..service import ServiceSettings
from .clock import LiveClock, wall_us
from .deadlines import TickSource
from .messages import decode_manifest, decode_signal, decode_tick, encode_manifest, encode_signal

Send = tuple[str, bytes, bytes]
"""(topic name, key, value) to produce."""


@dataclass(frozen=True)
class Topics:
    waybills: str
    scans: str
    gps: str
    exceptions: str
    tickets: str
    notifications: str
    dead_letters: str
    manifest: str
    signals: str
    waybill_ticks: str
    vehicle_ticks: str

    @classmethod
    def from_settings(cls, s: ServiceSettings) -> Topics:
        return cls(
            s.topic_waybills, s.topic_scans, s.topic_gps, s.topic_exceptions, s.topic_tickets,
            s.topic_notifications, s.topic_dead_letters, s.internal("vehicle-manifest"),
            s.internal("vehicle-signals"), s.internal("waybill-ticks"), s.internal("vehicle-ticks"),
        )  # fmt: skip


class _Base:
    def __init__(self, topics: Topics, clock: LiveClock, ticks: TickSource) -> None:
        self.topics = topics
        self.clock = clock
        self.ticks = ticks
        self._output_topics = {
            "exceptions": topics.exceptions,
            "tickets": topics.tickets,
            "notifications": topics.notifications,
        }

    def _dead_letter(self, topic: str, key: bytes | None, raw: bytes, exc: InvalidRecord) -> Send:
        letter = dead_letter(
            topic,
            raw,
            f"{exc.reason}: {exc}",
            datetime.fromtimestamp(wall_us() / 1e6, tz=UTC),
            key=key.decode("utf-8", "replace")[:200] if key is not None else None,
        )
        return (self.topics.dead_letters, key or b"", to_json(letter))

    def _outputs(self, step: WaybillStep, out: list[Send]) -> None:
        key = step.state.waybill_no.encode()
        names = self._output_topics
        for logical, record in step.outputs:
            out.append((names[logical], key, to_json(record)))


class WaybillHandler(_Base):
    """Waybills, scans, vehicle signals and ticks, keyed by waybill_no."""

    def __init__(self, ctx: RuleContext, topics: Topics, clock: LiveClock, ticks: TickSource,
                 table: MutableMapping[bytes, bytes]) -> None:  # fmt: skip
        super().__init__(topics, clock, ticks)
        self.ctx = ctx
        self.side = WaybillProcessor(ctx)
        self.table = table

    def handle(self, topic: str, partition: int, key: bytes | None, raw: bytes) -> list[Send]:
        out: list[Send] = []
        t = self.topics
        if topic == t.waybill_ticks:
            data = self.table.get(key)
            if data is None:
                return out
            step = self.side.tick(load_waybill(data), self.clock.for_tick(decode_tick(raw)))
        elif topic == t.signals:
            signal = decode_signal(raw)
            data = self.table.get(key)
            w = load_waybill(data) if data is not None else None
            now = self.clock.for_key(w.clock if w is not None else None, signal.at)
            step = self.side.vehicle_signal(w, signal, now)
            if step is None:
                return out
        else:
            logical = "waybills" if topic == t.waybills else "scans"
            try:
                record = decode(logical, raw, self.ctx.network)
            except InvalidRecord as exc:
                return [self._dead_letter(topic, key, raw, exc)]
            own_key = record.waybill_no.encode()
            if key != own_key:  # keyed wrongly upstream: re-key, so state stays partitioned
                return [(topic, own_key, raw)]
            data = self.table.get(key)
            w = load_waybill(data) if data is not None else None
            if isinstance(record, Waybill):
                now = self.clock.observe(None, to_us(record.created_at))
                step = self.side.register(w, record, now)
            else:
                now = self.clock.observe((topic, partition), to_us(record.event_time))
                step = self.side.scan(w, record, now)
        self.table[key] = dump_waybill(step.state)
        self.ticks.track(step.state.waybill_no, step.state.deadline)
        self._outputs(step, out)
        for change in step.manifest:
            out.append((t.manifest, change.vehicle_id.encode(), encode_manifest(change)))
        return out


class VehicleHandler(_Base):
    """GPS pings, manifest changes and ticks, keyed by vehicle_id."""

    def __init__(self, ctx: RuleContext, topics: Topics, clock: LiveClock, ticks: TickSource,
                 table: MutableMapping[bytes, bytes]) -> None:  # fmt: skip
        super().__init__(topics, clock, ticks)
        self.ctx = ctx
        self.side = VehicleProcessor(ctx)
        self.table = table

    def handle(self, topic: str, partition: int, key: bytes | None, raw: bytes) -> list[Send]:
        t = self.topics
        if topic == t.vehicle_ticks:
            data = self.table.get(key)
            if data is None:
                return []
            step: VehicleStep = self.side.tick(
                load_vehicle(data), self.clock.for_tick(decode_tick(raw))
            )
        elif topic == t.manifest:
            change = decode_manifest(raw)
            data = self.table.get(key)
            v = load_vehicle(data) if data is not None else None
            now = self.clock.for_key(v.clock if v is not None else None, change.at)
            step = self.side.manifest(v, change, now)
        else:
            try:
                ping = decode("gps", raw, self.ctx.network)
            except InvalidRecord as exc:
                return [self._dead_letter(topic, key, raw, exc)]
            assert isinstance(ping, GpsPing)
            own_key = ping.vehicle_id.encode()
            if key != own_key:
                return [(topic, own_key, raw)]
            data = self.table.get(key)
            v = load_vehicle(data) if data is not None else None
            now = self.clock.observe((topic, partition), to_us(ping.event_time))
            step = self.side.ping(v, ping, now)
        self.table[key] = dump_vehicle(step.state)
        self.ticks.track(step.state.vehicle_id, step.state.deadline)
        return [(t.signals, s.waybill_no.encode(), encode_signal(s)) for s in step.signals]
