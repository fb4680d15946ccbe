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
from parcelwatch.detection.context import RuleContext
from parcelwatch.detection.errors import InvalidRecord
from parcelwatch.edge.intake import Oversized, read_lines, validate
from parcelwatch.network.graph import Network
from parcelwatch.schemas import Scan, Waybill
from parcelwatch.settings import QUANTILE_LEVELS, ExpectedDelivery, RuleSettings

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


@dataclass
class _Parcel:
    created: int | None = None
    scans: list[tuple[int, str, str, str | None]] = field(default_factory=list)
    """(time, scan type, facility, next facility), sorted once read."""


def read_history(history: Path, network: Network) -> dict[str, _Parcel]:
    """Each parcel's order time and scans, from a replay-format file in any order (late
    uploads included). Records that fail validation are skipped: calibration learns
    from good data only."""
    parcels: dict[str, _Parcel] = defaultdict(_Parcel)
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
                if not isinstance(item, dict) or item.get("topic") not in ("scans", "waybills"):
                    continue
                record = validate(item["topic"], item.get("value"), network)
            except (orjson.JSONDecodeError, InvalidRecord):
                continue
            if isinstance(record, Waybill):
                parcels[record.waybill_no].created = to_us(record.created_at)
            elif isinstance(record, Scan):
                parcels[record.waybill_no].scans.append(
                    (
                        to_us(record.event_time),
                        record.scan_type.value,
                        record.facility_id,
                        record.next_facility_id,
                    )
                )
    for parcel in parcels.values():
        parcel.scans.sort()
    return parcels


def last_mile_samples(history: Path, network: Network) -> dict[str, list[int]]:
    """Outlet -> durations from a parcel's last OUT_FOR_DELIVERY to its DELIVERED at the
    same outlet."""
    return _last_miles(read_history(history, network))


def _last_miles(parcels: dict[str, _Parcel]) -> dict[str, list[int]]:
    samples: dict[str, list[int]] = defaultdict(list)
    for parcel in parcels.values():
        out: tuple[int, str] | None = None  # the latest OUT_FOR_DELIVERY: (time, outlet)
        for at, kind, facility, _ in parcel.scans:
            if kind == "OUT_FOR_DELIVERY":
                out = (at, facility)
            elif kind == "DELIVERED" and out is not None:
                if out[1] == facility and 0 < at - out[0] <= LONGEST_US:
                    samples[facility].append(at - out[0])
                out = None
    return samples


@dataclass
class Calibration:
    last_mile: LastMile
    expected: ExpectedDelivery | None
    """None: the history had too few pickups or connections to learn it from."""


def calibrate(
    history: Path, network: Network, quantile: float = 0.5, min_samples: int = 30
) -> Calibration:
    outlets = sorted(fid for fid, f in network.facilities.items() if not f.is_hub)
    parcels = read_history(history, network)
    last_miles = _last_miles(parcels)
    learned = learn_last_mile(last_miles, outlets, quantile, min_samples)
    expected = learn_expected(parcels, last_miles, network, min_samples)
    return Calibration(learned, expected)


SLACK_BOUNDS_H = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 240.0)
"""Where the slack of a connection is cut into buckets (hours)."""


def learn_expected(
    parcels: dict[str, _Parcel],
    last_miles: dict[str, list[int]],
    network: Network,
    min_samples: int = 30,
    settings: RuleSettings | None = None,
) -> ExpectedDelivery | None:
    """The expected delivery's distributions (parcelwatch/detection/expected.py): order
    to pickup, each outlet's last mile, and how often connections were missed by slack.
    None when the history has fewer than `min_samples` of any of them."""
    ctx = RuleContext.create(network, settings)
    pickups = [
        scans[0][0] - p.created
        for p in parcels.values()
        if p.created is not None
        and (scans := [s for s in p.scans if s[1] == "PICKUP"])
        and 0 <= scans[0][0] - p.created <= LONGEST_US
    ]
    here, ahead, late = _connections(parcels, ctx)
    pooled = [d for ds in last_miles.values() for d in ds]
    if min(len(pickups), len(here), len(pooled), len(late)) < min_samples:
        return None
    last_mile = {"*": _levels(pooled)}
    last_mile |= {o: _levels(ds) for o, ds in sorted(last_miles.items()) if len(ds) >= min_samples}
    return ExpectedDelivery(
        pickup_hours=_levels(pickups),
        arrival_late_hours=_levels(late),
        last_mile_hours=last_mile,
        missed_by_slack=_by_slack(here, ahead or here, min_samples),
    )


