"""Hypothesis strategies: random streams of orders, scans and pings on the test network."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from parcelwatch.schemas import GpsPing, Scan, Waybill
from tests.support.streams import BASE, COORDS, ROUTE

FACILITIES = sorted(COORDS)
SHANGHAI = ZoneInfo("Asia/Shanghai")
WAYBILLS = ["W1", "W2", "W3"]
VEHICLES = ["T1", "T2"]
SCAN_TYPES = [
    "PICKUP",
    "HUB_ARRIVAL",
    "HUB_DEPARTURE",
    "LOAD",
    "UNLOAD",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
    "DELIVERY_FAILED",
    "DAMAGE_REPORTED",
    "RETURNED_TO_SENDER",
]
REASON = {"DELIVERY_FAILED": ["RECIPIENT_ABSENT", "OTHER"], "DAMAGE_REPORTED": ["MINOR", "MAJOR"]}

minutes = st.integers(min_value=0, max_value=60 * 24 * 6)


@st.composite
def waybills(draw):
    created = draw(st.integers(0, 600))
    return Waybill(
        waybill_no=draw(st.sampled_from(WAYBILLS)),
        product=draw(st.sampled_from(["SAME_DAY", "NEXT_DAY", "STANDARD", "ECONOMY"])),
        created_at=BASE + timedelta(minutes=created),
        promised_at=draw(
            st.one_of(
                st.none(), st.builds(lambda m: BASE + timedelta(minutes=created + m), minutes)
            )
        ),
        origin_facility_id="A-OUT",
        destination_facility_id="C-OUT",
        planned_route=draw(st.sampled_from([None, ROUTE])),
        insured_value=draw(st.sampled_from([0, 500])),
        recipient={
            "name": "张伟",
            "phone": "13800138000",
            "locale": draw(st.sampled_from(["zh-CN", "en"])),
        },
    )


@st.composite
def scans(draw):
    kind = draw(st.sampled_from(SCAN_TYPES))
    vehicle = (
        draw(st.sampled_from(VEHICLES))
        if kind in ("LOAD", "UNLOAD")
        else draw(st.one_of(st.none(), st.sampled_from(VEHICLES)))
    )
    return Scan(
        event_id=f"e{draw(st.integers(0, 40))}",
        waybill_no=draw(st.sampled_from(WAYBILLS)),
        facility_id=draw(st.sampled_from(FACILITIES)),
        event_time=BASE + timedelta(minutes=draw(minutes)),
        scan_type=kind,
        vehicle_id=vehicle,
        next_facility_id=draw(st.one_of(st.none(), st.sampled_from(FACILITIES))),
        reason=draw(st.sampled_from(REASON[kind])) if kind in REASON else None,
    )


@st.composite
def pings(draw):
    lat, lon = draw(st.sampled_from([*list(COORDS.values()), (23.3, 114.05), (25.0, 114.0)]))
    jitter = draw(st.floats(-0.02, 0.02))
    return GpsPing(
        vehicle_id=draw(st.sampled_from(VEHICLES)),
        event_time=BASE + timedelta(minutes=draw(minutes)),
        lat=lat + jitter,
        lon=lon,
    )


streams = st.lists(st.one_of(waybills(), scans(), scans(), pings()), max_size=60)
