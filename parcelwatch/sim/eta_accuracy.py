"""How right the ETAs were: each ETA that `parcelwatch replay --eta-out` logged at a
moment of a parcel's journey, against when the simulator really delivered it (truth
records of kind "delivery"). Over delivered parcels with no injected fault
(`no_fault`) and over all delivered parcels (`all`).

Figures per model, moment and population: n, the share within ±1 h and ±2 h, the
share on the right local day of the recipient ("date right", the figure carriers
publish), the median and p90 absolute error and the bias (median signed error, ETA
minus delivery: positive is late) in hours; `in_window` and `window_p50_h` for a model
that gives a window, None for one that does not. An ETA of None (no route to the
destination) is counted in `no_eta`, not in n.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

MOMENTS = ("created", "pickup", "hub_arrival", "outlet_arrival", "out_for_delivery")
"""As detection/moments.py logs them (the judge does not import the judged code: a test
holds the two lists equal)."""
POPULATIONS = ("no_fault", "all")
HOUR = 3600.0


def eta_accuracy(
    truth: list[dict[str, Any]], etas: list[dict[str, Any]], until: float
) -> dict[str, Any]:
    """`eta.<model>.<moment>.<population>` -> figures (see the module's docstring)."""
    delivered: dict[str, tuple[datetime, ZoneInfo, bool]] = {}
    for rec in truth:
        if rec.get("kind") != "delivery" or rec.get("delivered_at") is None:
            continue
        at = datetime.fromisoformat(rec["delivered_at"])
        if at.timestamp() <= until:
            zone = ZoneInfo(rec.get("timezone") or "Asia/Shanghai")
            delivered[rec["waybill_no"]] = (at, zone, rec.get("fault") is None)
    errors: dict[tuple[str, str, str], list[tuple[float, bool]]] = defaultdict(list)
    windows: dict[tuple[str, str, str], list[tuple[bool, float]]] = defaultdict(list)
    missing: dict[tuple[str, str, str], int] = defaultdict(int)
    for rec in etas:
        known = delivered.get(rec.get("waybill_no", ""))
        if known is None or rec.get("moment") not in MOMENTS:
            continue
        at, zone, fine = known
        populations = POPULATIONS if fine else ("all",)
        keys = [(str(rec.get("model")), rec["moment"], p) for p in populations]
        if rec.get("eta") is None:
            for key in keys:
                missing[key] += 1
            continue
        eta = datetime.fromisoformat(rec["eta"])
        error = (eta - at).total_seconds() / HOUR
        right_day = eta.astimezone(zone).date() == at.astimezone(zone).date()
        window = None
        if rec.get("from") is not None and rec.get("to") is not None:
            low, high = datetime.fromisoformat(rec["from"]), datetime.fromisoformat(rec["to"])
            window = (low <= at <= high, (high - low).total_seconds() / HOUR)
        for key in keys:
            errors[key].append((error, right_day))
            if window is not None:
                windows[key].append(window)
    out: dict[str, Any] = {}
    for model in sorted({key[0] for key in errors}):
        for moment in MOMENTS:
            for population in POPULATIONS:
                values = errors.get((model, moment, population))
                if values:
                    missed = missing.get((model, moment, population), 0)
                    out.setdefault(model, {}).setdefault(moment, {})[population] = _figures(
                        values, missed, windows.get((model, moment, population))
                    )
    return out


def _figures(
    values: list[tuple[float, bool]], no_eta: int, windows: list[tuple[bool, float]] | None
) -> dict[str, Any]:
    errors = [e for e, _ in values]
    absolute = sorted(abs(e) for e in errors)
    n = len(values)
    return {
        "n": n,
        "no_eta": no_eta,
        "within_1h": round(sum(a <= 1 for a in absolute) / n, 4),
        "within_2h": round(sum(a <= 2 for a in absolute) / n, 4),
        "date_right": round(sum(right for _, right in values) / n, 4),
        "abs_p50_h": round(statistics.median(absolute), 2),
        "abs_p90_h": round(absolute[min(n - 1, int(0.9 * n))], 2),
        "bias_h": round(statistics.median(errors), 2),
        "in_window": round(sum(i for i, _ in windows) / len(windows), 4) if windows else None,
        "window_p50_h": round(statistics.median(w for _, w in windows), 2) if windows else None,
    }
