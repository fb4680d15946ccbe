"""Edge validation of CONTRACT §2 records: what is accepted and what is refused."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from parcelwatch.schemas import GpsPing, Scan, Waybill

WAYBILL = {
    "waybill_no": "SF-123",
    "product": "NEXT_DAY",
    "created_at": "2026-11-20T09:00:00+08:00",
    "origin_facility_id": "A-OUT",
    "destination_facility_id": "C-OUT",
    "recipient": {"name": "张伟", "phone": "13800138000"},
}
SCAN = {
    "event_id": "e1",
    "waybill_no": "SF-123",
    "facility_id": "A-OUT",
    "event_time": "2026-11-20T09:00:00+08:00",
    "scan_type": "PICKUP",
}
PING = {"vehicle_id": "T1", "event_time": "2026-11-20T09:00:00Z", "lat": 22.5, "lon": 114.0}


def test_minimal_records_validate_with_defaults():
    wb = Waybill.model_validate(WAYBILL)
    assert wb.recipient.locale == "zh-CN"
    assert wb.recipient.timezone == "Asia/Shanghai"
    assert wb.insured_value == 0
    assert Scan.model_validate(SCAN).vehicle_id is None
    assert GpsPing.model_validate(PING).speed_kmh is None


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"waybill_no": "SF 123"}, "waybill_no"),
        ({"waybill_no": "X" * 41}, "waybill_no"),
        ({"waybill_no": ""}, "waybill_no"),
        ({"product": "OVERNIGHT"}, "product"),
        ({"created_at": "2026-11-20T09:00:00"}, "UTC offset"),
        ({"created_at": 1763600000}, "ISO-8601"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"promised_at": "2026-11-19T09:00:00+08:00"}, "before created_at"),
        ({"insured_value": -1}, "insured_value"),
        ({"insured_value": "lots"}, "insured_value"),
        ({"planned_route": ["B-HUB", "C-OUT"]}, "start at origin"),
        ({"planned_route": ["A-OUT", "B-HUB"]}, "end at destination"),
        ({"planned_route": []}, "planned_route"),
        ({"recipient": {"name": "张伟"}}, "phone"),
        ({"recipient": {"name": "张伟", "phone": "call me"}}, "phone"),
        ({"recipient": {"name": "张伟", "phone": "13800138000", "locale": "fr"}}, "locale"),
        ({"recipient": {"name": "张伟", "phone": "13800138000", "timezone": "Mars/Base"}}, "IANA"),
        ({"recipient": {"name": "", "phone": "13800138000"}}, "name"),
    ],
)
def test_bad_waybills_are_refused(patch, message):
    with pytest.raises(ValidationError, match=message):
        Waybill.model_validate(WAYBILL | patch)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"scan_type": "TELEPORTED"}, "scan_type"),
        ({"event_time": "2026-11-20 09:00"}, "UTC offset"),
        ({"event_id": ""}, "event_id"),
        ({"scan_type": "LOAD"}, "vehicle_id is required on LOAD"),
        ({"scan_type": "UNLOAD"}, "vehicle_id is required on UNLOAD"),
        ({"scan_type": "DELIVERY_FAILED"}, "reason on DELIVERY_FAILED"),
        ({"scan_type": "DELIVERY_FAILED", "reason": "MAJOR"}, "reason on DELIVERY_FAILED"),
        ({"scan_type": "DAMAGE_REPORTED", "reason": "REFUSED"}, "reason on DAMAGE_REPORTED"),
        ({"description": "x" * 501}, "description"),
        ({"photos": ["ftp://x/y.jpg"]}, "photos"),
        ({"photos": ["https://x/y.jpg"] * 21}, "photos"),
        ({"facility_id": "A OUT"}, "facility_id"),
        ({"facility_id": "X" * 65}, "facility_id"),
    ],
)
def test_bad_scans_are_refused(patch, message):
    with pytest.raises(ValidationError, match=message):
        Scan.model_validate(SCAN | patch)


@pytest.mark.parametrize(
    "patch",
    [{"lat": 91}, {"lon": -181}, {"lat": "north"}, {"speed_kmh": -3}, {"event_time": None}],
)
def test_bad_pings_are_refused(patch):
    with pytest.raises(ValidationError):
        GpsPing.model_validate(PING | patch)


def test_unknown_fields_are_ignored_for_forward_compatibility():
    assert Scan.model_validate(SCAN | {"scanner_firmware": "2.1"}).event_id == "e1"


@given(st.text(max_size=60))
def test_arbitrary_timestamp_text_never_validates_without_an_offset(text):
    try:
        scan = Scan.model_validate(SCAN | {"event_time": text})
    except ValidationError:
        return
    assert scan.event_time.tzinfo is not None
