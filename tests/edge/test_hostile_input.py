"""Hostile input through `parcelwatch replay` (CONTRACT §7): each case an attacker or a
broken device tried. A bad record is a dead letter with its reason, and nothing that
happens to the other parcels changes: their records stay byte-identical."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from parcelwatch.detection.actions.customer_text import is_clean
from parcelwatch.edge.intake import MAX_RECORD_BYTES, RAW_LIMIT, Oversized, read_lines
from parcelwatch.offline.replay import replay
from tests.support.streams import Events, read_outputs, utc

RECORD_FILES = ("exceptions.jsonl", "tickets.jsonl", "notifications.jsonl")


def _with_line(small_sim: Path, tmp_path: Path, line: dict, at: float = 0.5) -> Path:
    """The simulated stream with `line` inserted at fraction `at` of it."""
    lines = (small_sim / "ev.jsonl").read_bytes().splitlines()
    lines.insert(int(len(lines) * at), json.dumps(line, ensure_ascii=False).encode())
    path = tmp_path / "ev.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _replay(network: Path, source: Path, out: Path):
    replay(network, source, out)
    return read_outputs(out)


def _same_records(a: Path, b: Path) -> None:
    for name in RECORD_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


BAD_TIMES = {
    "2099 ping": {
        "topic": "gps",
        "value": {
            "vehicle_id": "LH-SZ-GZ-01",
            "lat": 22.6,
            "lon": 114.0,
            "event_time": "2099-01-01T00:00:00+08:00",
        },
    },
    "9999 scan": {
        "topic": "scans",
        "value": {
            "event_id": "bad-1",
            "waybill_no": "SF021000000003",
            "facility_id": "SZ-HUB",
            "scan_type": "HUB_ARRIVAL",
            "event_time": "9999-12-31T23:00:00-12:00",
        },
    },
    "year 1 scan": {
        "topic": "scans",
        "value": {
            "event_id": "bad-2",
            "waybill_no": "SF021000000003",
            "facility_id": "SZ-HUB",
            "scan_type": "HUB_ARRIVAL",
            "event_time": "0001-01-01T00:00:00+14:00",
        },
    },
    "2099 order": {
        "topic": "waybills",
        "value": {
            "waybill_no": "SF9",
            "product": "STANDARD",
            "created_at": "2099-01-01T00:00:00+08:00",
            "origin_facility_id": "SZ-NS",
            "destination_facility_id": "SZ-FT",
            "recipient": {"name": "张伟", "phone": "13800138000"},
        },
    },
}


@pytest.mark.parametrize("case", BAD_TIMES)
def test_a_record_from_a_broken_clock_is_a_dead_letter_and_changes_nothing_else(
    case, small_sim, default_network_path, tmp_path
):
    source = _with_line(small_sim, tmp_path, BAD_TIMES[case])
    out = _replay(default_network_path, source, tmp_path / "out")
    _same_records(small_sim / "replay", tmp_path / "out")
    baseline = read_outputs(small_sim / "replay").dead_letters
    assert len(out.dead_letters) == len(baseline) + 1
    raw = json.dumps(BAD_TIMES[case], ensure_ascii=False)
    letter = next(x for x in out.dead_letters if x["raw"] == raw)
    expected = "clock_jump" if "2099" in case else "semantic"
    assert letter["error"].startswith(expected + ":")


def test_a_time_zone_folder_is_a_dead_letter_not_a_read_failure(run):
    events = Events().waybill(timezone="Asia").waybill("WB2").journey("WB2")
    out = run(events)
    assert len(out.dead_letters) == 1
    assert out.dead_letters[0]["error"].startswith("semantic: recipient.timezone")
    assert out.statuses("DELAYED", "WB2") == []  # the next order went on as usual


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lat", "22.6"),
        ("lat", True),
        ("insured_value", "100"),
        ("insured_value", False),
        ("event_time", "1731408430"),
        ("event_time", 1731408430),
        ("created_at", "1731408430"),
    ],
)
def test_a_number_or_time_of_the_wrong_json_type_is_refused(run, field, value):
    events = Events()
    if field == "lat":
        events.add("gps", {"vehicle_id": "T1", "event_time": utc(1), "lat": value, "lon": 114})
    elif field in ("insured_value", "created_at"):
        events.waybill(**{field: value})
    else:
        events.waybill().scan("PICKUP", "A-OUT", 1, **{field: value})
    out = run(events)
    assert [x["error"].split(":")[:2] for x in out.dead_letters] == [["schema", f" {field}"]]


def test_a_byte_order_mark_does_not_cost_the_first_record(run, tmp_path, network_file):
    source = Events().waybill(promised=10).journey().write(tmp_path / "ev.jsonl")
    source.write_bytes(b"\xef\xbb\xbf" + source.read_bytes())
    replay(network_file, source, tmp_path / "o")
    out = read_outputs(tmp_path / "o")
    assert out.dead_letters == []
    assert out.statuses("DELAYED") == ["OPEN", "RESOLVED"]  # the order (line 1) was applied


class _Counting(io.BytesIO):
    """A file that remembers the longest piece it ever handed out."""

    most = 0

    def readline(self, size: int | None = -1) -> bytes:
        piece = super().readline(size)
        self.most = max(self.most, len(piece))
        return piece


def test_a_huge_line_is_refused_after_reading_at_most_64_kb_of_it():
    valid = b'{"topic": "gps", "value": {}}'
    data = _Counting(valid + b"\n" + b"x" * 20_000_000 + b"\n" + valid + b"\n")
    lines = list(read_lines(data))
    assert [n for n, _ in lines] == [1, 2, 3]
    big = lines[1][1]
    assert isinstance(big, Oversized) and big.size == 20_000_001 and len(big) == RAW_LIMIT
    assert lines[2][1] == valid
    assert data.most <= MAX_RECORD_BYTES + 2


def test_a_huge_line_is_a_too_large_dead_letter_and_produce_skips_it(run, tmp_path):
    events = Events().waybill().raw("{" + " " * 2_000_000 + "}").journey()
    out = run(events)
    assert [x["error"].split(":")[0] for x in out.dead_letters] == ["too_large"]
    assert len(out.dead_letters[0]["raw"]) <= RAW_LIMIT

    from parcelwatch.edge.files import read_replay_file

    skipped = []
    source = events.write(tmp_path / "ev.jsonl")
    sent = list(read_replay_file(source, lambda line, size: skipped.append((line, size))))
    assert skipped == [(2, 2_000_003)] and len(sent) == 11


ATTACK = "张三\n【快递】您的包裹已取消，请点击 http://refund.example.cn/x 退款\x00\x1b\u202e"


def test_an_injected_name_never_reaches_a_message(run):
    events = Events().waybill(name=ATTACK, promised=10).journey()
    out = run(events)
    assert out.dead_letters == []  # the order itself stays valid
    assert out.notifications, "DELAYED must message the customer"
    for note in out.notifications:
        assert is_clean(note["title"]) and is_clean(note["body"])
        assert "快递】" not in note["body"] and "http" not in note["body"]
        assert note["body"].startswith("您好!")


def test_a_reused_event_id_with_other_content_is_a_conflict_and_a_redelivery_is_not(run):
    events = Events().waybill(promised=200).scan("PICKUP", "A-OUT", 1, event_id="E1")
    events.scan("HUB_ARRIVAL", "A-HUB", 2, event_id="E2")
    events.scan("DAMAGE_REPORTED", "A-HUB", 3, event_id="E2", reason="DESTROYED")
    events.scan("HUB_ARRIVAL", "A-HUB", 2, event_id="E2")  # a true redelivery
    out = run(events)
    assert [x["error"].split(":")[0] for x in out.dead_letters] == ["event_id_conflict"]
    assert out.dead_letters[0]["line"] == 4
    assert out.of("DAMAGED") == []


def test_a_failed_delivery_redelivered_after_many_scans_changes_nothing(run):
    events = Events().waybill(promised=400).journey(start=1)
    events.lines.pop()  # not delivered
    events.scan("DELIVERY_FAILED", "C-OUT", 16, event_id="F1", reason="RECIPIENT_ABSENT")
    for i in range(70):
        events.scan("OUT_FOR_DELIVERY", "C-OUT", 17 + i * 0.1)
    events.scan("DELIVERY_FAILED", "C-OUT", 16, event_id="F1", reason="RECIPIENT_ABSENT")
    out = run(events)
    assert out.statuses("DELIVERY_FAILED") == ["OPEN"]  # no second failure, no escalation
    assert [n["type"] for n in out.notifications].count("DELIVERY_FAILED") == 1


def test_scans_past_the_cap_are_over_limit_and_output_stays_bounded(run):
    events = Events().waybill(promised=4000)
    facilities = ["A-HUB", "X-HUB"]  # back and forth: a misroute each time, unbounded before
    for i in range(1000):
        events.scan("HUB_ARRIVAL", facilities[i % 2], 1 + i * 0.01)
    out = run(events, config={"max_scans_per_waybill": 50, "max_episodes_per_waybill": 30})
    reasons = [x["error"].split(":")[0] for x in out.dead_letters]
    assert set(reasons) == {"over_limit"} and len(reasons) >= 950
    assert len({e["exception_id"] for e in out.exceptions}) <= 30
    assert len(out.exceptions) <= 3 * 30 and len(out.tickets) <= 3 * 30


def test_a_full_vehicle_refuses_more_parcels_and_the_others_ride_on(run):
    events = Events()
    for i in range(12):
        events.waybill(f"W{i}", promised=400)
        events.scan("PICKUP", "A-OUT", 1, f"W{i}")
        events.scan("LOAD", "A-OUT", 1.5, f"W{i}", vehicle_id="T1")
    events.gps("T1", 2, 23.3, 114.05).gps("T1", 4, 23.3, 114.05)  # stopped on the road
    out = run(events, config={"max_parcels_per_vehicle": 10})
    letters = out.dead_letters
    assert [x["error"].split(":")[0] for x in letters] == ["over_limit", "over_limit"]
    assert {json.loads(x["raw"])["value"]["waybill_no"] for x in letters} == {"W10", "W11"}
    stalled = {e["waybill_no"] for e in out.of("STALLED_IN_TRANSIT")}
    assert stalled == {f"W{i}" for i in range(10)}


def test_replay_of_a_file_of_bad_lines_never_fails(tmp_path, network_file):
    """The crash cases of the issue, in one file, through the command as a user runs it."""
    source = (
        Events()
        .waybill(timezone="Asia")
        .raw(
            '{"topic": "scans", "value": {"event_id": "e", "waybill_no": "W", "facility_id":'
            ' "A-OUT", "scan_type": "PICKUP", "event_time": "9999-12-31T23:00:00-12:00"}}'
        )
        .raw("\x00\xff not json")
        .write(tmp_path / "ev.jsonl")
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "parcelwatch",
            "replay",
            "--network",
            str(network_file),
            "--input",
            str(source),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    letters = read_outputs(tmp_path / "o").dead_letters
    assert [x["error"].split(":")[0] for x in letters] == ["semantic", "semantic", "decode"]


def test_unicode_line_breaks_in_a_dead_letter_keep_it_one_line(run, tmp_path):
    events = Events().raw('{"topic": "scans", "value": {"event_id": "a\u2028b\x85c\u2029"}}')
    out = run(events.waybill())
    text = (tmp_path / "out-0" / "dead_letters.jsonl").read_text(encoding="utf-8")
    assert len(text.splitlines()) == 1 == len(out.dead_letters)
    assert json.loads(text)["raw"].endswith('"a\u2028b\x85c\u2029"}}')
