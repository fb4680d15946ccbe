"""Records parcelwatch publishes (CONTRACT §4–7): exceptions, tickets, notifications and
dead letters."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from parcelwatch.schemas.common import (
    FacilityId,
    OutputRecord,
    Severity,
    Timestamp,
    VehicleId,
    WaybillNo,
)
from parcelwatch.schemas.inputs import Locale


def to_json(record: OutputRecord) -> bytes:
    """A record exactly as it goes on a topic or into a replay file: optional fields that
    do not apply (resolved_at before resolution, facility or vehicle where unknown, key
    or line of a dead letter) are left out rather than written as null, and Unicode line
    breaks are escaped (see `_LINE_BREAKS`)."""
    data = record.model_dump_json(exclude_none=True).encode()
    for raw, escaped in _LINE_BREAKS:
        if raw in data:  # only inside strings: outside them JSON allows no such character
            data = data.replace(raw, escaped)
    return data


_LINE_BREAKS = (
    (b"\xc2\x85", b"\\u0085"),
    (b"\xe2\x80\xa8", b"\\u2028"),
    (b"\xe2\x80\xa9", b"\\u2029"),
)
"""NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR are line breaks to many readers (Python's
`str.splitlines`, JavaScript before ES2019): written escaped, a record is one line to
every reader of a JSON-lines file, whatever text a dead letter's raw input carries."""


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
