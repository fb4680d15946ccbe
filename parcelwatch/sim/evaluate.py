"""`parcelwatch evaluate`: detection quality against the simulator's ground truth.

A truth label says a waybill must get an exception of a type within a time window.
Each label is matched to the earliest detection (an OPEN record) of the same waybill and
type inside its window; a detection can match one label. Unmatched labels are misses
(fn); detections that match no label are false alarms (fp), except repeats of the same
type on the same waybill inside an already matched window, which are counted apart as
duplicates. Labels due after the truth's `until` are not counted.

With the notifications file, each customer-facing type also gets its false customer
messages: messages of that type sent for a parcel that has no truth label of the type
(a parcel that was fine), per 1 000 parcels and per 1 000 fine parcels. With the ETA
log of `replay --eta-out`, the ETAs' accuracy (sim/eta_accuracy.py).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from parcelwatch.sim.eta_accuracy import eta_accuracy

EARLY_S = 120.0
"""A detection this much before a label's due time still counts (GPS sampling)."""


class EvaluateError(Exception):
    pass


@dataclass
class TypeScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    duplicates: int = 0
    delays: list[float] = field(default_factory=list)
    leads: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "duplicates": self.duplicates,
            "delay_p50_s": _pct(self.delays, 0.5),
            "delay_p95_s": _pct(self.delays, 0.95),
        }
        if self.leads:
            out["lead_p50_s"] = _pct(self.leads, 0.5)
            out["lead_p5_s"] = _pct(self.leads, 0.05)
        return out


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open("rb") as fh:
            return [orjson.loads(line) for line in fh if line.strip()]
    except OSError as exc:
        raise EvaluateError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise EvaluateError(f"{path}: not JSON lines: {exc}") from None


def evaluate(
    truth_path: Path,
    exceptions_path: Path,
    notifications_path: Path | None = None,
    eta_path: Path | None = None,
) -> dict[str, Any]:
    truth = _read_jsonl(truth_path)
    meta = next((r for r in truth if r.get("kind") == "meta"), {})
    until = _ts(meta["until"]) if "until" in meta else float("inf")
    labels: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for rec in truth:
        if rec.get("kind") == "label" and _ts(rec["due_from"]) <= until:
            labels[(rec["waybill_no"], rec["type"])].append(rec)
    detections: dict[tuple[str, str], list[float]] = defaultdict(list)
    for rec in _read_jsonl(exceptions_path):
        if rec.get("status") == "OPEN":
            detections[(rec["waybill_no"], rec["type"])].append(_ts(rec["detected_at"]))

    scores: dict[str, TypeScore] = defaultdict(TypeScore)
    for key in set(labels) | set(detections):
        score = scores[key[1]]
        found = sorted(detections.get(key, ()))
        used = [False] * len(found)
        windows = []
        for label in sorted(labels.get(key, ()), key=lambda r: r["due_from"]):
            start, end = _ts(label["due_from"]) - EARLY_S, _ts(label["due_to"])
            windows.append((start, end))
            i = bisect.bisect_left(found, start)
            while i < len(found) and (used[i] or found[i] > end):
                if found[i] > end:
                    i = len(found)
                    break
                i += 1
            if i < len(found):
                used[i] = True
                score.tp += 1
                score.delays.append(max(0.0, found[i] - _ts(label["due_from"])))
                if label.get("promised_at"):
                    score.leads.append(_ts(label["promised_at"]) - found[i])
            else:
                score.fn += 1
        for i, at in enumerate(found):
            if used[i]:
                continue
            if any(s <= at <= e for s, e in windows):
                score.duplicates += 1
            else:
                score.fp += 1
    total = TypeScore()
    for score in scores.values():
        total.tp += score.tp
        total.fp += score.fp
        total.fn += score.fn
        total.duplicates += score.duplicates
        total.delays += score.delays
    result: dict[str, Any] = {
        "types": {name: scores[name].as_dict() for name in sorted(scores)},
        "overall": total.as_dict(),
        "until": meta.get("until"),
    }
    if notifications_path is not None:
        result["messages"] = _false_messages(truth, labels, _read_jsonl(notifications_path))
    if eta_path is not None:
        result["eta"] = eta_accuracy(truth, _read_jsonl(eta_path), until)
    return result


