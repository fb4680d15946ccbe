"""A small network with a timetable for the ETA models' tests (detection/eta.py and
detection/expected.py), and parcels placed on it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from parcelwatch.clock import to_datetime, to_us
from parcelwatch.detection.context import RuleContext
from parcelwatch.detection.state import WaybillState
from parcelwatch.network.graph import Network
from parcelwatch.settings import RuleSettings

# O (origin outlet) -> H1 -> H2 -> D (destination outlet), all times Beijing local unless
# a test gives D another zone. Lanes 1 h, 5 h, 1 h.
NET = """
facilities:
  - {id: O, name: o, kind: outlet, city: a, lat: 22.5, lon: 113.9, handling_hours: 1,
     delivery_window: ["08:00", "18:00"]}
  - {id: H1, name: h1, kind: hub, city: a, lat: 22.7, lon: 114.1}
  - {id: H2, name: h2, kind: hub, city: b, lat: 26.0, lon: 114.0}
  - {id: D, name: d, kind: outlet, city: b, lat: 26.2, lon: 114.2, handling_hours: 1,
     delivery_window: ["09:00", "17:00"], tz: TZ}
lanes:
  - {from: O, to: H1, hours: 1}
  - {from: H1, to: H2, hours: 5}
  - {from: H2, to: D, hours: 1}
schedules:
  - {from: O, to: H1, departures: ["10:00", "16:00"]}
  - {from: H1, to: H2, departures: ["02:00", "14:00"]}
  - {from: H2, to: D, departures: ["06:00", "12:00"]}
"""
ROUTE = ("O", "H1", "H2", "D")


def make_ctx(tz: str = "Asia/Shanghai", **overrides) -> RuleContext:
    return RuleContext.create(
        Network.from_yaml_text(NET.replace("TZ", tz)), RuleSettings(**overrides)
    )


def bj(text: str, tz: str = "Asia/Shanghai") -> int:
    """µs of a local time 'MM-DD HH:MM' in 2026."""
    return to_us(datetime.fromisoformat(f"2026-{text}").replace(tzinfo=ZoneInfo(tz)))


def show(t: int | None, tz: str = "Asia/Shanghai") -> str | None:
    return None if t is None else to_datetime(t).astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")


def parcel(
    kind: str | None = None,
    facility: str | None = None,
    at: str | None = None,
    stay: str | None = None,
    next_facility: str | None = None,
) -> WaybillState:
    w = WaybillState("WB1")
    w.origin, w.destination, w.route = "O", "D", ROUTE
    w.created_at = bj("11-20 08:00")
    if kind is not None:
        w.last_type, w.last_facility, w.last_at = kind, facility, bj(at)  # type: ignore[arg-type]
        w.stay_at = bj(stay) if stay else w.last_at
        w.last_next = next_facility
    return w