def _levels(values: list[int]) -> list[float]:
    return [round(_quantile(values, q) / HOUR_US, 3) for q in QUANTILE_LEVELS]


def _connections(
    parcels: dict[str, _Parcel], ctx: RuleContext
) -> tuple[list[tuple[int, bool]], list[tuple[int, bool]], list[int]]:
    """(slack, missed) of every timetabled connection the history shows: from the
    parcel's own arrival (here), and from its truck's scheduled arrival (ahead); and
    how late each arrival came after its truck's scheduled arrival. The departure a
    parcel rode is the first scheduled one not gone when it was loaded (without a
    timetable: its departure scan)."""
    network, handling, grace = ctx.network, ctx.handling, ctx.t.departure_grace
    here: list[tuple[int, bool]] = []
    ahead: list[tuple[int, bool]] = []
    late: list[int] = []
    for parcel in parcels.values():
        stay: tuple[str, int] | None = None  # (facility, first scan of the stay)
        loaded: int | None = None
        came: tuple[int, str] | None = None  # (scheduled arrival, where)
        for at, kind, facility, next_facility in parcel.scans:
            if stay is None or stay[0] != facility:
                stay, loaded = (facility, at), None
                if came is not None and came[1] == facility and abs(at - came[0]) <= LONGEST_US:
                    late.append(at - came[0])
                    stay = (facility, at)
                else:
                    came = None
            if kind == "LOAD":
                loaded = at
            if kind != "HUB_DEPARTURE" or next_facility is None:
                continue
            hours = network.reachable_hours(facility, next_facility)
            table = network.schedules.get((facility, next_facility))
            if table is None:
                came = None if hours is None else (at + round(hours * HOUR_US), next_facility)
                continue
            rode = table.first_at_or_after((loaded if loaded is not None else at) - grace + 1)
            ready = stay[1] + handling[facility]
            planned = table.first_at_or_after(ready)
            here.append((planned - ready, rode > planned))
            if came is not None and came[1] == facility:
                ready = came[0] + handling[facility]
                planned = table.first_at_or_after(ready)
                ahead.append((planned - ready, rode > planned))
            came = None if hours is None else (rode + round(hours * HOUR_US), next_facility)
    return here, ahead, late


def _by_slack(
    here: list[tuple[int, bool]], ahead: list[tuple[int, bool]], min_samples: int
) -> list[tuple[float, float, float]]:
    """Per slack bucket, the share missed here and ahead; a bucket with fewer than
    `min_samples` connections takes the share of every connection at least that slack."""

    def shares(seen: list[tuple[int, bool]]) -> list[float]:
        out = []
        lower = 0
        for bound in SLACK_BOUNDS_H:
            upper = round(bound * HOUR_US)
            inside = (
                [m for s, m in seen if lower <= s <= upper]
                if lower
                else [m for s, m in seen if s <= upper]
            )
            if len(inside) < min_samples:
                inside = [m for s, m in seen if s >= lower] or [False]
            out.append(round(sum(inside) / len(inside), 4))
            lower = upper + 1
        return out

    return list(zip(SLACK_BOUNDS_H, shares(here), shares(ahead), strict=True))


def settings_yaml(calibration: Calibration, source: str) -> str:
    """The settings file fragment, with where it came from in a comment."""
    learned = calibration.last_mile
    source = " ".join(source.split())  # a file name with a line break stays in the comment
    head = (
        f"# parcelwatch calibrate: learned from {source}\n"
        f"# the last mile: {learned.samples} deliveries; quantile {learned.quantile}; "
        f"{len(learned.own)} outlets with {learned.min_samples}+ deliveries of their own, "
        f"the rest pooled ({learned.pooled_hours} h)\n"
    )
    fields: dict[str, object] = {"last_mile_learned_hours": learned.hours}
    if calibration.expected is not None:
        fields["expected_delivery"] = calibration.expected.model_dump(mode="json")
    else:
        head += "# no expected delivery: too few pickups, connections or deliveries\n"
    return head + yaml.safe_dump(
        fields, allow_unicode=True, sort_keys=True, default_flow_style=None, width=100
    )
