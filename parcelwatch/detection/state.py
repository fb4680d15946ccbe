"""Per-waybill and per-vehicle state, and the messages that flow between the two sides.

State is a summary, not a history: each field is kept so that applying scans in any
arrival order gives the same result as applying them by event_time (latest-wins fields
compare event times; sets and counters are order-free). Slotted classes keep an active
waybill well under 2 KB.
"""

from __future__ import annotations

from array import array
from typing import NamedTuple

# Scan types, as plain strings for speed in the hot path.
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

TERMINAL = frozenset({DELIVERED, RETURNED_TO_SENDER})
DEPARTING = frozenset({HUB_DEPARTURE, LOAD})
"""Scans that start a leg toward the next facility."""
LEAVING = frozenset({HUB_DEPARTURE, LOAD, OUT_FOR_DELIVERY, DELIVERED, RETURNED_TO_SENDER})
"""Scans after which the parcel no longer dwells at the facility."""
MANIFEST_OFF = frozenset({UNLOAD, HUB_ARRIVAL, OUT_FOR_DELIVERY, DELIVERED, RETURNED_TO_SENDER})

UNKNOWN_CONTENT = 0
"""The content digest of a scan known only by its event id (the state of an older
version kept ids alone): any scan with that id counts as its redelivery."""

# Vehicle conditions.
VEHICLE_OK = "OK"
VEHICLE_STATIONARY = "STATIONARY"
VEHICLE_SILENT = "SILENT"


HELD = -1
"""Episode.notified of a DELAY_PREDICTED whose customer message waits for the parcel's
scans to resume (README: a prediction made while scans are missing)."""


class Episode:
    """An open exception episode, remembered so that redelivery or restart never re-opens
    or re-sends it."""

    __slots__ = (
        "exception_id",
        "facility",
        "identity",
        "notified",
        "opened_at",
        "revision",
        "severity",
        "ticket_created_at",
        "type",
        "vehicle",
    )

    def __init__(
        self,
        exception_id: str,
        type: str,
        opened_at: int,
        severity: str,
        revision: int,
        identity: str | None,
        facility: str | None,
        vehicle: str | None,
        ticket_created_at: int,
    ) -> None:
        self.exception_id = exception_id
        self.type = type
        self.opened_at = opened_at
        self.severity = severity
        self.revision = revision
        self.identity = identity
        self.facility = facility
        self.vehicle = vehicle
        self.ticket_created_at = ticket_created_at
        self.notified = 0


class WaybillState:
    """Everything parcelwatch knows about one waybill."""

    __slots__ = (
        "arr_at",
        "arr_facility",
        "arr_vehicle",
        "clock",
        "created_at",
        "damage_at",
        "damage_facility",
        "damage_rank",
        "deadline",
        "destination",
        "episodes",
        "events",
        "failure_facility",
        "failure_first_at",
        "failure_reason",
        "failures",
        "first_scan_at",
        "gaps",
        "insured_value",
        "journal",
        "last_at",
        "last_event",
        "last_facility",
        "last_next",
        "last_type",
        "last_vehicle",
        "late",
        "loaded_at",
        "notif_count",
        "notif_day",
        "opened",
        "origin",
        "pending",
        "product",
        "promise_derived",
        "promised_at",
        "recipient",
        "registered",
        "route",
        "sig_at",
        "sig_lat",
        "sig_lon",
        "sig_since",
        "sig_status",
        "sig_vehicle",
        "stay_at",
        "terminal",
        "terminal_at",
        "timeline",
        "vehicle",
        "vehicle_at",
        "visited",
        "waybill_no",
    )

    def __init__(self, waybill_no: str) -> None:
        self.waybill_no = waybill_no
        # From the Waybill record (defaults for a waybill never registered).
        self.registered = False
        self.product = "STANDARD"
        self.created_at: int | None = None
        self.promised_at: int | None = None
        self.promise_derived = False
        self.origin: str | None = None
        self.destination: str | None = None
        self.route: tuple[str, ...] | None = None
        self.insured_value = 0.0
        self.recipient: tuple[str, str, str, str] | None = None  # name, phone, locale, tz
        # Scan summary; "last" is the latest scan by event_time.
        self.first_scan_at: int | None = None
        self.last_at: int | None = None
        self.last_type: str | None = None
        self.last_facility: str | None = None
        self.last_next: str | None = None
        self.last_vehicle: str | None = None
        self.last_event: str | None = None
        self.stay_at: int | None = None  # first scan of the current stay at last_facility
        self.visited: tuple[str, ...] = ()
        self.gaps: tuple[str, ...] = ()
        self.failures = 0
        self.failure_first_at: int | None = None
        self.failure_reason: str | None = None
        self.failure_facility: str | None = None
        self.damage_rank = 0
        self.damage_at: int | None = None
        self.damage_facility: str | None = None
        self.terminal: str | None = None
        self.terminal_at: int | None = None
        # Manifest membership, decided by the latest manifest-changing scan.
        self.vehicle: str | None = None
        self.vehicle_at: int | None = None
        self.loaded_at: int | None = None
        # Latest condition of the current vehicle, as fanned out by the vehicle side.
        self.sig_vehicle: str | None = None
        self.sig_at: int | None = None  # when the vehicle side sent it (time order)
        self.sig_status: str | None = None
        self.sig_since: int | None = None
        self.sig_lat: float | None = None
        self.sig_lon: float | None = None
        self.arr_vehicle: str | None = None
        self.arr_facility: str | None = None
        self.arr_at: int | None = None
        # Bookkeeping.
        # Every scan applied (at most max_scans_per_waybill), as its event id's digest
        # followed by its content's (see `find_event`), so redeliveries and conflicts
        # are exact. One array, not a dict: 16 bytes a scan, a C-speed search.
        self.events = array("Q")
        self.episodes: dict[str, Episode] | None = None
        self.opened: dict[str, int] | None = None
        self.notif_day = 0
        self.notif_count = 0
        self.deadline: int | None = None
        self.clock: int | None = None  # the latest `now` applied: time never goes back
        # When the ETA first misses the promise (detection/rules/delay.py), kept from one
        # input to the next: it changes only with a scan or a re-sent waybill, which
        # clear it. Derived, so never stored in the table.
        self.late: int | None = None
        self.pending: list[VehicleFact] | None = None  # facts from this waybill's future
        # What an agent is shown (parcelwatch/detection/journal.py): the scans in time order, and
        # each episode with its ticket and message, by exception id.
        self.timeline: list[list] | None = None
        self.journal: dict[str, dict] | None = None


