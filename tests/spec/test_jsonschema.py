import json

import orjson
import pytest
from jsonschema import Draft202012Validator

from parcelwatch.cli import main
from parcelwatch.detection.errors import InvalidRecord
from parcelwatch.devtools.fuzz import Fuzzer, FuzzReport, seed_stream
from parcelwatch.edge.intake import validate
from parcelwatch.schemas import GpsBatch, GpsPing, Scan, Waybill
from parcelwatch.spec.jsonschema import DIALECT, record_schema


def test_schemas_command_writes_one_schema_per_record(tmp_path, capsys):
    assert main(["schemas", "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(
        f"{n}.schema.json"
        for n in (
            "Waybill",
            "Scan",
            "GpsPing",
            "GpsBatch",
            "Exception",
            "Ticket",
            "Notification",
            "DeadLetter",
        )
    )
    scan = json.loads((tmp_path / "Scan.schema.json").read_text())
    assert "scan_type" in scan["required"]
    exc = json.loads((tmp_path / "Exception.schema.json").read_text())
    assert set(exc["properties"]) >= {"exception_id", "type", "status", "severity", "evidence"}


# --- the published schemas against the service's own verdicts -------------------------

TOPIC_RECORD = {"waybills": "Waybill", "scans": "Scan", "gps": "GpsPing"}
MODELS = {"Waybill": Waybill, "Scan": Scan, "GpsPing": GpsPing, "GpsBatch": GpsBatch}


@pytest.fixture(scope="module")
def validators() -> dict[str, Draft202012Validator]:
    out = {}
    for name in MODELS:
        schema = record_schema(name)
        Draft202012Validator.check_schema(schema)
        out[name] = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return out


def _record_name(topic: str, value: object) -> str:
    # One topic carries two records: a GPS value with `pings` is a GpsBatch (intake.py).
    if topic == "gps" and isinstance(value, dict) and "pings" in value:
        return "GpsBatch"
    return TOPIC_RECORD[topic]


def _service(topic: str, value: object, network) -> str | None:
    """None when the service takes the record, else its dead letter's reason."""
    try:
        validate(topic, value, network)
    except InvalidRecord as exc:
        return exc.reason
    return None


def test_every_schema_names_its_dialect_and_dates_every_timestamp():
    for name in ("Waybill", "Scan", "GpsPing", "GpsBatch", "Exception", "DeadLetter"):
        schema = record_schema(name)
        assert schema["$schema"] == DIALECT
        Draft202012Validator.check_schema(schema)
    received = record_schema("DeadLetter")["properties"]["received_at"]
    assert received["format"] == "date-time"
    created = record_schema("Waybill")["properties"]["created_at"]
    assert created["format"] == "date-time"


SCAN = {
    "event_id": "E1",
    "waybill_no": "WB1",
    "facility_id": "A-OUT",
    "event_time": "2026-11-20T09:00:00+08:00",
    "scan_type": "PICKUP",
}
WAYBILL = {
    "waybill_no": "WB1",
    "product": "NEXT_DAY",
    "created_at": "2026-11-20T09:00:00+08:00",
    "origin_facility_id": "A-OUT",
    "destination_facility_id": "C-OUT",
    "recipient": {"name": "张三", "phone": "13912345678"},
}


@pytest.mark.parametrize(
    ("topic", "value", "reason"),
    [
        ("scans", SCAN, None),
        ("scans", {**SCAN, "scan_type": "LOAD"}, "schema"),
        ("scans", {**SCAN, "scan_type": "UNLOAD", "vehicle_id": None}, "schema"),
        ("scans", {**SCAN, "scan_type": "LOAD", "vehicle_id": "T1"}, None),
        ("scans", {**SCAN, "scan_type": "DAMAGE_REPORTED", "reason": "BROKEN"}, "schema"),
        ("scans", {**SCAN, "scan_type": "DAMAGE_REPORTED", "reason": "MAJOR"}, None),
        ("scans", {**SCAN, "scan_type": "DELIVERY_FAILED"}, "schema"),
        ("scans", {**SCAN, "scan_type": "DELIVERY_FAILED", "reason": "MINOR"}, "schema"),
        ("scans", {**SCAN, "scan_type": "DELIVERY_FAILED", "reason": "REFUSED"}, None),
        ("scans", {**SCAN, "event_time": "2026-11-20t09:00:00z"}, "schema"),
        ("scans", {**SCAN, "event_time": "2026-11-20T09:00:00"}, "schema"),
        ("scans", {**SCAN, "event_id": "   "}, "schema"),
        ("scans", {**SCAN, "event_time": "2100-01-01T00:00:00Z"}, "semantic"),
        ("scans", {**SCAN, "facility_id": "NO-SUCH-SITE"}, "unknown_facility"),
        ("waybills", WAYBILL, None),
        ("waybills", {**WAYBILL, "recipient": {"name": "x", "phone": "1234 "}}, "schema"),
        (
            "waybills",
            {**WAYBILL, "recipient": {**WAYBILL["recipient"], "timezone": "Mars/Base"}},
            "semantic",
        ),
        ("waybills", {**WAYBILL, "planned_route": ["C-OUT", "A-OUT"]}, "semantic"),
        ("waybills", {**WAYBILL, "promised_at": "2026-11-19T09:00:00+08:00"}, "semantic"),
        ("gps", {"vehicle_id": "T1", "pings": []}, "schema"),
    ],
)
def test_a_record_the_schema_takes_is_refused_only_for_what_it_cannot_state(
    validators, network, topic, value, reason
):
    assert _service(topic, value, network) == reason
    schema_takes = validators[_record_name(topic, value)].is_valid(value)
    assert schema_takes == (reason != "schema")


def test_the_schemas_agree_with_the_service_on_the_simulator_and_the_hostile_corpus(
    validators, network
):
    """Over the simulator's records and the fuzzer's mutations of them (the corpus of
    `parcelwatch fuzz`): a record the schema takes is refused only for a rule it cannot
    state; a record refused as `schema` fails the schema; a `semantic` refusal has the
    schema's shape; and what the service takes, the schema takes once spelled as the
    service reads it (stripped text, RFC 3339 times: the documented leniency)."""
    seed = seed_stream(network, 40, 7)
    verdicts: dict[str, int] = {}
    for topic, value in seed:  # unmutated: both must take every one as it is
        assert _service(topic, value, network) is None, value
        assert validators[_record_name(topic, value)].is_valid(value), value
    for line in Fuzzer(7, seed).lines(20_000, 0.6, FuzzReport()):
        try:
            envelope = orjson.loads(line)
            topic, value = envelope["topic"], envelope["value"]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            continue
        if topic not in TOPIC_RECORD:
            continue
        name = _record_name(topic, value)
        reason = _service(topic, value, network)
        takes = validators[name].is_valid(value)
        key = f"{reason or 'taken'}/{'valid' if takes else 'invalid'}"
        verdicts[key] = verdicts.get(key, 0) + 1
        if reason == "schema":
            assert not takes, (name, value)
        elif reason is not None:
            assert takes, (reason, name, value)
        elif not takes:
            spelled = MODELS[name].model_validate(value).model_dump(mode="json", exclude_unset=True)
            assert validators[name].is_valid(spelled), (name, value)
    # The corpus reaches every verdict, so none of the checks above is vacuous.
    assert verdicts.get("taken/valid", 0) > 5_000, verdicts
    assert verdicts.get("schema/invalid", 0) > 1_000, verdicts
    assert verdicts.get("semantic/valid", 0) > 20, verdicts
    assert verdicts.get("unknown_facility/valid", 0) > 20, verdicts
