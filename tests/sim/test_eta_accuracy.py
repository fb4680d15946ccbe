"""ETA accuracy against the simulator's deliveries, on hand-built logs."""

import json

import pytest

from parcelwatch.cli import main
from parcelwatch.detection.moments import MOMENTS as LOGGED
from parcelwatch.sim.eta_accuracy import MOMENTS, eta_accuracy


def _delivery(wb, at, fault=None, tz="Asia/Shanghai"):
    return {
        "kind": "delivery",
        "waybill_no": wb,
        "delivered_at": at,
        "timezone": tz,
        "fault": fault,
    }


def _eta(wb, moment, eta, model="planned"):
    return {
        "waybill_no": wb,
        "moment": moment,
        "at": "2026-11-20T00:00:00+00:00",
        "model": model,
        "eta": eta,
    }


def test_the_judge_scores_the_moments_the_replay_logs():
    assert MOMENTS == LOGGED


def test_errors_windows_days_and_populations():
    truth = [
        _delivery("A", "2026-11-20T10:00:00+08:00"),
        _delivery("B", "2026-11-20T10:00:00+08:00"),
        _delivery("C", "2026-11-20T23:30:00+08:00", fault="suppressed_scan"),
        _delivery("D", None),  # never delivered: not scored
        {"kind": "quiet", "waybill_no": "A"},
    ]
    etas = [
        _eta("A", "pickup", "2026-11-20T10:30:00+08:00"),  # +0.5 h
        _eta("B", "pickup", "2026-11-20T08:30:00+08:00"),  # -1.5 h
        _eta("C", "pickup", "2026-11-21T01:30:00+08:00"),  # +2 h, the next local day
        _eta("D", "pickup", "2026-11-20T10:00:00+08:00"),
        _eta("A", "created", None),  # no route: counted apart
        _eta("A", "hub_arrival", "2026-11-20T11:00:00+08:00"),
        _eta("A", "hub_arrival", "2026-11-20T10:00:00+08:00"),  # every hub arrival counts
    ]
    result = eta_accuracy(truth, etas, until=float("inf"))
    fine = result["planned"]["pickup"]["no_fault"]
    assert fine == {
        "n": 2,
        "no_eta": 0,
        "within_1h": 0.5,
        "within_2h": 1.0,
        "date_right": 1.0,
        "abs_p50_h": 1.0,
        "abs_p90_h": 1.5,
        "bias_h": -0.5,
        "in_window": None,
        "window_p50_h": None,
    }
    every = result["planned"]["pickup"]["all"]
    assert (every["n"], every["within_2h"], every["date_right"]) == (3, 1.0, 0.6667)
    assert every["bias_h"] == 0.5 and every["abs_p90_h"] == 2.0
    assert "created" not in result["planned"]  # no ETA at all there
    hubs = result["planned"]["hub_arrival"]["no_fault"]
    assert (hubs["n"], hubs["abs_p50_h"], hubs["bias_h"]) == (2, 0.5, 0.5)


def test_the_local_day_is_the_recipients():
    """23:30 and 01:30 the next night are two days in Shanghai and one in UTC."""
    etas = [_eta("A", "pickup", "2026-11-19T23:30:00+08:00")]
    truth = [_delivery("A", "2026-11-20T01:30:00+08:00")]
    assert eta_accuracy(truth, etas, float("inf"))["planned"]["pickup"]["all"]["date_right"] == 0.0
    truth = [_delivery("A", "2026-11-20T01:30:00+08:00", tz="UTC")]
    assert eta_accuracy(truth, etas, float("inf"))["planned"]["pickup"]["all"]["date_right"] == 1.0


def test_evaluate_reads_the_eta_log_beside_the_exceptions(tmp_path, capsys):
    (tmp_path / "truth.jsonl").write_text(
        json.dumps(_delivery("A", "2026-11-20T10:00:00+08:00")) + "\n"
    )
    (tmp_path / "exceptions.jsonl").write_text("")
    (tmp_path / "eta.jsonl").write_text(
        json.dumps(_eta("A", "out_for_delivery", "2026-11-20T09:00:00+08:00")) + "\n"
    )
    code = main(
        [
            "evaluate",
            "--truth",
            str(tmp_path / "truth.jsonl"),
            "--exceptions",
            str(tmp_path / "exceptions.jsonl"),
            "--json",
        ]
    )
    assert code == 0
    figures = json.loads(capsys.readouterr().out)["eta"]["planned"]["out_for_delivery"]["all"]
    assert (figures["n"], figures["bias_h"], figures["within_1h"]) == (1, -1.0, 1.0)


@pytest.mark.parametrize("moment", MOMENTS)
def test_every_moment_has_its_figures(moment):
    truth = [_delivery("A", "2026-11-20T10:00:00+08:00")]
    result = eta_accuracy(truth, [_eta("A", moment, "2026-11-20T10:00:00+08:00")], float("inf"))
    assert result["planned"][moment]["no_fault"]["abs_p50_h"] == 0.0
