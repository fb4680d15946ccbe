"""What a customer-service agent is shown of a parcel (GET /waybills/{no}), kept in its
state: its scans in time order, and each exception episode with its ticket and the last
message the customer was sent.

The rest of the state is a summary that forgets (an episode resolved is deleted, a scan
is a digest); an agent on the phone needs the history. It is bounded as the state is:
a scan is added only once admitted (at most `max_scans_per_waybill`), an episode only
once opened (at most `max_episodes_per_waybill`), and an episode keeps one message.
Entries are plain lists and dicts, stored as they are by the codec.
"""

from __future__ import annotations

from bisect import insort
from typing import Any

from parcelwatch.detection.state import WaybillState

Stop = tuple[int, str, str, str | None]
"""A scan on the timeline: (event time in µs, scan type, facility id, vehicle id)."""


def _order(stop: Stop | list) -> tuple[int, str, str, str]:
    """Time order; equal times by content, so any arrival order gives one timeline."""
    return stop[0], stop[1], stop[2], stop[3] or ""


def add_scan(w: WaybillState, at: int, scan_type: str, facility: str, vehicle: str | None) -> None:
    stop = [at, scan_type, facility, vehicle]
    timeline = w.timeline
    if timeline is None:
        w.timeline = [stop]
    elif _order(timeline[-1]) <= _order(stop):
        timeline.append(stop)  # the usual case: scans arrive in time order
    else:
        insort(timeline, stop, key=_order)  # a late upload


def _entry(w: WaybillState, exception_id: str) -> dict[str, Any]:
    journal = w.journal
    if journal is None:
        journal = w.journal = {}
    entry = journal.get(exception_id)
    if entry is None:
        entry = journal[exception_id] = {}
    return entry


def record_exception(
    w: WaybillState,
    exception_id: str,
    exc_type: str,
    status: str,
    severity: str,
    opened_at: int,
    now: int,
    facility: str | None,
    vehicle: str | None,
) -> None:
    entry = _entry(w, exception_id)
    entry.update(
        type=exc_type,
        status=status,
        severity=severity,
        opened_at=opened_at,
        facility=facility,
        vehicle=vehicle,
    )
    if status == "RESOLVED":
        entry["resolved_at"] = now


def record_ticket(
    w: WaybillState, exception_id: str, ticket_id: str, department: str, priority: str, due: int
) -> None:
    _entry(w, exception_id)["ticket"] = {
        "ticket_id": ticket_id,
        "department": department,
        "priority": priority,
        "due_at": due,
    }


def record_message(
    w: WaybillState,
    exception_id: str,
    notification_id: str,
    channel: str,
    locale: str,
    title: str,
    body: str,
    send_after: int,
) -> None:
    """The message the customer was sent for the episode (the latest: an escalation
    replaces the first)."""
    _entry(w, exception_id)["message"] = {
        "notification_id": notification_id,
        "channel": channel,
        "locale": locale,
        "title": title,
        "body": body,
        "send_after": send_after,
    }
