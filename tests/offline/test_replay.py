"""`parcelwatch replay` as a command: arguments, files, dead letters, determinism."""

import json
import subprocess
import sys

import pytest

from parcelwatch.cli import main
from tests.support.streams import Events, read_outputs


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "parcelwatch", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_writes_the_four_files_and_exits_zero(tmp_path, network_file):
    events = Events().waybill(promised=10).journey()
    source = events.write(tmp_path / "ev.jsonl")
    result = _cli(
        "replay",
        "--network",
        str(network_file),
        "--input",
        str(source),
        "--out",
        str(tmp_path / "o"),
    )
    assert result.returncode == 0, result.stderr
    out = read_outputs(tmp_path / "o")
    assert out.of("DELAYED") and out.tickets and out.notifications
    assert out.dead_letters == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--network", "missing.yaml"], "cannot read"),
        (["--input", "missing.jsonl"], "cannot read"),
        (["--until", "tomorrow"], "--until"),
        (["--until", "2026-11-20T10:00:00"], "UTC offset"),
        (["--until", "2150-01-01T00:00:00+00:00"], "2100-01-01"),
        (["--config", "missing.yaml"], "cannot read"),
    ],
)
def test_unusable_arguments_exit_nonzero_with_one_line(tmp_path, network_file, args, message):
    source = Events().waybill().write(tmp_path / "ev.jsonl")
    base = {"--network": str(network_file), "--input": str(source), "--out": str(tmp_path / "o")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value if not value.startswith("missing") else str(tmp_path / value)
    argv = ["replay"] + [x for kv in base.items() for x in kv]
    result = _cli(*argv)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_bad_config_value_is_an_argument_error(tmp_path, network_file, capsys):
    source = Events().waybill().write(tmp_path / "ev.jsonl")
    config = tmp_path / "c.yaml"
    config.write_text("hub_dwell_hours: -4\n")
    code = main(
        [
            "replay",
            "--network",
            str(network_file),
            "--input",
            str(source),
            "--out",
            str(tmp_path / "o"),
            "--config",
            str(config),
        ]
    )
    assert code == 2
    assert "hub_dwell_hours" in capsys.readouterr().err


def test_missing_required_argument_exits_nonzero():
    assert _cli("replay", "--network", "x.yaml").returncode != 0


BAD_LINES = [
    ("not json at all", "decode"),
    ('["a", "list"]', "decode"),
    ('{"value": {}}', "envelope"),
    ('{"topic": "scans"}', "envelope"),
    ('{"topic": "parcels", "value": {}}', "unknown_topic"),
    ('{"topic": "scans", "value": "text"}', "schema"),
    ('{"topic": "scans", "value": {"event_id": "x"}}', "schema"),
    (
        '{"topic": "scans", "value": {"event_id": "x", "waybill_no": "W", "facility_id": "NOWHERE",'
        ' "event_time": "2026-11-20T09:00:00+08:00", "scan_type": "PICKUP"}}',
        "unknown_facility",
    ),
    (
        '{"topic": "scans", "value": {"event_id": "x", "waybill_no": "W", "facility_id": "A-OUT",'
        ' "event_time": "2026-11-20T09:00:00", "scan_type": "PICKUP"}}',
        "UTC offset",
    ),
    (
        '{"topic": "waybills", "value": {"waybill_no": "W", "product": "STANDARD",'
        ' "created_at": "2026-11-20T09:00:00+08:00", "origin_facility_id": "NOWHERE",'
        ' "destination_facility_id": "C-OUT", "recipient": {"name": "a", "phone": "13800138000"}}}',
        "unknown_facility",
    ),
    (
        '{"topic": "gps", "value": {"vehicle_id": "T", "event_time": "2026-11-20T09:00:00Z", '
        '"lat": 95, "lon": 0}}',
        "lat",
    ),
    ('{"topic": "scans", "value": {"description": "' + "x" * 70000 + '"}}', "too_large"),
    (
        '{"topic": "scans", "key": "SOMEONE-ELSE", "value": {"event_id": "k1", "waybill_no":'
        ' "WB1", "facility_id": "A-OUT", "event_time": "2026-11-20T09:00:00+08:00",'
        ' "scan_type": "PICKUP"}}',
        "key_mismatch",
    ),
    (
        '{"topic": "gps", "key": 7, "value": {"vehicle_id": "T", "event_time":'
        ' "2026-11-20T09:00:00Z", "lat": 22.6, "lon": 114.0}}',
        "key_mismatch",
    ),
]


def test_every_bad_line_is_a_dead_letter_and_processing_continues(run):
    events = Events().waybill(promised=200)
    for line, _ in BAD_LINES:
        events.raw(line)
    events.scan("DAMAGE_REPORTED", "A-OUT", 2, reason="MAJOR")
    out = run(events)
    assert len(out.dead_letters) == len(BAD_LINES)
    for letter, (line, reason) in zip(out.dead_letters, BAD_LINES, strict=True):
        assert reason in letter["error"]
        assert letter["raw"] == line[: 10 * 1024]
        assert letter["line"] >= 2
        assert letter["received_at"].endswith("+00:00")
    assert out.statuses("DAMAGED") == ["OPEN"]  # the valid record after them was processed
    assert out.dead_letters[4]["source_topic"] == "parcels"
    assert out.dead_letters[0]["source_topic"] == "unknown"


def test_a_line_keyed_by_its_id_is_applied(run):
    events = Events().waybill(promised=200)
    events.add(
        "scans",
        {
            "event_id": "k1",
            "waybill_no": "WB1",
            "facility_id": "A-OUT",
            "event_time": "2026-11-20T09:00:00+08:00",
            "scan_type": "DAMAGE_REPORTED",
            "reason": "MAJOR",
        },
        key="WB1",
    )
    out = run(events)
    assert out.dead_letters == [] and out.statuses("DAMAGED") == ["OPEN"]


def test_blank_lines_are_skipped(run):
    events = Events().waybill(promised=200).raw("").raw("   ")
    assert run(events).dead_letters == []


def test_two_replays_give_identical_outputs(tmp_path, network_file):
    events = Events()
    for i in range(5):
        events.waybill(f"WB{i}", promised=12 + i)
        events.journey(f"WB{i}", start=1 + i)
    events.scan("DAMAGE_REPORTED", "B-HUB", 9, no="WB1", reason="MINOR")
    source = events.write(tmp_path / "ev.jsonl")
    outs = []
    for n in range(2):
        assert (
            main(
                [
                    "replay",
                    "--network",
                    str(network_file),
                    "--input",
                    str(source),
                    "--out",
                    str(tmp_path / f"o{n}"),
                    "--until",
                    "2026-11-25T00:00:00+08:00",
                ]
            )
            == 0
        )
        outs.append({p.name: p.read_bytes() for p in (tmp_path / f"o{n}").iterdir()})
    assert outs[0] == outs[1]
    assert outs[0]["exceptions.jsonl"]


def test_outputs_validate_against_the_published_models(run):
    from parcelwatch.schemas import DeadLetter, ExceptionRecord, Notification, Ticket

    events = Events().waybill(promised=10).journey().raw("oops")
    events.scan("DAMAGE_REPORTED", "C-OUT", 20, reason="MINOR")
    out = run(events)
    for model, records in (
        (ExceptionRecord, out.exceptions),
        (Ticket, out.tickets),
        (Notification, out.notifications),
        (DeadLetter, out.dead_letters),
    ):
        assert records
        for record in records:
            model.model_validate_json(json.dumps(record))


def test_fields_that_do_not_apply_are_left_out(run):
    events = Events().waybill(promised=10).journey().raw("oops")
    out = run(events)
    for record in out.exceptions:
        assert ("resolved_at" in record) == (record["status"] == "RESOLVED")
    delayed = out.of("DELAYED")[0]
    assert "vehicle_id" not in delayed or delayed["vehicle_id"]
    (letter,) = out.dead_letters
    assert letter["line"] == len(events.lines) and "key" not in letter
