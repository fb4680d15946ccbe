"""The facility network: loading and validating the YAML file, the lane graph with
shortest paths by hours, and a grid index for nearest-facility / geofence look-ups.

Everything here is read-only after loading and shared by all waybills, so look-ups that
repeat (distances to a destination, route profiles) are cached.
"""

from __future__ import annotations

import heapq
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from parcelwatch.network.timetable import Departures, Window, format_clock, parse_clock
from parcelwatch.schemas.common import FacilityId, TimeZoneName

EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG_LAT = math.pi * EARTH_RADIUS_M / 180.0


class NetworkError(ValueError):
    """The network file is unusable; the message names the bad entry."""


DEFAULT_TZ = "Asia/Shanghai"

ClockTime = Annotated[int, BeforeValidator(parse_clock)]
"""An `HH:MM` text in the file, minutes after local midnight once loaded."""
WindowEnd = Annotated[int, BeforeValidator(lambda text: parse_clock(text, allow_midnight_end=True))]
"""As ClockTime, and "24:00" (midnight at the end of the day)."""


class FacilitySpec(BaseModel):
    # Unknown keys (a province, an address) are ignored: network files come from
    # planning tools that know more than we need.
    model_config = ConfigDict(extra="ignore", frozen=True)
    id: FacilityId
    name: Annotated[str, Field(min_length=1, max_length=100)]
    kind: Literal["hub", "outlet"]
    city: Annotated[str, Field(min_length=1, max_length=100)]
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    # Planning data (CONTRACT §3), all optional.
    tz: TimeZoneName = DEFAULT_TZ
    handling_hours: Annotated[float, Field(ge=0, le=240, allow_inf_nan=False)] | None = None
    delivery_window: tuple[ClockTime, WindowEnd] | None = None


