"""`parcelwatch calibrate`: learn the planned ETA's last mile per outlet from history.

The contract's plan delivers `last_mile_hours` (4 h) after a courier goes out: the end
of a round. Couriers deliver all through it, so the plan is pessimistic by design, and a
parcel whose plan ends just past its promise is usually delivered in time. CONTRACT §4
lets a model that learns from history refine the plan; this learns, per outlet, how
long OUT_FOR_DELIVERY -> DELIVERED took in a past stream (a quantile, the median by
default), and writes it as the `last_mile_learned_hours` setting. Learning happens here,
offline, on a file an operator can keep and review: the live service only reads the
result, so every worker and `parcelwatch replay` compute the same ETA for the same input.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import yaml

from parcelwatch.clock import to_us
from parcelwatch.detection.errors import InvalidRecord
from parcelwatch.edge.intake import Oversized, read_lines, validate
from parcelwatch.network.graph import Network
from parcelwatch.schemas import Scan

HOUR_US = 3_600_000_000
LONGEST_US = 240 * HOUR_US
"""A longer "last mile" is a scan error (or a parcel forgotten for days), not a round."""


class CalibrateError(ValueError):
    """The history cannot be learned from; the message says why."""


@dataclass
class LastMile:
    quantile: float
    min_samples: int
    pooled_hours: float
    samples: int
    hours: dict[str, float]
    """Every outlet of the network -> its learned hours (pooled where it had too few)."""
    own: set[str] = field(default_factory=set)
    """Outlets with enough deliveries of their own."""


def _quantile(values: list[int], q: float) -> int:
    """Nearest-rank quantile: a value that happened, never an interpolation."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def learn_last_mile(
    samples: dict[str, list[int]],
    outlets: list[str],
    quantile: float = 0.5,
    min_samples: int = 30,
) -> LastMile:
    """`samples`: outlet -> OUT_FOR_DELIVERY -> DELIVERED durations in µs. An outlet with
    fewer than `min_samples` of its own gets the quantile of all outlets pooled."""
    if not 0 < quantile <= 1:
        raise CalibrateError(f"quantile must lie in (0, 1], not {quantile}")
    pooled = [d for ds in samples.values() for d in ds]
    if not pooled:
        raise CalibrateError("no OUT_FOR_DELIVERY -> DELIVERED pair to learn from")
    pooled_us = _quantile(pooled, quantile)
    hours: dict[str, float] = {}
    own: set[str] = set()
    for outlet in outlets:
        mine = samples.get(outlet, [])
        if len(mine) >= min_samples:
            hours[outlet] = round(_quantile(mine, quantile) / HOUR_US, 2)
            own.add(outlet)
        else:
            hours[outlet] = round(pooled_us / HOUR_US, 2)
    return LastMile(quantile, min_samples, round(pooled_us / HOUR_US, 2), len(pooled), hours, own)


def last_mile_samples(history: Path, network: Network) -> dict[str, list[int]]:
    """Outlet -> durations from a parcel's last OUT_FOR_DELIVERY to its DELIVERED at the
    same outlet, read from a replay-format file in any order (late uploads included).
    Records that fail validation are skipped: calibration learns from good data only."""
    scans: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    try:
        handle = history.open("rb")
    except OSError as exc:
        raise CalibrateError(f"{history}: cannot read: {exc.strerror or exc}") from None
    with handle:
        for _, line in read_lines(handle):
            if isinstance(line, Oversized):
                continue
            try:
                item = orjson.loads(line)
                if not isinstance(item, dict) or item.get("topic") != "scans":
                    continue
                scan = validate("scans", item.get("value"), network)
            except (orjson.JSONDecodeError, InvalidRecord):
                continue
            if not isinstance(scan, Scan):
                continue
            kind = scan.scan_type.value
            if kind in ("OUT_FOR_DELIVERY", "DELIVERED"):
                scans[scan.waybill_no].append((to_us(scan.event_time), kind, scan.facility_id))
    samples: dict[str, list[int]] = defaultdict(list)
    for events in scans.values():
        events.sort()
        out: tuple[int, str] | None = None  # the latest OUT_FOR_DELIVERY: (time, outlet)
        for at, kind, facility in events:
            if kind == "OUT_FOR_DELIVERY":
                out = (at, facility)
            elif out is not None and out[1] == facility and 0 < at - out[0] <= LONGEST_US:
                samples[facility].append(at - out[0])
                out = None
    return samples


def calibrate(
    history: Path, network: Network, quantile: float = 0.5, min_samples: int = 30
) -> LastMile:
    outlets = sorted(fid for fid, f in network.facilities.items() if not f.is_hub)
    return learn_last_mile(last_mile_samples(history, network), outlets, quantile, min_samples)


def settings_yaml(learned: LastMile, source: str) -> str:
    """The settings file fragment, with where it came from in a comment."""
    source = " ".join(source.split())  # a file name with a line break stays in the comment
    head = (
        f"# parcelwatch calibrate: the last mile learned from {source}\n"
        f"# {learned.samples} deliveries; quantile {learned.quantile}; "
        f"{len(learned.own)} outlets with {learned.min_samples}+ deliveries of their own, "
        f"the rest pooled ({learned.pooled_hours} h)\n"
    )
    body = yaml.safe_dump(
        {"last_mile_learned_hours": learned.hours}, allow_unicode=True, sort_keys=True
    )
    return head + body
