"""`parcelwatch replay`: the acceptance-test entry point (CONTRACT §8).

Reads a replay file (one `{"topic", "key", "value"}` object per line, in arrival order),
runs the exact rule code of the live pipeline in-process on the event clock, and writes
exceptions, tickets, notifications and dead letters as JSON lines in emission order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from parcelwatch.clock import to_datetime, to_us
from parcelwatch.detection.context import RuleContext
from parcelwatch.detection.detector import Detector, Observer
from parcelwatch.detection.moments import EtaLog
from parcelwatch.detection.state import WaybillState
from parcelwatch.edge.files import parse_line
from parcelwatch.edge.intake import (
    InvalidRecord,
    dead_letter,
    read_lines,
)
from parcelwatch.network.graph import Network, NetworkError
from parcelwatch.schemas import Scan, Waybill, to_json
from parcelwatch.schemas.common import EARLIEST, LATEST
from parcelwatch.schemas.topics import OUTPUT_TOPICS
from parcelwatch.settings import RuleSettings, SettingsError

OUTPUT_FILES = {topic: f"{topic}.jsonl" for topic in OUTPUT_TOPICS}


class ReplayError(Exception):
    """Unusable arguments or unreadable files: the CLI prints it as one line, exits 2."""


@dataclass
class ReplaySummary:
    lines: int = 0
    records: int = 0
    letters_for_applied: int = 0
    """Dead letters for lines that were applied too: a boarding refused by a full vehicle
    (the scan itself counts for its parcel)."""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTPUT_FILES, 0))


def replay(
    network_path: str | Path,
    input_path: str | Path,
    out_dir: str | Path,
    *,
    until: str | None = None,
    config: str | Path | None = None,
    eta_out: str | Path | None = None,
) -> ReplaySummary:
    """`eta_out`: also write, per parcel and moment of its journey (detection/moments.py),
    the ETA the configured model gave then, one JSON object per line."""
    try:
        network = Network.load(network_path)
        settings = RuleSettings.load(config)
        RuleContext.create(network, settings)  # settings that name facilities: checked
    except (NetworkError, SettingsError) as exc:
        raise ReplayError(str(exc)) from None
    until_us = None
    if until is not None:
        try:
            moment = datetime.fromisoformat(until)
        except ValueError:
            raise ReplayError(f"--until: not an ISO-8601 timestamp: {until!r}") from None
        if moment.tzinfo is None:
            raise ReplayError(f"--until: timestamp needs a UTC offset: {until!r}")
        if not EARLIEST <= moment < LATEST:
            raise ReplayError(f"--until: must lie from 2000-01-01 up to 2100-01-01: {until!r}")
        until_us = to_us(moment)
    try:
        source = open(input_path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ReplayError(f"{input_path}: cannot read: {exc.strerror or exc}") from None
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        files = {k: open(out / name, "wb") for k, name in OUTPUT_FILES.items()}  # noqa: SIM115
        etas = open(eta_out, "wb") if eta_out is not None else None  # noqa: SIM115
    except OSError as exc:
        source.close()
        raise ReplayError(f"{out_dir}: cannot write: {exc.strerror or exc}") from None

    summary = ReplaySummary()

    def sink(output: tuple[str, Any]) -> None:
        topic, record = output
        files[topic].write(to_json(record) + b"\n")
        summary.counts[topic] += 1

    detector = Detector(network, settings, sink)
    if etas is not None:
        detector.observer = _eta_writer(EtaLog(detector.ctx), etas)

    def refuse(number: int, raw: bytes, exc: InvalidRecord) -> None:
        received = detector.clock.now
        letter = dead_letter(
            _topic_of(raw),
            raw,
            f"{exc.reason}: {exc}",
            to_datetime(received) if received is not None else datetime.now(UTC),
            line=number,
        )
        files["dead_letters"].write(to_json(letter) + b"\n")
        summary.counts["dead_letters"] += 1

    try:
        with source:
            for number, raw in read_lines(source):
                summary.lines += 1
                try:
                    detector.feed(parse_line(raw, network))
                except InvalidRecord as exc:
                    refuse(number, raw, exc)
                    continue
                summary.records += 1
                if detector.refused:  # applied, but its vehicle was full: also a letter
                    for _, refusal in detector.refused:
                        refuse(number, raw, refusal)
                    summary.letters_for_applied += len(detector.refused)
                    detector.refused.clear()
            if until_us is not None:
                detector.advance(until_us)
    except OSError as exc:
        raise ReplayError(f"{input_path}: read failed: {exc.strerror or exc}") from None
    finally:
        for handle in files.values():
            handle.close()
        if etas is not None:
            etas.close()
    return summary


def _eta_writer(log: EtaLog, out: IO[bytes]) -> Observer:
    """An observer that writes the ETA at each moment of a parcel's journey."""

    def iso(t: int | None) -> str | None:
        return None if t is None else to_datetime(t).isoformat()

    def observe(w: WaybillState, record: Waybill | Scan, now: int) -> None:
        seen = log.observe(w, record, now)
        if seen is None:
            return
        head = {"waybill_no": seen.waybill_no, "moment": seen.moment, "at": iso(seen.at)}
        out.write(orjson.dumps({**head, "model": log.model, "eta": iso(seen.eta)}) + b"\n")
        expected = seen.expected
        if expected is not None:  # a learned model: its P50, and the P10-P90 window
            window = {"eta": iso(expected.p50), "from": iso(expected.p10), "to": iso(expected.p90)}
            out.write(orjson.dumps({**head, "model": "expected", **window}) + b"\n")

    return observe


def _topic_of(raw: bytes) -> str:
    """The envelope's topic for a dead letter, when the line is readable enough."""
    try:
        topic = orjson.loads(raw).get("topic")
    except (orjson.JSONDecodeError, AttributeError):
        return "unknown"
    return topic if isinstance(topic, str) and len(topic) <= 100 else "unknown"