def _false_messages(
    truth: list[dict[str, Any]],
    labels: dict[tuple[str, str], list[dict[str, Any]]],
    notifications: list[dict[str, Any]],
) -> dict[str, Any]:
    """Per notified type: messages sent, and those for parcels that were fine."""
    parcels = {r["waybill_no"] for r in truth if r.get("kind") in ("label", "quiet")}
    labelled: dict[str, set[str]] = defaultdict(set)
    for wb, kind in labels:
        labelled[kind].add(wb)
    sent: dict[str, int] = defaultdict(int)
    false: dict[str, int] = defaultdict(int)
    for note in notifications:
        kind = str(note.get("type"))
        sent[kind] += 1
        if note.get("waybill_no") not in labelled[kind]:
            false[kind] += 1
    out: dict[str, Any] = {"parcels": len(parcels)}
    for kind in sorted(sent):
        fine = len(parcels - labelled[kind]) or 1
        out[kind] = {
            "sent": sent[kind],
            "false": false[kind],
            "false_per_1000_parcels": round(1000 * false[kind] / max(1, len(parcels)), 2),
            "false_per_1000_fine_parcels": round(1000 * false[kind] / fine, 2),
        }
    return out


def render_table(result: dict[str, Any]) -> Any:
    from rich.table import Table  # the [dev] extra: only the tables need it

    table = Table(title="detection quality against ground truth")
    columns = ("type", "precision", "recall", "tp", "fp", "fn", "dup", "delay p50", "delay p95")
    for col in (*columns, "lead p5", "lead p50"):
        table.add_column(col, justify="left" if col == "type" else "right", no_wrap=True)

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f} s"

    rows = [*result["types"].items(), ("overall", result["overall"])]
    for name, s in rows:
        predicted = name == "DELAY_PREDICTED"  # its window opens at creation: lead matters
        table.add_row(
            name,
            f"{s['precision']:.3f}",
            f"{s['recall']:.3f}",
            str(s["tp"]),
            str(s["fp"]),
            str(s["fn"]),
            str(s["duplicates"]),
            "-" if predicted or name == "overall" else fmt(s["delay_p50_s"]),
            "-" if predicted or name == "overall" else fmt(s["delay_p95_s"]),
            fmt(s.get("lead_p5_s")) if predicted else "",
            fmt(s.get("lead_p50_s")) if predicted else "",
        )
    return table


def render_messages(messages: dict[str, Any]) -> Any:
    from rich.table import Table  # the [dev] extra: only the tables need it

    table = Table(title=f"customer messages ({messages['parcels']:,} parcels)")
    for col in ("type", "sent", "to fine parcels", "per 1 000 parcels", "per 1 000 fine"):
        table.add_column(col, justify="left" if col == "type" else "right", no_wrap=True)
    for kind, m in messages.items():
        if kind == "parcels":
            continue
        table.add_row(
            kind,
            f"{m['sent']:,}",
            f"{m['false']:,}",
            f"{m['false_per_1000_parcels']:.2f}",
            f"{m['false_per_1000_fine_parcels']:.2f}",
        )
    return table


def render_eta(eta: dict[str, Any]) -> Any:
    from rich.table import Table  # the [dev] extra: only the tables need it

    table = Table(title="ETA against the delivery the simulator made (hours)")
    columns = ("model", "moment", "parcels", "n", "±1 h", "±2 h", "date right")
    for col in (*columns, "|err| p50", "|err| p90", "bias"):
        table.add_column(col, justify="left" if col in columns[:3] else "right", no_wrap=True)
    for model, moments in eta.items():
        for moment, populations in moments.items():
            for population, f in populations.items():
                table.add_row(
                    model,
                    moment,
                    population.replace("_", " "),
                    f"{f['n']:,}",
                    f"{f['within_1h']:.0%}",
                    f"{f['within_2h']:.0%}",
                    f"{f['date_right']:.0%}",
                    f"{f['abs_p50_h']:.2f}",
                    f"{f['abs_p90_h']:.2f}",
                    f"{f['bias_h']:+.2f}",
                )
    return table
