"""Simulator rates: product mix, fault rates and transport noise. `--rates FILE` (YAML or
JSON) overrides any of them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Rate = Annotated[float, Field(ge=0, le=1)]


class FaultRates(BaseModel):
    """Share of parcels (or of trips, for the vehicle faults) given each fault."""

    model_config = ConfigDict(extra="forbid")
    overdue_pickup: Rate = 0.01
    hub_stall: Rate = 0.02
    suppressed_scan: Rate = 0.015
    left_on_truck: Rate = 0.01
    damage: Rate = 0.01
    failed_delivery: Rate = 0.03
    misroute: Rate = 0.01
    lost: Rate = 0.003
    unmeetable_promise: Rate = 0.02
    out_for_delivery_no_outcome: Rate = 0.005
    truck_breakdown: Rate = 0.01
    """Per trip of two hours or more: the truck stops off-site for 1.5-4 h."""
    gps_loss: Rate = 0.01
    """Per trip of two hours or more: the GPS goes silent for 1.5-3 h."""


class NoiseRates(BaseModel):
    model_config = ConfigDict(extra="forbid")
    redelivery: Rate = 0.01
    """Share of scans delivered twice."""
    late_upload: Rate = 0.003
    """Share of scans uploaded 1-6 h after they happened."""
    malformed: Rate = 0.001
    """Extra malformed records per record."""


class ScheduleNoise(BaseModel):
    """How real trucks and vans keep the network's timetable (a direction with none runs
    every `linehaul_departure_hours` / `local_departure_hours` instead)."""

    model_config = ConfigDict(extra="forbid")
    late_departure: Rate = 0.12
    """Share of scheduled departures that leave late."""
    late_beyond_grace: Rate = 0.1
    """Of the late ones, the share that leave 30-120 min late (the rest: 3-30 min)."""
    cancelled_departure: Rate = 0.005
    """Share of scheduled departures cancelled: their parcels take the next one."""
    sort_overrun: Rate = 0.1
    """Share of stays where sorting takes 0.25-3 h longer than the facility's planned
    handling_hours (the parcel may miss its planned departure)."""
    lane_time: tuple[Annotated[float, Field(gt=0, le=5)], Annotated[float, Field(gt=0, le=5)]] = (
        0.97,
        1.15,
    )
    """Actual lane time as a factor of the lane's hours, uniform: the planned hours are a
    good run at expressway speed; traffic makes a truck up to 15 % slower, and it can
    beat the plan by 3 % at most."""


class SimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    products: dict[str, Annotated[float, Field(ge=0)]] = {
        "SAME_DAY": 0.05,
        "NEXT_DAY": 0.25,
        "STANDARD": 0.55,
        "ECONOMY": 0.15,
    }
    insured_share: Rate = 0.1
    english_share: Rate = 0.05
    no_route_share: Rate = 0.1
    no_promise_share: Rate = 0.1
    linehaul_departure_hours: Annotated[float, Field(gt=0, le=24)] = 6.0
    """Without a timetable for the direction: trucks leave a hub for a neighbouring hub
    every this many hours."""
    local_departure_hours: Annotated[float, Field(gt=0, le=24)] = 3.0
    """Without a timetable: vans run between outlets and their hub this often."""
    schedule: ScheduleNoise = ScheduleNoise()
    ping_seconds: tuple[float, float] = (30.0, 60.0)
    gps_batch: Annotated[int, Field(ge=1, le=500)] = 1
    """Pings per upload: 1 sends each ping when it is taken; N buffers a truck's pings
    and uploads them as one GpsBatch when the N-th is taken or its trip ends, as
    terminals with batch upload do (JT/T 808's 0x0704)."""
    faults: FaultRates = FaultRates()
    noise: NoiseRates = NoiseRates()

    @classmethod
    def load(cls, path: str | Path | None) -> SimConfig:
        if path is None:
            return cls()
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            return cls.model_validate(data)
        except OSError as exc:
            raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except (yaml.YAMLError, ValidationError) as exc:
            raise ValueError(f"{path}: {exc}") from None
