"""Input records of CONTRACT §2: waybills, scans and GPS pings."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, Strict, model_validator

from parcelwatch.schemas.common import (
    EventId,
    FacilityId,
    PersonName,
    Phone,
    Record,
    Timestamp,
    TimeZoneName,
    VehicleId,
    WaybillNo,
    semantic,
)

# JSON numbers (an integer or a float) within bounds: strict, so a number sent as a
# string (`"22.6"`) or a boolean is refused rather than converted (CONTRACT §7).
Money = Annotated[float, Strict(), Field(ge=0, le=1e9, allow_inf_nan=False)]
Latitude = Annotated[float, Strict(), Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Strict(), Field(ge=-180, le=180, allow_inf_nan=False)]
Speed = Annotated[float, Strict(), Field(ge=0, le=400, allow_inf_nan=False)]


class Product(StrEnum):
    SAME_DAY = "SAME_DAY"
    NEXT_DAY = "NEXT_DAY"
    STANDARD = "STANDARD"
    ECONOMY = "ECONOMY"


class Locale(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


class ScanType(StrEnum):
    PICKUP = "PICKUP"
    HUB_ARRIVAL = "HUB_ARRIVAL"
    HUB_DEPARTURE = "HUB_DEPARTURE"
    LOAD = "LOAD"
    UNLOAD = "UNLOAD"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    DELIVERY_FAILED = "DELIVERY_FAILED"
    DAMAGE_REPORTED = "DAMAGE_REPORTED"
    RETURNED_TO_SENDER = "RETURNED_TO_SENDER"


class FailureReason(StrEnum):
    RECIPIENT_ABSENT = "RECIPIENT_ABSENT"
    ADDRESS_INVALID = "ADDRESS_INVALID"
    REFUSED = "REFUSED"
    OTHER = "OTHER"


class DamageSeverity(StrEnum):
    MINOR = "MINOR"
    MAJOR = "MAJOR"
    DESTROYED = "DESTROYED"


class Recipient(Record):
    name: PersonName
    phone: Phone
    locale: Locale = Locale.ZH_CN
    timezone: TimeZoneName = "Asia/Shanghai"


class Sender(Record):
    name: PersonName
    phone: Phone


class Waybill(Record):
    """Sent when the order is created; a re-send with the same waybill_no updates it.
    Only the service checks that its facilities are in the network (`unknown_facility`),
    that planned_route starts at the origin and ends at the destination, and that
    promised_at is not before created_at (`semantic`)."""

    waybill_no: WaybillNo
    product: Product
    created_at: Timestamp
    promised_at: Annotated[
        Timestamp | None,
        Field(description="Not before created_at (checked by the service: `semantic`)."),
    ] = None
    origin_facility_id: FacilityId
    destination_facility_id: FacilityId
    planned_route: Annotated[
        list[FacilityId] | None,
        Field(
            min_length=1,
            max_length=32,
            description="Origin first, destination last (checked by the service: `semantic`).",
        ),
    ] = None
    insured_value: Money = 0.0
    recipient: Recipient
    sender: Sender | None = None

    @model_validator(mode="after")
    def _route_ends(self) -> Waybill:
        route = self.planned_route
        if route is not None:
            if route[0] != self.origin_facility_id:
                raise semantic("planned_route must start at origin_facility_id")
            if route[-1] != self.destination_facility_id:
                raise semantic("planned_route must end at destination_facility_id")
        if self.promised_at is not None and self.promised_at < self.created_at:
            raise semantic("promised_at is before created_at")
        return self


_URL = Annotated[str, Field(pattern=r"^https?://\S{1,2040}$")]


def _scan_rules() -> dict[str, Any]:
    """The per-type rules of Scan._type_specific_fields as JSON Schema `if`/`then`."""
    rules: list[dict[str, Any]] = [
        {
            "if": {
                "properties": {"scan_type": {"enum": ["LOAD", "UNLOAD"]}},
                "required": ["scan_type"],
            },
            "then": {"properties": {"vehicle_id": {"type": "string"}}, "required": ["vehicle_id"]},
        }
    ]
    for kind, allowed in _REASONS.items():
        rules.append(
            {
                "if": {
                    "properties": {"scan_type": {"const": kind.value}},
                    "required": ["scan_type"],
                },
                "then": {
                    "properties": {"reason": {"enum": [m.value for m in allowed]}},
                    "required": ["reason"],
                },
            }
        )
    return {"allOf": rules}


class Scan(Record):
    """One physical scan. LOAD and UNLOAD carry a vehicle_id; DELIVERY_FAILED a
    FailureReason and DAMAGE_REPORTED a DamageSeverity as `reason`. Only the service
    checks that its facilities are in the network (`unknown_facility`)."""

    model_config = ConfigDict(json_schema_extra=lambda schema: schema.update(_scan_rules()))

    event_id: EventId
    waybill_no: WaybillNo
    facility_id: FacilityId
    event_time: Timestamp
    scan_type: ScanType
    vehicle_id: VehicleId | None = None
    next_facility_id: FacilityId | None = None
    reason: str | None = None
    courier_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"\S")] | None = None
    description: Annotated[str, Field(max_length=500)] | None = None
    photos: Annotated[list[_URL], Field(max_length=20)] | None = None

    @model_validator(mode="after")
    def _type_specific_fields(self) -> Scan:
        kind = self.scan_type
        if kind in (ScanType.LOAD, ScanType.UNLOAD) and self.vehicle_id is None:
            raise ValueError(f"vehicle_id is required on {kind.value}")
        allowed = _REASONS.get(kind)
        if allowed is not None and self.reason not in allowed.__members__:
            raise ValueError(f"reason on {kind.value} must be one of " + " | ".join(allowed))
        return self


_REASONS: dict[ScanType, type[StrEnum]] = {
    ScanType.DELIVERY_FAILED: FailureReason,
    ScanType.DAMAGE_REPORTED: DamageSeverity,
}


class GpsPing(Record):
    vehicle_id: VehicleId
    event_time: Timestamp
    lat: Latitude
    lon: Longitude
    speed_kmh: Speed | None = None


class BatchPing(Record):
    """One position of a GpsBatch: a GpsPing without the vehicle."""

    event_time: Timestamp
    lat: Latitude
    lon: Longitude
    speed_kmh: Speed | None = None


MAX_BATCH_PINGS = 500


class GpsBatch(Record):
    """What a vehicle terminal uploads after buffering (like JT/T 808's batch location
    upload, 0x0704): 1-500 pings of one vehicle in any order. It means exactly what its
    pings sent one by one, in time order, mean; one invalid ping refuses the whole batch."""

    vehicle_id: VehicleId
    pings: Annotated[list[BatchPing], Field(min_length=1, max_length=MAX_BATCH_PINGS)]

    def as_pings(self) -> list[GpsPing]:
        """The pings one by one, in time order (a stable sort: equal times keep the
        batch's order)."""
        ordered = sorted(self.pings, key=lambda p: p.event_time)
        return [
            GpsPing.model_construct(
                vehicle_id=self.vehicle_id,
                event_time=p.event_time,
                lat=p.lat,
                lon=p.lon,
                speed_kmh=p.speed_kmh,
            )
            for p in ordered
        ]
