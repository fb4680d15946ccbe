"""The lookup API's responses (GET /waybills/{no}, GET /vehicles/{id}): what a
customer-service agent is shown, and the OpenAPI document's schemas (parcelwatch/spec/openapi.py).

Times are in the recipient's time zone for a waybill (the agent reads them out to the
customer), in UTC for a vehicle. Phone numbers are masked to their last four digits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from parcelwatch.schemas.common import FacilityId, Severity, VehicleId, WaybillNo
from parcelwatch.schemas.inputs import Product, ScanType
from parcelwatch.schemas.outputs import Channel, Department, ExceptionType, Priority, Status

VehicleCondition = Literal["OK", "STATIONARY", "SILENT"]
ParcelStatus = Literal[
    "NOT_SCANNED",
    "AT_FACILITY",
    "ON_VEHICLE",
    "IN_TRANSIT",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
    "RETURNED_TO_SENDER",
]


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Place(_View):
    facility_id: FacilityId
    name: str = Field(description="The facility's name in the network file.")


class RecipientView(_View):
    name: str
    phone: str = Field(description="Masked: every digit but the last four starred.")
    locale: str
    timezone: str


class TimelineEntry(_View):
    event_time: datetime = Field(description="In the recipient's time zone.")
    scan_type: ScanType
    facility: Place
    vehicle_id: VehicleId | None = None


class VehicleBrief(_View):
    vehicle_id: VehicleId
    condition: VehicleCondition | None = Field(
        None, description="As the vehicle side last told this parcel; null: not told yet."
    )
    since: datetime | None = None
    lat: float | None = None
    lon: float | None = None


class WhereNow(_View):
    status: ParcelStatus
    facility: Place | None = Field(None, description="Where it is, or was last scanned.")
    next_facility: Place | None = Field(None, description="Where it is headed, if known.")
    vehicle: VehicleBrief | None = None
    since: datetime | None = Field(None, description="Its latest scan's time.")


class Eta(_View):
    promised_at: datetime | None = None
    planned_at: datetime | None = Field(
        None,
        description="The ETA by the configured model; null when delivered, returned "
        "or not reachable.",
    )
    on_time: bool | None = Field(
        None,
        description="Whether the ETA (or the delivery) makes the promise; null when "
        "either is unknown.",
    )
    expected_at: datetime | None = Field(
        None,
        description="The expected delivery (its median), learned from history by "
        "`parcelwatch calibrate`; null without a learned model, or when delivered.",
    )
    expected_from: datetime | None = Field(
        None, description="Start of the expected delivery's window (its 10th percentile)."
    )
    expected_to: datetime | None = Field(
        None, description="End of the expected delivery's window (its 90th percentile)."
    )


class TicketView(_View):
    ticket_id: str
    department: Department
    priority: Priority
    due_at: datetime


class MessageView(_View):
    notification_id: str
    channel: Channel
    locale: str
    title: str
    body: str
    send_after: datetime


class EpisodeView(_View):
    exception_id: str
    type: ExceptionType
    status: Status
    severity: Severity
    opened_at: datetime
    resolved_at: datetime | None = None
    facility_id: FacilityId | None = None
    vehicle_id: VehicleId | None = None
    ticket: TicketView | None = None
    message: MessageView | None = Field(None, description="The last message the customer was sent.")


class WaybillView(_View):
    waybill_no: WaybillNo
    registered: bool = Field(description="Whether its order (the Waybill record) was read.")
    product: Product
    created_at: datetime | None = None
    origin: Place | None = None
    destination: Place | None = None
    recipient: RecipientView | None = None
    now: WhereNow
    eta: Eta
    timeline: list[TimelineEntry]
    exceptions: list[EpisodeView] = Field(description="Open ones first, then by opening.")
    as_of: datetime = Field(description="The service's clock when this was read.")
    served_by: str = Field(description="The worker that holds the parcel's state.")


class VehicleView(_View):
    vehicle_id: VehicleId
    tracked: bool = Field(description="Whether a GPS ping of it has been read.")
    condition: VehicleCondition | None = None
    last_ping_at: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    at_facility: Place | None = None
    parcels: list[WaybillNo] = Field(description="The parcels on it, as scanned, sorted.")
    as_of: datetime
    served_by: str


class ErrorView(_View):
    error: Literal["bad_request", "unauthorized", "not_found", "rate_limited", "unavailable"]
    detail: str
