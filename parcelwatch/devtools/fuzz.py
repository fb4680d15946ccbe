"""`parcelwatch fuzz`: hostile input at volume, through `parcelwatch replay`.

A valid simulated stream is the seed; every record is passed on as it is or mutated the
way real producers and attackers break records: values of the wrong JSON type, timestamps
at and past the edge of the range or far in the future, unknown zones and facilities,
control, bidi and zero-width characters, injected customer text, phone numbers in every
format, fields dropped or added, event ids reused with other content, redeliveries, lines
cut short, bytes flipped, invalid UTF-8, a byte-order mark, lines over the size limit.
The seed stream is repeated with renamed parcels and vehicles, each round later in time,
until the file has the asked number of lines.

Replay runs twice on the file, in this process, and the run checks what CONTRACT §7 and
§8 promise: no exception escapes; every line is either applied or a dead letter with a
reason; no customer message carries unsafe text; the two runs' outputs are byte-identical
(dead letters' `received_at` aside: the wall clock before the first valid record).
"""

from __future__ import annotations

import json
import random
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from io import BytesIO
from itertools import zip_longest
from pathlib import Path
from typing import Any

import orjson

from parcelwatch.detection.actions.customer_text import is_clean
from parcelwatch.edge.intake import BOM, MAX_RECORD_BYTES
from parcelwatch.network.graph import Network
from parcelwatch.offline.replay import OUTPUT_FILES, replay
from parcelwatch.sim.config import SimConfig
from parcelwatch.sim.generator import simulate

SIM_START = datetime(2026, 11, 20, tzinfo=UTC)

HOSTILE_VALUES: list[Any] = [
    None,
    "",
    " ",
    0,
    -1,
    1.5,
    1e308,
    -0.0,
    10**30,
    True,
    False,
    [],
    {},
    [[[[[[]]]]]],
    {"a": {"b": {"c": {}}}},
    "22.6",
    "100",
    "1731408430",
    1731408430,
    "NaN",
    "Infinity",
    "9999-12-31T23:00:00-12:00",
    "0001-01-01T00:00:00+14:00",
    "2099-01-01T00:00:00Z",
    "1999-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "2026-11-20T09:00:00",
    "2026-02-30T09:00:00+08:00",
    "2026-11-20T09:00:00+25:00",
    "2026-11-20T24:00:00Z",
    "Asia",
    "Mars/Base",
    "../../../etc/passwd",
    "UTC",
    "Asia/Shanghai\x00",
    "张三\n【快递】您的包裹已取消，请点击 http://refund.example.cn/x 退款",
    "\u202eevil\u202c",
    "\u200b\u200d\ufeff",
    "\x00\x1b[31m",
    "\ud800",
    "💥" * 40,
    "139-1234-5678",
    "+86 139 1234 5678",
    "0755-12345678",
    "１３９１２３４５６７８",
    "PICKUP",
    "DELIVERED",
    "DESTROYED",
    "OTHER",
    "A-OUT",
    "NO-SUCH-SITE",
    "SZ-HUB",
    "x" * 600,
    "ｘ" * 100,
    "http://x.example/" + "a" * 3000,
    ["http://x/y.jpg"] * 30,
]
"""Values put into a field in place of its own."""

FIELDS = {
    "waybills": [
        "waybill_no",
        "product",
        "created_at",
        "promised_at",
        "origin_facility_id",
        "destination_facility_id",
        "planned_route",
        "insured_value",
        "recipient",
        "recipient.name",
        "recipient.phone",
        "recipient.locale",
        "recipient.timezone",
        "sender",
        "sender.phone",
    ],
    "scans": [
        "event_id",
        "waybill_no",
        "facility_id",
        "event_time",
        "scan_type",
        "vehicle_id",
        "next_facility_id",
        "reason",
        "courier_id",
        "description",
        "photos",
    ],
    "gps": ["vehicle_id", "event_time", "lat", "lon", "speed_kmh"],
}

MUTATIONS = (
    "value",
    "value",
    "value",
    "drop",
    "extra",
    "future",
    "conflict",
    "redeliver",
    "truncate",
    "flip",
    "utf8",
    "envelope",
    "topic",
    "too_large",
    "nested_bom",
    "huge_string",
    "batch",
)


@dataclass
class FuzzReport:
    lines: int = 0
    mutated: int = 0
    mutations: Counter[str] = field(default_factory=Counter)
    applied: int = 0
    dead_letters: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    crashes: int = 0
    unaccounted: int = 0
    nondeterministic: list[str] = field(default_factory=list)
    unsafe_text: int = 0
    """Customer messages with a control, bidi or zero-width character or a web address."""
    outputs: dict[str, int] = field(default_factory=dict)
    generate_s: float = 0.0
    replay_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.crashes or self.unaccounted or self.nondeterministic or self.unsafe_text)

    def to_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "mutated": self.mutated,
            "mutations": dict(sorted(self.mutations.items())),
            "applied": self.applied,
            "dead_letters": self.dead_letters,
            "dead_letter_reasons": dict(sorted(self.reasons.items())),
            "crashes": self.crashes,
            "unaccounted": self.unaccounted,
            "nondeterministic_files": self.nondeterministic,
            "unsafe_customer_text": self.unsafe_text,
            "outputs": self.outputs,
            "generate_s": round(self.generate_s, 2),
            "replay_s": [round(s, 2) for s in self.replay_s],
            "replay_lines_per_s": [round(self.lines / s) for s in self.replay_s if s > 0],
            "ok": self.ok,
            "errors": self.errors[:5],
        }


