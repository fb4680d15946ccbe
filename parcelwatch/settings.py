"""Rule thresholds and service options.

Every number in CONTRACT §4–6 is a field here with the contract's default. Values come
from (highest first) environment variables `PARCELWATCH_<FIELD>`, a settings file
(YAML or JSON, `--config`), then these defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from parcelwatch.schemas.inputs import Product

Hours = Annotated[float, Field(gt=0, le=24 * 365)]
Minutes = Annotated[float, Field(gt=0, le=60 * 24 * 30)]
Metres = Annotated[float, Field(gt=0, le=1_000_000)]


class SettingsError(ValueError):
    """The settings file is unusable; the message says which field and why."""


QUANTILE_LEVELS = (0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95)
"""The levels a learned distribution is kept at: ten equally likely values."""

Share = Annotated[float, Field(ge=0, le=1)]
Quantiles = Annotated[
    list[Annotated[float, Field(ge=0, le=240)]],
    Field(min_length=len(QUANTILE_LEVELS), max_length=len(QUANTILE_LEVELS)),
]


class ExpectedDelivery(BaseModel):
    """What the expected delivery learned: each distribution as its hours at
    QUANTILE_LEVELS, in increasing order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pickup_hours: Quantiles
    """From the order's creation to its PICKUP."""
    last_mile_hours: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=64)], Quantiles],
        Field(min_length=1, max_length=100_000),
    ]
    """Per outlet, from OUT_FOR_DELIVERY to DELIVERED; "*" for the outlets pooled."""
    arrival_late_hours: Annotated[
        list[Annotated[float, Field(ge=-24, le=240)]],
        Field(min_length=len(QUANTILE_LEVELS), max_length=len(QUANTILE_LEVELS)),
    ]
    """From a truck's scheduled arrival (its scheduled departure + the lane's hours) to
    the parcel's first scan where it arrived."""
    missed_by_slack: Annotated[
        list[tuple[Annotated[float, Field(ge=0, le=240)], Share, Share]],
        Field(min_length=1, max_length=64),
    ]
    """(slack up to this many hours, share missed here, share missed ahead): the slack is
    the planned departure's margin over the parcel's planned ready time, from its own
    arrival at the facility (here) or from the scheduled arrival of its truck (ahead);
    the shares, how often such connections were not made. Bounds ascending; a slack
    beyond the last takes the last shares."""

    @model_validator(mode="after")
    def _ordered(self) -> ExpectedDelivery:
        for name, values in (
            ("pickup_hours", self.pickup_hours),
            ("arrival_late_hours", self.arrival_late_hours),
            *((f"last_mile_hours.{k}", v) for k, v in self.last_mile_hours.items()),
        ):
            if values != sorted(values):
                raise ValueError(f"{name}: quantiles must not decrease")
        if "*" not in self.last_mile_hours:
            raise ValueError('last_mile_hours: "*" (the outlets pooled) is missing')
        bounds = [b for b, _, _ in self.missed_by_slack]
        if bounds != sorted(set(bounds)):
            raise ValueError("missed_by_slack: bounds must increase")
        return self


