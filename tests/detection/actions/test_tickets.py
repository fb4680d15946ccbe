"""The routing table of CONTRACT §5, row by row."""

import pytest

from parcelwatch.detection.actions import tickets
from parcelwatch.detection.state import Episode, WaybillState


def _route(network, exc_type, facility="B-HUB", product="STANDARD", insured=0.0, **state):
    w = WaybillState("WB1")
    w.product = product
    w.insured_value = insured
    for name, value in state.items():
        setattr(w, name, value)
    ep = Episode("x", exc_type, 0, "LOW", 0, None, facility, None, 0)
    return tickets.route(w, ep, network)


@pytest.mark.parametrize(
    ("exc_type", "kwargs", "expected"),
    [
        ("DAMAGED", {"damage_rank": 1}, ("CLAIMS", "P2")),
        ("DAMAGED", {"damage_rank": 1, "insured": 10.0}, ("CLAIMS", "P1")),
        ("DAMAGED", {"damage_rank": 2}, ("CLAIMS", "P1")),
        ("DAMAGED", {"damage_rank": 3}, ("CLAIMS", "P1")),
        ("LOST_SUSPECTED", {}, ("CLAIMS", "P2")),
        ("LOST_SUSPECTED", {"insured": 1.0}, ("CLAIMS", "P1")),
        ("STALLED_AT_FACILITY", {}, ("HUB_OPERATIONS", "P2")),
        ("STALLED_AT_FACILITY", {"product": "SAME_DAY"}, ("HUB_OPERATIONS", "P1")),
        ("STALLED_AT_FACILITY", {"product": "NEXT_DAY"}, ("HUB_OPERATIONS", "P1")),
        ("STALLED_AT_FACILITY", {"facility": "C-OUT"}, ("DELIVERY_STATION", "P2")),
        ("STALLED_IN_TRANSIT", {"facility": None}, ("LINEHAUL", "P2")),
        ("MISROUTED", {}, ("HUB_OPERATIONS", "P2")),
        ("MISSED_SCAN", {}, ("HUB_OPERATIONS", "P3")),
        ("MISSED_SCAN", {"facility": "C-OUT"}, ("DELIVERY_STATION", "P3")),
        ("DELIVERY_FAILED", {"failures": 1, "facility": "C-OUT"}, ("DELIVERY_STATION", "P3")),
        ("DELIVERY_FAILED", {"failures": 2, "facility": "C-OUT"}, ("DELIVERY_STATION", "P2")),
        ("DELAYED", {}, ("CUSTOMER_SERVICE", "P3")),
        ("DELAYED", {"product": "SAME_DAY"}, ("CUSTOMER_SERVICE", "P2")),
        ("PICKUP_OVERDUE", {"facility": "A-OUT"}, ("DELIVERY_STATION", "P3")),
    ],
)
def test_routing_table(network, exc_type, kwargs, expected):
    assert _route(network, exc_type, **kwargs) == expected


def test_prediction_has_no_ticket():
    assert "DELAY_PREDICTED" in tickets.NO_TICKET


def test_due_times_follow_priority(events, run):
    events.waybill(promised=200)
    out = run(events, until=25)
    (ticket,) = out.tickets
    assert ticket["priority"] == "P3"
    assert ticket["created_at"] == "2026-11-21T00:00:00+00:00"
    assert ticket["due_at"] == "2026-11-22T00:00:00+00:00"  # P3: 24 h
    assert ticket["summary"] and "\n" not in ticket["summary"]
    assert ticket["suggested_actions"]


def test_english_ticket_text(events, run):
    events.waybill(promised=200)
    (ticket,) = run(events, until=25, config={"ticket_locale": "en"}).tickets
    assert ticket["summary"].startswith("Waybill WB1 not picked up")
