"""Deterministic identifiers: the same input gives the same ids on every run, worker and
restart, so downstream consumers can de-duplicate at-least-once deliveries."""

from __future__ import annotations

import uuid
from hashlib import blake2b

from ..schemas import Scan
from .clock import to_us

_NAMESPACE = uuid.UUID("6f1d2a4e-8c1b-5d3e-9a57-70617263656c")  # fixed forever


def exception_id(waybill_no: str, exc_type: str, ordinal: int, opened_at_us: int) -> str:
    """Episode id: the waybill, the type, which episode of that type it is, and when it opened."""
    return str(
        uuid.uuid5(_NAMESPACE, f"exception|{waybill_no}|{exc_type}|{ordinal}|{opened_at_us}")
    )


def ticket_id(exc_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"ticket|{exc_id}"))


def notification_id(exc_id: str, sequence: int) -> str:
    """sequence 0 is the episode's first message, 1 its escalation."""
    return str(uuid.uuid5(_NAMESPACE, f"notification|{exc_id}|{sequence}"))


def event_digest(event_id: str) -> int:
    """A stable 64-bit digest of an event id (Python's hash() is salted per process)."""
    return int.from_bytes(blake2b(event_id.encode(), digest_size=8).digest(), "little")


def scan_digest(scan: Scan) -> int:
    """A stable 64-bit digest of what a scan says: a redelivery has the same one, a
    different scan that reuses the event id (CONTRACT §7 `event_id_conflict`) another.
    The event time counts as an instant, so `+08:00` and `Z` spellings agree."""
    text = "\x1f".join(
        (
            scan.facility_id,
            str(to_us(scan.event_time)),
            scan.scan_type.value,
            scan.vehicle_id or "",
            scan.next_facility_id or "",
            scan.reason or "",
            scan.courier_id or "",
            scan.description or "",
            "\x1e".join(scan.photos or ()),
        )
    )
    return int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "little")
