"""The lookup view of a parcel: what the core kept, as an agent reads it."""

import json

from parcelwatch.detection.detector import Detector
from parcelwatch.edge.intake import decode
from parcelwatch.service.web.lookup import vehicle_view, waybill_view
from parcelwatch.settings import QUANTILE_LEVELS, ExpectedDelivery, RuleSettings
from tests.support.streams import Events, feed


def _fed(network, events: Events, settings=None) -> Detector:
    detector = Detector(network, settings)
    for line in events.lines:
        envelope = json.loads(line)
        feed(detector, decode(envelope["topic"], json.dumps(envelope["value"]).encode(), network))
    return detector


def _outputs(detector: Detector, topic: str) -> list[dict]:
    return [
        json.loads(record.model_dump_json()) for name, record in detector.outputs if name == topic
    ]


def test_the_timeline_is_in_time_order_in_the_recipients_zone_whatever_the_upload_order(network):
    events = Events().waybill(timezone="Europe/Berlin", promised=60)
    events.scan("PICKUP", "A-OUT", 1).scan("HUB_DEPARTURE", "A-HUB", 3, vehicle_id="T1")
    events.scan("HUB_ARRIVAL", "A-HUB", 2)  # uploaded late
    detector = _fed(network, events)
    view = waybill_view(detector.waybills["WB1"], detector.ctx, detector.clock.now, "w1")
    assert [(e.scan_type, e.facility.facility_id) for e in view.timeline] == [
        ("PICKUP", "A-OUT"),
        ("HUB_ARRIVAL", "A-HUB"),
        ("HUB_DEPARTURE", "A-HUB"),
    ]
    first = view.timeline[0].event_time
    assert first.isoformat() == "2026-11-20T02:00:00+01:00"  # 09:00 in Beijing
    assert view.timeline[2].vehicle_id == "T1"
    assert view.now.status == "ON_VEHICLE" and view.now.vehicle.vehicle_id == "T1"
    assert view.now.next_facility.facility_id == "B-HUB"  # the route's next stop
    assert view.recipient.phone == "*******8000" and view.recipient.timezone == "Europe/Berlin"
    assert view.origin.facility_id == "A-OUT" and view.destination.facility_id == "C-OUT"
    assert view.eta.promised_at.isoformat() == "2026-11-22T13:00:00+01:00"
    assert view.eta.planned_at is not None and view.eta.on_time is True
    assert view.exceptions == [] and view.served_by == "w1"


def test_an_episode_shows_its_ticket_and_the_message_the_customer_was_sent(network):
    events = Events().waybill()
    events.scan("PICKUP", "A-OUT", 1).scan("HUB_ARRIVAL", "A-HUB", 2)
    events.scan("DAMAGE_REPORTED", "A-HUB", 2.5, reason="MAJOR")
    detector = _fed(network, events)
    view = waybill_view(detector.waybills["WB1"], detector.ctx, detector.clock.now, "w1")
    (opened,) = [r for r in _outputs(detector, "exceptions") if r["type"] == "DAMAGED"]
    (ticket,) = [
        t for t in _outputs(detector, "tickets") if t["exception_id"] == opened["exception_id"]
    ]
    (message,) = [
        n
        for n in _outputs(detector, "notifications")
        if n["exception_id"] == opened["exception_id"]
    ]
    (episode,) = [e for e in view.exceptions if e.type == "DAMAGED"]
    assert episode.exception_id == opened["exception_id"] and episode.status == "OPEN"
    assert episode.severity == opened["severity"] and episode.resolved_at is None
    assert episode.ticket.ticket_id == ticket["ticket_id"]
    assert episode.ticket.department == ticket["department"]
    assert episode.ticket.priority == ticket["priority"]
    assert episode.message.notification_id == message["notification_id"]
    assert episode.message.body == message["body"] and episode.message.title == message["title"]
    assert view.now.status == "AT_FACILITY" and view.now.facility.facility_id == "A-HUB"


def test_resolved_episodes_follow_the_open_ones_and_a_delivery_is_on_time_or_not(network):
    events = Events().waybill(promised=10)  # the journey delivers at 17 h: late
    events.journey()
    detector = _fed(network, events)
    view = waybill_view(detector.waybills["WB1"], detector.ctx, detector.clock.now, "w1")
    assert view.now.status == "DELIVERED" and view.eta.on_time is False
    assert view.eta.planned_at is None
    statuses = [e.status for e in view.exceptions]
    assert "RESOLVED" in statuses
    assert statuses == sorted(statuses, key=lambda s: s == "RESOLVED")
    resolved = [e for e in view.exceptions if e.status == "RESOLVED"]
    assert all(e.resolved_at is not None and e.resolved_at >= e.opened_at for e in resolved)


def test_a_vehicle_shows_its_position_condition_and_parcels(network):
    events = Events().waybill().scan("PICKUP", "A-OUT", 1)
    events.scan("HUB_DEPARTURE", "A-OUT", 2, vehicle_id="T1").gps("T1", 2.5, 22.6, 114.0)
    detector = _fed(network, events)
    view = vehicle_view(
        "T1", detector.vehicles["T1"], ["WB2", "WB1"], detector.ctx, detector.clock.now, "w1"
    )
    assert view.tracked and view.condition == "OK" and (view.lat, view.lon) == (22.6, 114.0)
    assert view.last_ping_at.isoformat() == "2026-11-20T02:30:00+00:00"
    assert view.parcels == ["WB1", "WB2"]
    unknown = vehicle_view("T9", None, ["WB1"], detector.ctx, detector.clock.now, "w1")
    assert not unknown.tracked and unknown.condition is None and unknown.parcels == ["WB1"]


def test_with_a_learned_model_the_lookup_shows_the_expected_window(network):
    ten = len(QUANTILE_LEVELS)
    model = ExpectedDelivery(
        pickup_hours=[1.0] * ten,
        arrival_late_hours=[0.0] * ten,
        last_mile_hours={"*": [0.5 + 0.4 * i for i in range(ten)]},
        missed_by_slack=[(240.0, 0.0, 0.0)],
    )
    events = Events().waybill(promised=60).scan("PICKUP", "A-OUT", 1)
    plain = _fed(network, events)
    assert plain.ctx.expected is None
    view = waybill_view(plain.waybills["WB1"], plain.ctx, plain.clock.now, "w1")
    assert view.eta.expected_at is None and view.eta.expected_from is None

    learned = _fed(network, events, RuleSettings(expected_delivery=model))
    view = waybill_view(learned.waybills["WB1"], learned.ctx, learned.clock.now, "w1")
    eta = view.eta
    assert eta.expected_from < eta.expected_at < eta.expected_to
    # The last mile's spread (0.5-4.1 h) is the window's: no connection is ever missed.
    assert (eta.expected_to - eta.expected_from).total_seconds() / 3600 <= 3.6 + 1e-6
    assert eta.planned_at is not None and eta.expected_at <= eta.planned_at
