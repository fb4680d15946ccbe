import json

from parcelwatch.cli import main
from parcelwatch.sim.evaluate import evaluate


def _write(path, records):
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def _label(wb, kind, start, end, promised=None):
    return {
        "kind": "label",
        "waybill_no": wb,
        "type": kind,
        "due_from": start,
        "due_to": end,
        "cause": "x",
        "promised_at": promised,
    }


def _open(wb, kind, at, exc_id=None):
    return {
        "exception_id": exc_id or f"{wb}-{kind}-{at}",
        "waybill_no": wb,
        "type": kind,
        "status": "OPEN",
        "detected_at": at,
    }


T = "2026-11-20T{:02d}:00:00+00:00".format


def test_matching_counts_tp_fp_fn_duplicates_and_delays(tmp_path):
    truth = _write(
        tmp_path / "truth.jsonl",
        [
            _label("W1", "LOST_SUSPECTED", T(1), T(3)),
            _label("W2", "LOST_SUSPECTED", T(1), T(3)),  # missed
            _label("W3", "DELAY_PREDICTED", T(0), T(10), promised=T(10)),
            _label("W9", "LOST_SUSPECTED", T(23), T(23)),  # due after `until`: ignored
            {"kind": "quiet", "waybill_no": "W4"},
            {"kind": "meta", "until": T(20)},
        ],
    )
    exceptions = _write(
        tmp_path / "exc.jsonl",
        [
            _open("W1", "LOST_SUSPECTED", T(2)),  # tp, 1 h late
            {**_open("W1", "LOST_SUSPECTED", T(2)), "status": "RESOLVED"},  # not a detection
            _open("W4", "LOST_SUSPECTED", T(5)),  # fp on a quiet parcel
            _open("W3", "DELAY_PREDICTED", T(4)),  # tp, 6 h lead
            _open("W3", "DELAY_PREDICTED", T(6)),  # duplicate inside the window
            _open("W1", "LOST_SUSPECTED", T(8)),  # outside any window: fp
        ],
    )
    result = evaluate(truth, exceptions)
    lost = result["types"]["LOST_SUSPECTED"]
    assert (lost["tp"], lost["fp"], lost["fn"]) == (1, 2, 1)
    assert lost["precision"] == 0.3333 and lost["recall"] == 0.5
    assert lost["delay_p50_s"] == 3600
    predicted = result["types"]["DELAY_PREDICTED"]
    assert (predicted["tp"], predicted["fp"], predicted["duplicates"]) == (1, 0, 1)
    assert predicted["lead_p50_s"] == 6 * 3600
    assert result["overall"]["tp"] == 2


def test_detection_slightly_early_still_counts(tmp_path):
    truth = _write(tmp_path / "t", [_label("W1", "STALLED_IN_TRANSIT", T(5), T(6))])
    early = "2026-11-20T04:59:00+00:00"
    result = evaluate(truth, _write(tmp_path / "e", [_open("W1", "STALLED_IN_TRANSIT", early)]))
    assert result["types"]["STALLED_IN_TRANSIT"]["tp"] == 1


def test_cli_json_and_table(tmp_path, capsys):
    truth = _write(tmp_path / "t", [_label("W1", "DAMAGED", T(1), T(2))])
    exc = _write(tmp_path / "e", [_open("W1", "DAMAGED", T(1))])
    assert main(["evaluate", "--truth", str(truth), "--exceptions", str(exc), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["types"]["DAMAGED"]) >= {
        "precision",
        "recall",
        "tp",
        "fp",
        "fn",
        "delay_p50_s",
        "delay_p95_s",
    }
    assert main(["evaluate", "--truth", str(truth), "--exceptions", str(exc)]) == 0
    assert "DAMAGED" in capsys.readouterr().out
    assert main(["evaluate", "--truth", str(tmp_path / "nope"), "--exceptions", str(exc)]) == 2


def test_false_customer_messages_per_type(tmp_path):
    truth = _write(
        tmp_path / "truth.jsonl",
        [
            _label("W1", "DELAY_PREDICTED", T(0), T(10), promised=T(10)),
            _label("W2", "DAMAGED", T(1), T(3)),
            {"kind": "quiet", "waybill_no": "W3"},
            {"kind": "quiet", "waybill_no": "W4"},
        ],
    )
    exceptions = _write(tmp_path / "exceptions.jsonl", [_open("W1", "DELAY_PREDICTED", T(4))])
    notes = _write(
        tmp_path / "notifications.jsonl",
        [
            {"type": "DELAY_PREDICTED", "waybill_no": "W1"},  # a real delay
            {"type": "DELAY_PREDICTED", "waybill_no": "W3"},  # fine: false
            {"type": "DELAY_PREDICTED", "waybill_no": "W2"},  # damaged but on time: false
            {"type": "DAMAGED", "waybill_no": "W2"},
        ],
    )
    messages = evaluate(truth, exceptions, notes)["messages"]
    assert messages["parcels"] == 4
    assert messages["DELAY_PREDICTED"] == {
        "sent": 3,
        "false": 2,
        "false_per_1000_parcels": 500.0,
        "false_per_1000_fine_parcels": 666.67,  # 2 of the 3 parcels with no delay
    }
    assert messages["DAMAGED"]["false"] == 0
    # The CLI finds notifications.jsonl beside the exceptions and prints both tables.
    assert main(["evaluate", "--truth", str(truth), "--exceptions", str(exceptions)]) == 0