class RuleSettings(BaseSettings):
    """Detection thresholds, ETA model, ticket and notification policy."""

    model_config = SettingsConfigDict(env_prefix="PARCELWATCH_", extra="forbid")

    # PICKUP_OVERDUE
    pickup_overdue_hours: Hours = 24.0
    """No PICKUP (or any scan) this long after created_at opens PICKUP_OVERDUE."""

    # MISSED_SCAN
    missed_scan_lane_factor: Annotated[float, Field(ge=1, le=10)] = 1.5
    """(a) next checkpoint due at departure + lane hours x this factor + the grace below."""
    missed_scan_grace_hours: Annotated[float, Field(ge=0, le=240)] = 2.0
    vehicle_arrival_radius_m: Metres = 1000.0
    """(b) a vehicle within this distance of a facility has reached it."""
    missed_scan_after_vehicle_arrival_hours: Hours = 2.0
    """(b) the parcel must be scanned this long after its vehicle reached the facility."""
    out_for_delivery_hours: Hours = 12.0
    """(d) OUT_FOR_DELIVERY must be followed by DELIVERED/DELIVERY_FAILED within this."""

    # STALLED_AT_FACILITY
    hub_dwell_hours: Hours = 12.0
    outlet_dwell_hours: Hours = 24.0

    # STALLED_IN_TRANSIT
    stationary_radius_m: Metres = 500.0
    stationary_minutes: Minutes = 60.0
    offsite_radius_m: Metres = 2000.0
    """A stationary vehicle only counts as stalled farther than this from every facility."""
    gps_silence_minutes: Minutes = 60.0

    # DELAY_PREDICTED / ETA model
    delay_predicted_margin_minutes: Annotated[float, Field(ge=0, le=60 * 24)] = 30.0
    delay_predicted_quiet_scans_hours: Annotated[float, Field(ge=0, le=240)] = 24.0
    """While a MISSED_SCAN is open, no delay is predicted from the last scanned position
    for this long after it opened: a hub whose scanner went quiet looks the same as a
    parcel running late, until the scans resume or stay away."""
    eta_model: Literal["planned", "baseline"] = "planned"
    """planned: the planned ETA over the network's timetable (CONTRACT §4); baseline: the
    older model that slides every stage with the clock, kept for comparison."""
    departure_grace_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = 30.0
    """A scheduled departure counts as gone (without the parcel) this long after its time."""
    handling_hours: Annotated[float, Field(ge=0, le=240)] = 2.0
    """Planned arrival-to-ready time at a facility whose network entry has none."""
    last_mile_hours: Annotated[float, Field(ge=0, le=240)] = 4.0
    """From going out for delivery to delivered: the plan's figure (CONTRACT §4), and
    the one promises derived for waybills without promised_at are made with."""
    last_mile_learned_hours: Annotated[
        dict[
            Annotated[str, Field(min_length=1, max_length=64)],
            Annotated[float, Field(ge=0, le=240)],
        ],
        Field(max_length=100_000),
    ] = {}
    """Per outlet, the last mile the planned ETA uses instead of `last_mile_hours`:
    learned from history by `parcelwatch calibrate` (a model that learns from history
    may refine the plan, CONTRACT §4). Outlets not listed keep `last_mile_hours`."""
    expected_delivery: ExpectedDelivery | None = None
    """The expected delivery's distributions, learned from history by `parcelwatch
    calibrate` (parcelwatch/detection/expected.py); None: no expected delivery, the
    planned ETA alone."""
    promise_margin_hours: dict[Product, Annotated[float, Field(ge=0, le=24 * 30)]] = {
        Product.SAME_DAY: 12.0,
        Product.NEXT_DAY: 24.0,
        Product.STANDARD: 36.0,
        Product.ECONOMY: 72.0,
    }
    """When a waybill has no promised_at: created_at + network ETA + this margin."""

    # LOST_SUSPECTED
    lost_after_hours: Hours = 72.0

    # Tickets
    ticket_due_hours: dict[str, Hours] = {"P1": 2.0, "P2": 8.0, "P3": 24.0, "P4": 72.0}
    ticket_locale: str = Field(default="zh-CN", pattern="^(zh-CN|en)$")

    # Notifications
    quiet_hours_start: Annotated[int, Field(ge=0, le=23)] = 22
    quiet_hours_end: Annotated[int, Field(ge=0, le=23)] = 8
    notifications_per_day: Annotated[int, Field(ge=0, le=100)] = 3

    # Hostile input (CONTRACT §7)
    max_clock_jump_hours: Hours = 48.0
    """A record dated further ahead of the event clock is refused (`clock_jump`)."""
    max_future_minutes: Minutes = 15.0
    """On the wall clock, a record dated further ahead of it is refused (`future`)."""

    # Caps on per-parcel and per-vehicle state (README: "Caps"); beyond: `over_limit`.
    max_scans_per_waybill: Annotated[int, Field(ge=10, le=10_000)] = 200
    """Distinct scans kept per waybill; every event id is remembered, so a redelivery is
    recognised however late. Real parcels have tens of scans."""
    max_episodes_per_waybill: Annotated[int, Field(ge=10, le=10_000)] = 100
    """Exception episodes one waybill may open in its life."""
    max_parcels_per_vehicle: Annotated[int, Field(ge=10, le=1_000_000)] = 10_000
    """Parcels on one vehicle's manifest at a time (a large line-haul truck carries a few
    thousand)."""

    # Bounded state: what is finished is forgotten (README: "Bounded state").
    forget_finished_after_hours: Annotated[float, Field(gt=0, le=24 * 365)] = 7 * 24.0
    """A parcel's state is deleted this long after DELIVERED or RETURNED_TO_SENDER, once
    it has no open exception (an open DAMAGED episode keeps it); a later scan of it is
    that of a parcel never seen."""
    forget_silent_vehicle_after_hours: Annotated[float, Field(gt=0, le=24 * 365)] = 7 * 24.0
    """A vehicle's state is deleted this long after its last ping was applied (on the
    wall clock: arrived); its next ping is a first one."""

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> RuleSettings:
        """Defaults, then the settings file, then environment variables."""
        data: dict[str, Any] = {}
        if path is not None:
            path = Path(path)
            try:
                raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from exc
            except yaml.YAMLError as exc:
                raise SettingsError(f"{path}: not valid YAML/JSON: {exc}") from exc
            if raw is not None and not isinstance(raw, dict):
                raise SettingsError(f"{path}: expected a mapping of setting names to values")
            data.update(raw or {})
        data.update(overrides)
        try:
            return cls(**data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise SettingsError(f"{path or 'settings'}: {where}: {first['msg']}") from exc

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        # Environment beats the file, the file beats defaults; no .env or secrets dirs.
        return (env_settings, init_settings)
