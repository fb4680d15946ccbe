"""A waybill's or a vehicle's state as the lookup API shows it (parcelwatch/schemas/api.py).

Pure: state, network, rules and `now` in, a view out; the web server reads the state
from its table and the clock from the pipeline.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from parcelwatch.clock import to_datetime
from parcelwatch.detection.context import RuleContext
from parcelwatch.detection.eta import eta_at, next_facility
from parcelwatch.detection.expected import expected_delivery
from parcelwatch.detection.state import DEPARTING, OUT_FOR_DELIVERY, VehicleState, WaybillState
from parcelwatch.schemas.api import (
    EpisodeView,
    Eta,
    MessageView,
    Place,
    RecipientView,
    TicketView,
    TimelineEntry,
    VehicleBrief,
    VehicleView,
    WaybillView,
    WhereNow,
)
from parcelwatch.service.logs import keep_tail, mask


def _place(ctx: RuleContext, facility_id: str | None) -> Place | None:
    if facility_id is None:
        return None
    facility = ctx.network.facilities.get(facility_id)
    return Place(facility_id=facility_id, name=facility.name if facility else facility_id)


def _zone(w: WaybillState, ctx: RuleContext) -> tzinfo:
    """The recipient's zone (checked when the order was read), else the destination's."""
    name = w.recipient[3] if w.recipient else None
    if name is None and w.destination in ctx.network.facilities:
        name = ctx.network.facilities[w.destination].tz
    return ZoneInfo(name) if name else UTC


def _at(us: int | None, zone: tzinfo) -> datetime | None:
    return None if us is None else to_datetime(us).astimezone(zone)


def _where(w: WaybillState, ctx: RuleContext, zone: tzinfo) -> WhereNow:
    if w.last_at is None:
        return WhereNow(status="NOT_SCANNED")
    here, since = _place(ctx, w.last_facility), _at(w.last_at, zone)
    if w.terminal is not None:
        return WhereNow(status=w.terminal, facility=here, since=since)
    heading = _place(ctx, next_facility(w, ctx))
    if w.vehicle is not None:
        told = w.sig_vehicle == w.vehicle and w.sig_status is not None
        vehicle = VehicleBrief(
            vehicle_id=w.vehicle,
            condition=w.sig_status if told else None,
            since=_at(w.sig_since, zone) if told else None,
            lat=w.sig_lat if told else None,
            lon=w.sig_lon if told else None,
        )
        return WhereNow(
            status="ON_VEHICLE", facility=here, next_facility=heading, vehicle=vehicle, since=since
        )
    if w.last_type == OUT_FOR_DELIVERY:
        return WhereNow(status="OUT_FOR_DELIVERY", facility=here, since=since)
    if w.last_type in DEPARTING:
        return WhereNow(status="IN_TRANSIT", facility=here, next_facility=heading, since=since)
    return WhereNow(status="AT_FACILITY", facility=here, since=since)


def _eta(w: WaybillState, ctx: RuleContext, now: int, zone: tzinfo) -> Eta:
    planned = None if w.terminal is not None else eta_at(w, ctx, now)
    promised = w.promised_at
    arrived = w.terminal_at if w.terminal == "DELIVERED" else planned
    on_time = None if arrived is None or promised is None else arrived <= promised
    expected = None if w.terminal is not None else expected_delivery(w, ctx, now)
    return Eta(
        promised_at=_at(promised, zone),
        planned_at=_at(planned, zone),
        on_time=on_time,
        expected_at=_at(expected.p50, zone) if expected is not None else None,
        expected_from=_at(expected.p10, zone) if expected is not None else None,
        expected_to=_at(expected.p90, zone) if expected is not None else None,
    )


def _episodes(w: WaybillState, zone: tzinfo) -> list[EpisodeView]:
    out: list[EpisodeView] = []
    for exception_id, e in (w.journal or {}).items():
        ticket, message = e.get("ticket"), e.get("message")
        out.append(
            EpisodeView(
                exception_id=exception_id,
                type=e["type"],
                status=e["status"],
                severity=e["severity"],
                opened_at=_at(e["opened_at"], zone),
                resolved_at=_at(e.get("resolved_at"), zone),
                facility_id=e.get("facility"),
                vehicle_id=e.get("vehicle"),
                ticket=None
                if ticket is None
                else TicketView(
                    ticket_id=ticket["ticket_id"],
                    department=ticket["department"],
                    priority=ticket["priority"],
                    due_at=_at(ticket["due_at"], zone),
                ),
                message=None
                if message is None
                else MessageView(
                    notification_id=message["notification_id"],
                    channel=message["channel"],
                    locale=message["locale"],
                    title=mask(message["title"]),
                    body=mask(message["body"]),
                    send_after=_at(message["send_after"], zone),
                ),
            )
        )
    out.sort(key=lambda e: (e.status == "RESOLVED", e.opened_at, e.exception_id))
    return out


def waybill_view(w: WaybillState, ctx: RuleContext, now: int, served_by: str) -> WaybillView:
    zone = _zone(w, ctx)
    recipient = None
    if w.recipient is not None:
        name, phone, locale, tz = w.recipient
        recipient = RecipientView(name=name, phone=keep_tail(phone), locale=locale, timezone=tz)
    timeline = [
        TimelineEntry(
            event_time=_at(t, zone),
            scan_type=kind,
            facility=_place(ctx, facility),
            vehicle_id=vehicle,
        )
        for t, kind, facility, vehicle in (w.timeline or ())
    ]
    return WaybillView(
        waybill_no=w.waybill_no,
        registered=w.registered,
        product=w.product,
        created_at=_at(w.created_at, zone),
        origin=_place(ctx, w.origin),
        destination=_place(ctx, w.destination),
        recipient=recipient,
        now=_where(w, ctx, zone),
        eta=_eta(w, ctx, now, zone),
        timeline=timeline,
        exceptions=_episodes(w, zone),
        as_of=_at(now, zone),
        served_by=served_by,
    )


def vehicle_view(
    vehicle_id: str,
    v: VehicleState | None,
    parcels: list[str],
    ctx: RuleContext,
    now: int,
    served_by: str,
) -> VehicleView:
    """`v` None: the vehicle is known only from the parcels scanned onto it."""
    seen = v if v is not None and v.last_ping_at is not None else None
    return VehicleView(
        vehicle_id=vehicle_id,
        tracked=seen is not None,
        condition=seen.status if seen else None,
        last_ping_at=_at(seen.last_ping_at, UTC) if seen and seen.last_ping_at else None,
        lat=seen.lat if seen else None,
        lon=seen.lon if seen else None,
        at_facility=_place(ctx, seen.at_facility) if seen else None,
        parcels=sorted(parcels),
        as_of=_at(now, UTC),
        served_by=served_by,
    )
