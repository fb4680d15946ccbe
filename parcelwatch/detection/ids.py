"""Deterministic identifiers: the same input gives the same ids on every run, worker and
restart, so downstream consumers can de-duplicate at-least-once deliveries."""

from __future__ import annotations

import uuid
from hashlib import blake2b
from zlib import crc32

from parcelwatch.schemas import Scan

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


def scan_digest(scan: Scan, at: int) -> int:
    """A stable digest of what a scan says: a redelivery has the same one, a different
    scan that reuses the event id (CONTRACT §7 `event_id_conflict`) almost surely another.
    It is only ever compared among scans of one waybill with one event id, so 32 bits
    (CRC-32, several times cheaper than a cryptographic hash on the hot path) are plenty.
    The event time counts as an instant (`at`, in µs): `+08:00` and `Z` spellings agree."""
    photos = scan.photos
    text = (
        f"{scan.facility_id}\x1f{at}\x1f{scan.scan_type.value}\x1f{scan.vehicle_id}\x1f"
        f"{scan.next_facility_id}\x1f{scan.reason}\x1f{scan.courier_id}\x1f"
        f"{scan.description}\x1f{photos and chr(30).join(photos)}"
    )
    return crc32(text.encode()) | 1  # never 0: that is UNKNOWN_CONTENT