class ScheduleSpec(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    from_: FacilityId = Field(alias="from")
    to: FacilityId
    departures: Annotated[list[ClockTime], Field(min_length=1)]


class LaneSpec(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    from_: FacilityId = Field(alias="from")
    to: FacilityId
    hours: Annotated[float, Field(gt=0, le=24 * 30, allow_inf_nan=False)]
    oneway: bool = False


class NetworkSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    facilities: Annotated[list[FacilitySpec], Field(min_length=1)]
    lanes: list[LaneSpec] = []
    schedules: list[ScheduleSpec] = []


@dataclass(frozen=True, slots=True)
class Facility:
    id: str
    name: str
    kind: str
    city: str
    lat: float
    lon: float
    tz: str = DEFAULT_TZ
    handling_hours: float | None = None
    """Planned arrival-to-ready time; None: the `handling_hours` setting (2 h)."""
    window: Window | None = None
    """Outlets: couriers go out only inside it; None: any time."""

    @property
    def is_hub(self) -> bool:
        return self.kind == "hub"


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


_RAD = math.pi / 180.0


def local_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Equirectangular distance: within 0.1 % of the great circle below ~50 km, and three
    times cheaper. For geofences and stationary checks, never for lane lengths."""
    x = (lon2 - lon1) * math.cos((lat1 + lat2) * 0.5 * _RAD)
    y = lat2 - lat1
    return _M_PER_DEG_LAT * math.sqrt(x * x + y * y)


def _format_error(source: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ""
    for part in first["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = first["msg"].removeprefix("Value error, ")
    return f"{source}: {where or 'file'}: {message}"


def _facility(source: str, i: int, f: FacilitySpec) -> Facility:
    window = None
    if f.delivery_window is not None:
        where = f"{source}: facilities[{i}] ({f.id})"
        if f.kind != "outlet":
            raise NetworkError(f"{where}: a delivery_window belongs to an outlet, not a {f.kind}")
        start, end = f.delivery_window
        if start == end % 1440:
            raise NetworkError(
                f"{where}: delivery_window {format_clock(start)}-{format_clock(end)} is empty"
            )
        window = Window(start, end, f.tz)
    return Facility(
        sys.intern(f.id), f.name, f.kind, f.city, f.lat, f.lon, f.tz, f.handling_hours, window
    )


def _schedules(
    source: str, spec: NetworkSpec, zones: dict[str, str]
) -> dict[tuple[str, str], Departures]:
    """Timetables by direction; every direction must be a lane that runs that way."""
    directions: set[tuple[str, str]] = set()
    for lane in spec.lanes:
        directions.add((lane.from_, lane.to))
        if not lane.oneway:
            directions.add((lane.to, lane.from_))
    out: dict[tuple[str, str], Departures] = {}
    for i, entry in enumerate(spec.schedules):
        where = f"{source}: schedules[{i}]"
        pair = (entry.from_, entry.to)
        for end in pair:
            if end not in zones:
                raise NetworkError(f"{where}: unknown facility {end!r}")
        if pair not in directions:
            against = (entry.to, entry.from_) in directions
            raise NetworkError(
                f"{where}: {entry.from_} -> {entry.to} "
                + ("runs against a oneway lane" if against else "is not a lane")
            )
        if pair in out:
            raise NetworkError(f"{where}: a second timetable for {entry.from_} -> {entry.to}")
        out[pair] = Departures(entry.departures, zones[entry.from_])
    return out


class Network:
    """Facilities, lanes and the queries the rules need."""

    def __init__(
        self,
        facilities: Iterable[Facility],
        lanes: Iterable[LaneSpec],
        schedules: dict[tuple[str, str], Departures] | None = None,
    ) -> None:
        self.schedules: dict[tuple[str, str], Departures] = schedules or {}
        """Timetabled directions (from, to); a direction not here leaves when ready."""
        self.facilities: dict[str, Facility] = {}
        for fac in facilities:
            self.facilities[fac.id] = fac
        self._adj: dict[str, dict[str, float]] = {fid: {} for fid in self.facilities}
        self._radj: dict[str, dict[str, float]] = {fid: {} for fid in self.facilities}
        for lane in lanes:
            self._add_lane(lane.from_, lane.to, lane.hours)
            if not lane.oneway:
                self._add_lane(lane.to, lane.from_, lane.hours)
        self._grid = _GridIndex(self.facilities.values())
        # Bounded caches: per destination Dijkstra trees and per route profiles.
        self.to_destination = lru_cache(maxsize=4096)(self._to_destination)
        self.route_profile = lru_cache(maxsize=65536)(self._route_profile)

    # -- loading -----------------------------------------------------------------
    @classmethod
    def from_yaml_text(cls, text: str, source: str = "network") -> Network:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise NetworkError(f"{source}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise NetworkError(f"{source}: expected a mapping with 'facilities' and 'lanes'")
        try:
            spec = NetworkSpec.model_validate(raw)
        except ValidationError as exc:
            raise NetworkError(_format_error(source, exc)) from exc
        seen: set[str] = set()
        for i, fac in enumerate(spec.facilities):
            if fac.id in seen:
                raise NetworkError(f"{source}: facilities[{i}]: duplicate id {fac.id!r}")
            seen.add(fac.id)
        for i, lane in enumerate(spec.lanes):
            for end in (lane.from_, lane.to):
                if end not in seen:
                    raise NetworkError(f"{source}: lanes[{i}]: unknown facility {end!r}")
            if lane.from_ == lane.to:
                raise NetworkError(f"{source}: lanes[{i}]: a lane must join two facilities")
        facilities = [_facility(source, i, f) for i, f in enumerate(spec.facilities)]
        zones = {f.id: f.tz for f in facilities}
        return cls(facilities, spec.lanes, _schedules(source, spec, zones))

    @classmethod
    def load(cls, path: str | Path) -> Network:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise NetworkError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        return cls.from_yaml_text(text, source=str(path))

    def _add_lane(self, a: str, b: str, hours: float) -> None:
        # Parallel lanes: the faster one is the one a planner would use.
        if hours < self._adj[a].get(b, math.inf):
            self._adj[a][b] = hours
            self._radj[b][a] = hours

    # -- graph queries -----------------------------------------------------------
    def __contains__(self, facility_id: object) -> bool:
        return facility_id in self.facilities

    def get(self, facility_id: str) -> Facility | None:
        return self.facilities.get(facility_id)

    def neighbours(self, facility_id: str) -> dict[str, float]:
        return self._adj.get(facility_id, {})

    def _to_destination(self, dest: str) -> tuple[dict[str, float], dict[str, str]]:
        """Hours from every facility to `dest`, and each facility's next hop toward it."""
        dist: dict[str, float] = {dest: 0.0}
        nxt: dict[str, str] = {}
        heap: list[tuple[float, str]] = [(0.0, dest)]
        while heap:
            d, node = heapq.heappop(heap)
            if d > dist.get(node, math.inf):
                continue
            for prev, hours in self._radj.get(node, {}).items():
                nd = d + hours
                # Tie-break on facility id so paths are deterministic.
                if nd < dist.get(prev, math.inf) or (
                    nd == dist.get(prev) and node < nxt.get(prev, node)
                ):
                    dist[prev] = nd
                    nxt[prev] = node
                    heapq.heappush(heap, (nd, prev))
        return dist, nxt

    def hours_to(self, source: str, dest: str) -> float | None:
        """Shortest travel hours from source to dest, None when unreachable."""
        return self.to_destination(dest)[0].get(source)

    def next_hop(self, source: str, dest: str) -> str | None:
        return self.to_destination(dest)[1].get(source)

    def shortest_path(self, source: str, dest: str) -> tuple[str, ...] | None:
        """Facilities from source to dest inclusive along the fastest lanes."""
        dist, nxt = self.to_destination(dest)
        if source not in dist:
            return None
        path = [source]
        while path[-1] != dest:
            path.append(nxt[path[-1]])
        return tuple(path)

    def leg_hours(self, a: str, b: str) -> float | None:
        """Hours of the hop a -> b: the direct lane if there is one, else the fastest path."""
        direct = self._adj.get(a, {}).get(b)
        return direct if direct is not None else self.hours_to(a, b)

    def reachable_hours(self, a: str, b: str) -> float:
        """`leg_hours` of a hop the caller knows is connected (a generated route):
        NetworkError when it is not, rather than a None to carry around."""
        hours = self.leg_hours(a, b)
        if hours is None:
            raise NetworkError(f"no lane or path from {a} to {b}")
        return hours

    def route(self, source: str, dest: str) -> tuple[str, ...]:
        """`shortest_path` between facilities the caller knows are connected."""
        path = self.shortest_path(source, dest)
        if path is None:
            raise NetworkError(f"no path from {source} to {dest}")
        return path

    def _route_profile(self, route: tuple[str, ...]) -> tuple[float, ...] | None:
        """suffix[i] = lane hours from route[i] to the end of the route."""
        suffix = [0.0] * len(route)
        for i in range(len(route) - 2, -1, -1):
            hours = self.leg_hours(route[i], route[i + 1])
            if hours is None:
                return None
            suffix[i] = suffix[i + 1] + hours
        return tuple(suffix)

    # -- geography ---------------------------------------------------------------
    def nearest(self, lat: float, lon: float, radius_m: float) -> tuple[Facility, float] | None:
        """The nearest facility within radius_m of (lat, lon), with its distance."""
        return self._grid.nearest(lat, lon, radius_m)


class _GridIndex:
    """Facilities bucketed into lat/lon cells, each cell listing every facility that can
    lie within the radius of a point in it (built once per radius asked, cells no smaller
    than the radius, so a facility sits in a handful of them): a query is one dict
    lookup, and on the open road (nearly every ping) finds nothing."""

    CELL_DEG = 0.05  # ~5.5 km of latitude

    def __init__(self, facilities: Iterable[Facility]) -> None:
        self._facilities = tuple(facilities)
        self._by_radius: dict[float, tuple[float, dict[tuple[int, int], tuple[Facility, ...]]]] = {}

    def _build(self, radius_m: float) -> tuple[float, dict[tuple[int, int], tuple[Facility, ...]]]:
        """(cell size, cell -> the facilities within `radius_m` of some point of the
        cell): a superset (a degree of longitude is taken at its shortest within reach,
        and 1 % is added), since `nearest` measures the distance to each candidate."""
        reach_lat = radius_m * 1.01 / _M_PER_DEG_LAT
        size = max(self.CELL_DEG, reach_lat)
        cells: dict[tuple[int, int], list[Facility]] = {}
        for fac in self._facilities:
            coslat = max(math.cos(math.radians(min(abs(fac.lat) + reach_lat, 89.9))), 1e-6)
            reach_lon = reach_lat / coslat
            for ci in range(
                math.floor((fac.lat - reach_lat) / size),
                math.floor((fac.lat + reach_lat) / size) + 1,
            ):
                for cj in range(
                    math.floor((fac.lon - reach_lon) / size),
                    math.floor((fac.lon + reach_lon) / size) + 1,
                ):
                    cells.setdefault((ci, cj), []).append(fac)
        return size, {cell: tuple(facs) for cell, facs in cells.items()}

    def nearest(self, lat: float, lon: float, radius_m: float) -> tuple[Facility, float] | None:
        built = self._by_radius.get(radius_m)
        if built is None:
            built = self._by_radius[radius_m] = self._build(radius_m)
        size, cells = built
        candidates = cells.get((math.floor(lat / size), math.floor(lon / size)))
        if candidates is None:
            return None
        best: tuple[Facility, float] | None = None
        for fac in candidates:
            d = local_distance_m(lat, lon, fac.lat, fac.lon)
            if d <= radius_m and (best is None or d < best[1]):
                best = (fac, d)
        return best
