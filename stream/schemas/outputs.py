"""Records parcelwatch publishes (CONTRACT §4–7): exceptions, tickets, notifications and
dead letters."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from .common import FacilityId, OutputRecord, Severity, Timestamp, VehicleId, WaybillNo
from .inputs import Locale


def to_json(record: OutputRecord) -> bytes:
    """A record exactly as it goes on a topic or into a replay file: optional fields that
    do not apply (resolved_at before resolution, facility or vehicle where unknown, key
    or line of a dead letter) are left out rather than written as null."""
    return record.model_dump_json(exclude_none=True).encode()


class ExceptionType(StrEnum):
    PICKUP_OVERDUE = "PICKUP_OVERDUE"
    MISSED_SCAN = "MISSED_SCAN"
    STALLED_AT_FACILITY = "STALLED_AT_FACILITY"
    STALLED_IN_TRANSIT = "STALLED_IN_TRANSIT"
    DELAY_PREDICTED = "DELAY_PREDICTED"
    DELAYED = "DELAYED"
    LOST_SUSPECTED = "LOST_SUSPECTED"
    DAMAGED = "DAMAGED"
    DELIVERY_FAILED = "DELIVERY_FAILED"
    MISROUTED = "MISROUTED"


class Status(StrEnum):
    OPEN = "OPEN"
    UPDATED = "UPDATED"
    RESOLVED = "RESOLVED"


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class Department(StrEnum):
    HUB_OPERATIONS = "HUB_OPERATIONS"
    LINEHAUL = "LINEHAUL"
    DELIVERY_STATION = "DELIVERY_STATION"
    CLAIMS = "CLAIMS"
    CUSTOMER_SERVICE = "CUSTOMER_SERVICE"


class Channel(StrEnum):
    SMS = "SMS"
    APP_PUSH = "APP_PUSH"


Evidence = dict[str, Any]


class ExceptionRecord(OutputRecord):
    """One state change of an exception episode (OPEN, UPDATED or RESOLVED)."""

    exception_id: str
    waybill_no: WaybillNo
    type: ExceptionType
    status: Status
    severity: Severity
    detected_at: Timestamp
    opened_at: Timestamp
    resolved_at: Timestamp | None = None
    facility_id: FacilityId | None = None
    vehicle_id: VehicleId | None = None
    evidence: Evidence


class Ticket(OutputRecord):
    """A service ticket (工单), one per episode, following the episode's lifecycle."""

    ticket_id: str
    exception_id: str
    waybill_no: WaybillNo
    type: ExceptionType
    status: Status
    priority: Priority
    department: Department
    facility_id: FacilityId | None = None
    created_at: Timestamp
    updated_at: Timestamp
    due_at: Timestamp
    summary: Annotated[str, Field(max_length=300)]
    evidence: Evidence
    suggested_actions: list[str]


class NotificationRecipient(OutputRecord):
    name: str
    phone: str


class Notification(OutputRecord):
    """A proactive customer message, rendered in the recipient's locale."""

    notification_id: str
    exception_id: str
    waybill_no: WaybillNo
    type: ExceptionType
    channel: Channel
    locale: Locale
    recipient: NotificationRecipient
    title: str
    body: str
    send_after: Timestamp
    created_at: Timestamp


class DeadLetter(OutputRecord):
    """Input that could not be decoded or validated, with the reason.

    Live records carry the Kafka `key`; replay records carry the input `line` number."""

    source_topic: str
    key: str | None = None
    line: int | None = None
    raw: str
    error: str
    received_at: Timestamp
