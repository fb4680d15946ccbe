"""Pydantic models of every record on parcelwatch's topics (CONTRACT §2, §4–7)."""

from pydantic import BaseModel

from parcelwatch.schemas.common import Severity, Timestamp
from parcelwatch.schemas.inputs import (
    BatchPing,
    DamageSeverity,
    FailureReason,
    GpsBatch,
    GpsPing,
    Locale,
    Product,
    Recipient,
    Scan,
    ScanType,
    Sender,
    Waybill,
)
from parcelwatch.schemas.outputs import (
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

INPUT_MODELS: dict[str, type[Waybill] | type[Scan] | type[GpsPing]] = {
    "waybills": Waybill,
    "scans": Scan,
    "gps": GpsPing,
}
"""Logical input topic name -> record model (a value on the GPS topic with `pings` is a
GpsBatch instead, see parcelwatch/edge/intake.py)."""

ALL_MODELS: dict[str, type[BaseModel]] = {
    "Waybill": Waybill,
    "Scan": Scan,
    "GpsPing": GpsPing,
    "GpsBatch": GpsBatch,
    "Exception": ExceptionRecord,
    "Ticket": Ticket,
    "Notification": Notification,
    "DeadLetter": DeadLetter,
}
"""Record name (as in CONTRACT.md) -> model, for schema export."""

__all__ = [
    "ALL_MODELS",
    "INPUT_MODELS",
    "BatchPing",
    "Channel",
    "DamageSeverity",
    "DeadLetter",
    "Department",
    "ExceptionRecord",
    "ExceptionType",
    "FailureReason",
    "GpsBatch",
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
