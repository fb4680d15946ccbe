"""The edge under arbitrary input (CONTRACT §7): any JSON value in any field of any record
type, through the intake and the core, is applied or refused with a reason. Nothing
escapes, whatever the value."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcelwatch.detection.detector import Detector
from parcelwatch.detection.errors import InvalidRecord
from parcelwatch.edge.files import parse_line
from parcelwatch.edge.intake import ARRIVAL_HEADER, arrival
from parcelwatch.offline.replay import replay
from tests.support.streams import BASE, Events

VALID = {
    "waybills": {
        "waybill_no": "W1",
        "product": "STANDARD",
        "created_at": BASE.isoformat(),
        "promised_at": "2026-11-22T09:00:00+08:00",
        "origin_facility_id": "A-OUT",
        "destination_facility_id": "C-OUT",
        "planned_route": ["A-OUT", "A-HUB", "B-HUB", "C-HUB", "C-OUT"],
        "insured_value": 100,
        "recipient": {
            "name": "张伟",
            "phone": "13800138000",
            "locale": "en",
            "timezone": "Asia/Shanghai",
        },
        "sender": {"name": "李娜", "phone": "+86 139 1234 5678"},
    },
    "scans": {
        "event_id": "E1",
        "waybill_no": "W1",
        "facility_id": "A-HUB",
        "event_time": "2026-11-20T10:00:00+08:00",
        "scan_type": "DAMAGE_REPORTED",
        "vehicle_id": "T1",
        "next_facility_id": "B-HUB",
        "reason": "MAJOR",
        "courier_id": "C1",
        "description": "box crushed",
        "photos": ["https://x/1.jpg"],
    },
    "gps": {
        "vehicle_id": "T1",
        "event_time": "2026-11-20T10:00:00+08:00",
        "lat": 24.0,
        "lon": 114.0,
        "speed_kmh": 60,
    },
}
FIELDS = [
    (topic, path)
    for topic, value in VALID.items()
    for path in [*value, *(f"{k}.{n}" for k, v in value.items() if isinstance(v, dict) for n in v)]
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "9999-12-31T23:00:00-12:00",
            "0001-01-01T00:00:00+14:00",
            "Asia",
            "2099-01-01T00:00:00Z",
            "1731408430",
            "22.6",
            "PICKUP",
            "A-OUT",
        ]
    ),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def _with(topic: str, path: str, value: object) -> dict:
    record = json.loads(json.dumps(VALID[topic]))
    head, _, rest = path.partition(".")
    if rest:
        record[head][rest] = value
    else:
        record[head] = value
    return record


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(FIELDS), json_values), min_size=1, max_size=12))
def test_any_value_in_any_field_is_applied_or_refused_with_a_reason(network, changes):
    detector = Detector(network)
    detector.feed(
        parse_line(json.dumps({"topic": "waybills", "value": VALID["waybills"]}).encode(), network)
    )
    for (topic, path), value in changes:
        line = json.dumps({"topic": topic, "value": _with(topic, path, value)}).encode()
        try:
            detector.feed(parse_line(line, network))
        except InvalidRecord as exc:
            assert exc.reason and str(exc)
    detector.advance((detector.clock.now or 0) + 30 * 86_400_000_000)
    for _, record in detector.outputs:
        assert record.model_dump_json()  # every output serialises


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(FIELDS), json_values), min_size=1, max_size=20))
def test_replay_accounts_for_every_line(tmp_path_factory, network_file, changes):
    events = Events()
    for (topic, path), value in changes:
        events.add(topic, _with(topic, path, value))
    work = tmp_path_factory.mktemp("any")
    summary = replay(network_file, events.write(work / "ev.jsonl"), work / "out")
    letters = (work / "out" / "dead_letters.jsonl").read_text().splitlines()
    assert summary.lines == len(changes)
    assert summary.records + len(letters) - summary.letters_for_applied == summary.lines
    for letter in map(json.loads, letters):
        reason, _, message = letter["error"].partition(": ")
        assert reason and message


def test_an_arrival_header_is_read_only_when_it_is_a_number():
    assert arrival([(ARRIVAL_HEADER, b"1700000000000000")]) == 1_700_000_000_000_000
    assert arrival({ARRIVAL_HEADER: b"12"}) == 12
    for junk in (b"", b"x", b"-5", b"1e9", b"9" * 5000, None):
        assert arrival([("other", b"1"), (ARRIVAL_HEADER, junk)]) is None
    assert arrival(None) is None and arrival([]) is None
