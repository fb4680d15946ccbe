"""Input builders and readers: a small network, replay streams built record by record,
replay's output files read back, and the Debian tools the tests run."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from parcelwatch.detection.detector import Detector
from parcelwatch.detection.errors import InvalidRecord

NETWORK_YAML = """
facilities:
  - {id: A-OUT, name: 甲网点, kind: outlet, city: 甲, lat: 22.50, lon: 113.90}
  - {id: A-HUB, name: 甲转运中心, kind: hub, city: 甲, lat: 22.70, lon: 114.10}
  - {id: B-HUB, name: 乙转运中心, kind: hub, city: 乙, lat: 24.00, lon: 114.00}
  - {id: C-HUB, name: 丙转运中心, kind: hub, city: 丙, lat: 26.00, lon: 114.00}
  - {id: C-OUT, name: 丙网点, kind: outlet, city: 丙, lat: 26.20, lon: 114.20}
  - {id: X-HUB, name: 戊转运中心, kind: hub, city: 戊, lat: 24.00, lon: 116.00}
lanes:
  - {from: A-OUT, to: A-HUB, hours: 1}
  - {from: A-HUB, to: B-HUB, hours: 4}
  - {from: B-HUB, to: C-HUB, hours: 4}
  - {from: C-HUB, to: C-OUT, hours: 1}
  - {from: B-HUB, to: X-HUB, hours: 3}
"""


def feed(detector: Detector, record: Any) -> str | None:
    """Feed one record as replay does: a refused one (CONTRACT §7) is a dead letter, not a
    failure. Returns the refusal's reason, or None when the record was applied."""
    try:
        detector.feed(record)
    except InvalidRecord as exc:
        return exc.reason
    return None


ROUTE = ["A-OUT", "A-HUB", "B-HUB", "C-HUB", "C-OUT"]


COORDS = {
    "A-OUT": (22.50, 113.90),
    "A-HUB": (22.70, 114.10),
    "B-HUB": (24.00, 114.00),
    "C-HUB": (26.00, 114.00),
    "C-OUT": (26.20, 114.20),
    "X-HUB": (24.00, 116.00),
}


BASE = datetime.fromisoformat("2026-11-20T08:00:00+08:00")


def at(hours: float) -> str:
    """An ISO timestamp `hours` after the test epoch (2026-11-20 08:00 Beijing time)."""
    return (BASE + timedelta(hours=hours)).isoformat()


def utc(hours: float) -> str:
    """The same instant as `at(hours)`, as parcelwatch writes it (UTC, +00:00)."""
    return (BASE + timedelta(hours=hours)).astimezone(UTC).isoformat()


class Events:
    """Builds a replay stream (CONTRACT §8) with times given in hours after BASE."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._ids = itertools.count(1)

    def add(self, topic: str, value: Any, key: str | None = None) -> Events:
        record: dict[str, Any] = {"topic": topic, "value": value}
        if key is not None:
            record["key"] = key
        self.lines.append(json.dumps(record, ensure_ascii=False))
        return self

    def waybill(
        self,
        no: str = "WB1",
        *,
        created: float = 0,
        promised: float | None = 48,
        product: str = "STANDARD",
        route: list[str] | None = ROUTE,
        origin: str = "A-OUT",
        destination: str = "C-OUT",
        insured: float = 0,
        name: str = "张伟",
        locale: str = "zh-CN",
        timezone: str = "Asia/Shanghai",
        **extra: Any,
    ) -> Events:
        value: dict[str, Any] = {
            "waybill_no": no,
            "product": product,
            "created_at": at(created),
            "origin_facility_id": origin,
            "destination_facility_id": destination,
            "insured_value": insured,
            "recipient": {
                "name": name,
                "phone": "13800138000",
                "locale": locale,
                "timezone": timezone,
            },
        }
        if promised is not None:
            value["promised_at"] = at(promised)
        if route is not None:
            value["planned_route"] = route
        value.update(extra)
        return self.add("waybills", value)

    def scan(
        self,
        kind: str,
        facility: str,
        hours: float,
        no: str = "WB1",
        event_id: str | None = None,
        **extra: Any,
    ) -> Events:
        value = {
            "event_id": event_id or f"ev-{next(self._ids)}",
            "waybill_no": no,
            "facility_id": facility,
            "event_time": at(hours),
            "scan_type": kind,
            **extra,
        }
        return self.add("scans", value)

    def gps(self, vehicle: str, hours: float, lat: float, lon: float) -> Events:
        return self.add(
            "gps", {"vehicle_id": vehicle, "event_time": at(hours), "lat": lat, "lon": lon}
        )

    def journey(self, no: str = "WB1", start: float = 1, vehicle: str = "T1") -> Events:
        """A clean, on-time trip along ROUTE starting at `start` hours."""
        h = start
        self.scan("PICKUP", "A-OUT", h, no)
        self.scan("HUB_ARRIVAL", "A-HUB", h + 2, no)
        self.scan("HUB_DEPARTURE", "A-HUB", h + 3, no, vehicle_id=vehicle)
        self.scan("HUB_ARRIVAL", "B-HUB", h + 7, no)
        self.scan("HUB_DEPARTURE", "B-HUB", h + 8, no, vehicle_id=vehicle)
        self.scan("HUB_ARRIVAL", "C-HUB", h + 12, no)
        self.scan("HUB_DEPARTURE", "C-HUB", h + 13, no)
        self.scan("HUB_ARRIVAL", "C-OUT", h + 14, no)
        self.scan("OUT_FOR_DELIVERY", "C-OUT", h + 15, no)
        self.scan("DELIVERED", "C-OUT", h + 16, no)
        return self

    def raw(self, line: str) -> Events:
        self.lines.append(line)
        return self

    def in_time_order(self) -> Events:
        """The records sorted by their own time (a stream with no late upload)."""

        def when(line: str) -> str:
            value = json.loads(line)["value"]
            return value.get("event_time") or value["created_at"]

        self.lines.sort(key=when)
        return self

    def write(self, path: Path) -> Path:
        path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        return path


@dataclass
class Outputs:
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)

    def of(self, exc_type: str, waybill: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.exceptions
            if e["type"] == exc_type and (waybill is None or e["waybill_no"] == waybill)
        ]

    def statuses(self, exc_type: str, waybill: str | None = None) -> list[str]:
        return [e["status"] for e in self.of(exc_type, waybill)]

    def types(self) -> set[str]:
        return {e["type"] for e in self.exceptions}


def read_outputs(out: Path) -> Outputs:
    def load(name: str) -> list[dict[str, Any]]:
        text = (out / name).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line]

    return Outputs(
        load("exceptions.jsonl"),
        load("tickets.jsonl"),
        load("notifications.jsonl"),
        load("dead_letters.jsonl"),
    )


SIM_START = datetime.fromisoformat("2026-11-11T00:00:00+08:00")


def fast_config(**faults) -> Any:
    """Sparser GPS (every 5-10 min) keeps tests quick; every rule still sees its facts."""
    from parcelwatch.sim.config import SimConfig

    return SimConfig.model_validate({"ping_seconds": (300, 600), "faults": faults})


DEBIAN_TOOLS = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "docker-compose": "docker-compose",
    "kcat": "kcat",
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
}


def tool(name: str) -> str:
    """The path of a command from a Debian package. Missing: a failure in CI (.ci/run
    installs it), a skip elsewhere, naming the package to install."""
    import os
    import shutil

    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install {DEBIAN_TOOLS.get(name, name)})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