def find_event(events: array, digest: int) -> int:
    """The position of an event id's digest in `WaybillState.events` (ids sit at even
    positions, their content digests after them), or -1."""
    if digest not in events:  # the usual case, at C speed and without an exception
        return -1
    i = -1
    try:
        while True:
            i = events.index(digest, i + 1)
            if not i & 1:
                return i
    except ValueError:
        return -1


class VehicleState:
    """Last position, stationary anchor, geofence and condition of one vehicle. Which
    parcels ride it is the waybill side's business (parcelwatch/detection/fleet.py)."""

    __slots__ = (
        "anchor_at",
        "anchor_lat",
        "anchor_lon",
        "anchor_offsite",
        "at_facility",
        "at_facility_since",
        "clock",
        "deadline",
        "heard_at",
        "last_ping_at",
        "lat",
        "lon",
        "status",
        "vehicle_id",
    )

    def __init__(self, vehicle_id: str) -> None:
        self.vehicle_id = vehicle_id
        self.last_ping_at: int | None = None  # None: untracked, no GPS rule applies
        # The clock when the last ping was applied: on the wall clock when it arrived,
        # which a backlog of old pings puts far past their own times. Silence for
        # forgetting counts from here, so a backlog is not forgotten as it is read.
        self.heard_at: int | None = None
        self.lat = 0.0
        self.lon = 0.0
        self.anchor_lat = 0.0
        self.anchor_lon = 0.0
        self.anchor_at = 0
        self.anchor_offsite = False
        self.at_facility: str | None = None
        self.at_facility_since: int | None = None
        self.status = VEHICLE_OK
        self.deadline: int | None = None
        self.clock: int | None = None


class ManifestChange(NamedTuple):
    """A waybill got on (on=True) or off a vehicle: what the waybill side's index of
    riders (parcelwatch/detection/fleet.py) learns from a scan."""

    vehicle_id: str
    waybill_no: str
    on: bool
    at: int


class VehicleFact(NamedTuple):
    """Vehicle side -> waybill side: the vehicle's condition from `at` on. Published when
    it changes (first ping, a stop, a silence, moving again, a facility reached), never
    per ping; the waybill side applies it to the parcels riding the vehicle.

    `since` is the raw fact behind the status: the last ping for SILENT, the moment the
    vehicle stopped moving for STATIONARY."""

    vehicle_id: str
    status: str
    since: int | None
    lat: float
    lon: float
    facility: str | None
    facility_since: int | None
    at: int