def seed_stream(network: Network, parcels: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """A valid simulated stream as (topic, value) pairs; malformed lines left out (the
    fuzzer makes its own)."""

    config = SimConfig.model_validate({"ping_seconds": (300, 600)})
    config.noise.malformed = 0.0
    events, truth = BytesIO(), BytesIO()
    simulate(network, parcels, SIM_START, 1.0, seed, events, truth, config)
    out = []
    for line in events.getvalue().splitlines():
        envelope = orjson.loads(line)
        out.append((envelope["topic"], envelope["value"]))
    return out


def _shift(stamp: Any, seconds: float) -> Any:
    if not isinstance(stamp, str) or seconds == 0:
        return stamp
    return (datetime.fromisoformat(stamp) + timedelta(seconds=seconds)).isoformat()


def _renamed(topic: str, value: dict[str, Any], rnd: int, later: float) -> dict[str, Any]:
    """The seed record as round `rnd` sends it: its own parcels, vehicles and event ids,
    `later` seconds later."""
    if rnd == 0:
        return dict(value)
    v = dict(value)
    tag = f"R{rnd}"
    for name in ("waybill_no", "vehicle_id", "event_id"):
        if isinstance(v.get(name), str):
            v[name] = f"{v[name]}{tag}" if name != "waybill_no" else f"{v[name]}-{tag}"
    for name in ("created_at", "promised_at", "event_time"):
        if name in v:
            v[name] = _shift(v[name], later)
    return v


def _set(value: dict[str, Any], path: str, new: Any) -> None:
    head, _, rest = path.partition(".")
    if rest:
        inner = value.get(head)
        if isinstance(inner, dict):
            inner = dict(inner)
            inner[rest] = new
            value[head] = inner
        else:
            value[head] = {rest: new}
    else:
        value[head] = new


class Fuzzer:
    def __init__(self, seed: int, records: list[tuple[str, dict[str, Any]]]) -> None:
        self.rng = random.Random(seed)
        self.seed_records = records
        self.recent_scans: list[dict[str, Any]] = []

    def lines(self, count: int, mutate_share: float, report: FuzzReport) -> Any:
        """`count` lines (bytes, no line break inside), the seed stream repeated."""
        rng = self.rng
        # Each round starts an hour after the previous one's latest record: one stream,
        # as a network runs on, never a jump the clock guard would refuse.
        times = [t.timestamp() for _, v in self.seed_records if (t := _time(v)) is not None]
        span = max(times) - min(times) + 3600
        produced = 0
        rnd = 0
        while produced < count:
            for topic, value in self.seed_records:
                if produced >= count:
                    return
                v = _renamed(topic, value, rnd, rnd * span)
                if topic == "scans":
                    self.recent_scans.append(v)
                    if len(self.recent_scans) > 256:
                        del self.recent_scans[:128]
                if rng.random() < mutate_share:
                    kind = rng.choice(MUTATIONS)
                    line = self.mutate(kind, topic, v)
                    report.mutated += 1
                    report.mutations[kind] += 1
                else:
                    line = _envelope(topic, v)
                produced += 1
                yield line
            rnd += 1

    def mutate(self, kind: str, topic: str, v: dict[str, Any]) -> bytes:
        rng = self.rng
        if kind == "value":
            _set(v, rng.choice(FIELDS[topic]), rng.choice(HOSTILE_VALUES))
        elif kind == "drop":
            v.pop(rng.choice(FIELDS[topic]).split(".")[0], None)
        elif kind == "extra":
            v[rng.choice(["zz", "__proto__", "phone", "value"])] = rng.choice(HOSTILE_VALUES)
        elif kind == "future":  # a device clock years or days ahead
            ahead = rng.choice([3, 30, 365 * 70])
            name = "created_at" if topic == "waybills" else "event_time"
            v[name] = _shift(v.get(name), ahead * 86_400)
        elif kind == "conflict" and self.recent_scans:
            other = self.recent_scans[rng.randrange(len(self.recent_scans))]
            if topic == "scans":
                v["event_id"] = other.get("event_id")
            else:
                return _envelope(
                    "scans", {**other, "scan_type": "DAMAGE_REPORTED", "reason": "DESTROYED"}
                )
        elif kind == "redeliver" and self.recent_scans:
            return _envelope("scans", self.recent_scans[rng.randrange(len(self.recent_scans))])
        elif kind == "batch" and topic == "gps":  # as a terminal uploads its buffer
            ping = {k: x for k, x in v.items() if k != "vehicle_id"}
            wrong = dict(ping, **{rng.choice(FIELDS["gps"][1:]): rng.choice(HOSTILE_VALUES)})
            pings = [ping] * rng.randrange(1, 4) + ([wrong] if rng.random() < 0.5 else [])
            return _envelope("gps", {"vehicle_id": v.get("vehicle_id"), "pings": pings})
        elif kind == "huge_string":
            _set(v, rng.choice(FIELDS[topic]), "字" * rng.choice([33, 501, 20_000]))
        line = _envelope(topic, v)
        if kind == "truncate":
            line = line[: rng.randrange(len(line))]
        elif kind == "flip":
            i = rng.randrange(len(line))
            line = line[:i] + bytes([rng.randrange(256) or 1]) + line[i + 1 :]
        elif kind == "utf8":
            i = rng.randrange(len(line))
            line = (
                line[:i]
                + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"])
                + line[i:]
            )
        elif kind == "envelope":
            line = rng.choice(
                [
                    b"[]",
                    b"null",
                    b"42",
                    b'"text"',
                    b"{}",
                    b'{"topic": "scans"}',
                    b'{"value": {}}',
                    b'{"topic": 7, "value": {}}',
                ]
            )
        elif kind == "topic":
            line = _envelope(rng.choice(["waybills", "scans", "gps", "parcels", ""]), v)
        elif kind == "too_large":  # mostly just over the limit, now and then megabytes
            extra = 2_000_000 if rng.random() < 0.01 else rng.choice([1, 100, 5_000])
            line = line + b" " * (MAX_RECORD_BYTES + extra)
        elif kind == "nested_bom":
            line = BOM + line
        return line.replace(b"\n", b" ").replace(b"\r", b" ")


def _time(value: dict[str, Any]) -> datetime | None:
    stamp = value.get("event_time") or value.get("created_at")
    return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None


def _envelope(topic: str, value: Any) -> bytes:
    try:
        return orjson.dumps({"topic": topic, "value": value})
    except TypeError:  # 10**30, a lone surrogate: the standard library writes them
        return json.dumps({"topic": topic, "value": value}).encode()


def _records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a JSON-lines output file, one at a time (the files of a large run
    are far bigger than what should be held in memory)."""
    with path.open("rb") as fh:
        for line in fh:
            yield orjson.loads(line)


def _same(a: Path, b: Path, ignore: str | None = None) -> bool:
    """Whether two output files hold the same records, line by line (`ignore`: a field
    left out of the comparison)."""
    if ignore is None:
        with a.open("rb") as fa, b.open("rb") as fb:
            return all(x == y for x, y in zip_longest(fa, fb))
    for x, y in zip_longest(_records(a), _records(b)):
        if x is None or y is None:
            return False
        x.pop(ignore, None)
        y.pop(ignore, None)
        if x != y:
            return False
    return True


def run(
    network_path: Path,
    records: int,
    seed: int,
    workdir: Path,
    *,
    parcels: int = 120,
    mutate_share: float = 0.5,
) -> FuzzReport:
    """Generate `records` lines into `workdir`, replay them twice, check the promises."""
    report = FuzzReport()
    started = time.perf_counter()
    network = Network.load(network_path)
    fuzzer = Fuzzer(seed, seed_stream(network, parcels, seed))
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "fuzz.jsonl"
    expected_lines = 0
    with source.open("wb") as out:
        for number, line in enumerate(fuzzer.lines(records, mutate_share, report)):
            probe = line[len(BOM) :] if number == 0 and line.startswith(BOM) else line
            if probe.strip():
                expected_lines += 1
            out.write(line + b"\n")
    report.generate_s = time.perf_counter() - started
    summaries = []
    for name in ("a", "b"):
        began = time.perf_counter()
        try:
            summaries.append(replay(network_path, source, workdir / name))
        except Exception:
            report.crashes += 1
            report.errors.append(traceback.format_exc(limit=8))
            return report
        report.replay_s.append(time.perf_counter() - began)
    summary = summaries[0]
    report.lines = summary.lines
    report.applied = summary.records
    report.dead_letters = summary.counts["dead_letters"]
    report.outputs = dict(summary.counts)
    letters = 0
    for letter in _records(workdir / "a" / OUTPUT_FILES["dead_letters"]):
        letters += 1
        reason, _, message = str(letter.get("error", "")).partition(": ")
        report.reasons[reason] += 1
        if not reason or not message:
            report.unaccounted += 1  # a dead letter must say why
    # Each line is applied, or refused with a letter; a boarding refused by a full vehicle
    # is a letter for a line that was applied as well.
    extra = summary.letters_for_applied
    report.unaccounted += abs(summary.lines - summary.records - (letters - extra))
    report.unaccounted += abs(expected_lines - summary.lines)
    for note in _records(workdir / "a" / OUTPUT_FILES["notifications"]):
        if not (is_clean(note["title"]) and is_clean(note["body"])):
            report.unsafe_text += 1
    for logical, name in OUTPUT_FILES.items():
        ignore = "received_at" if logical == "dead_letters" else None
        if not _same(workdir / "a" / name, workdir / "b" / name, ignore):
            report.nondeterministic.append(name)
    return report
