"""Pydantic models of every record on parcelwatch's topics (CONTRACT §2, §4–7)."""

from .common import Severity, Timestamp
from .inputs import (
    DamageSeverity,
    FailureReason,
    GpsPing,
    Locale,
    Product,
    Recipient,
    Scan,
    ScanType,
    Sender,
    Waybill,
)
from .outputs import (
    Channel,
    DeadLetter,
    Department,
    ExceptionRecord,
    ExceptionType,
    Notification,
    NotificationRecipient,
    Priority,
    Status,
    Ticket,
    to_json,
)

INPUT_MODELS = {"waybills": Waybill, "scans": Scan, "gps": GpsPing}
"""Logical input topic name -> record model."""

ALL_MODELS = {
    "Waybill": Waybill,
    "Scan": Scan,
    "GpsPing": GpsPing,
    "Exception": ExceptionRecord,
    "Ticket": Ticket,
    "Notification": Notification,
    "DeadLetter": DeadLetter,
}
"""Record name (as in CONTRACT.md) -> model, for schema export."""

__all__ = [
    "ALL_MODELS",
    "INPUT_MODELS",
    "Channel",
    "DamageSeverity",
    "DeadLetter",
    "Department",
    "ExceptionRecord",
    "ExceptionType",
    "FailureReason",
    "GpsPing",
    "Locale",
    "Notification",
    "NotificationRecipient",
    "Priority",
    "Product",
    "Recipient",
    "Scan",
    "ScanType",
    "Sender",
    "Severity",
    "Status",
    "Ticket",
    "Timestamp",
    "Waybill",
    "to_json",
]
