"""`parcelwatch replay`: the acceptance-test entry point (CONTRACT §8).

Reads a replay file (one `{"topic", "key", "value"}` object per line, in arrival order),
runs the exact rule code of the live pipeline in-process on the event clock, and writes
exceptions, tickets, notifications and dead letters as JSON lines in emission order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from .core.clock import to_datetime, to_us
from .core.detector import Detector
from .intake import MAX_RECORD_BYTES, InputRecord, InvalidRecord, dead_letter, validate
from .network import Network, NetworkError
from .schemas import to_json
from .settings import RuleSettings, SettingsError

OUTPUT_FILES = {
    "exceptions": "exceptions.jsonl",
    "tickets": "tickets.jsonl",
    "notifications": "notifications.jsonl",
    "dead_letters": "dead_letters.jsonl",
}


class ReplayError(Exception):
    """Unusable arguments or unreadable files: the CLI prints it as one line, exits 2."""


@dataclass
class ReplaySummary:
    lines: int = 0
    records: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTPUT_FILES, 0))


def parse_line(raw: bytes, network: Network) -> InputRecord:
    """The validated record of one replay line, or InvalidRecord saying why not."""
    if len(raw) > MAX_RECORD_BYTES:
        raise InvalidRecord("too_large", f"line of {len(raw)} bytes exceeds {MAX_RECORD_BYTES}")
    try:
        envelope = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord("decode", f"not valid JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise InvalidRecord("decode", "line must be a JSON object with topic and value")
    topic = envelope.get("topic")
    if not isinstance(topic, str):
        raise InvalidRecord("envelope", "missing or non-string 'topic'")
    if "value" not in envelope:
        raise InvalidRecord("envelope", "missing 'value'")
    return validate(topic, envelope["value"], network)


def _lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(handle, start=1):
        line = line.rstrip(b"\r\n")
        if line.strip():
            yield number, line


def replay(
    network_path: str | Path,
    input_path: str | Path,
    out_dir: str | Path,
    *,
    until: str | None = None,
    config: str | Path | None = None,
) -> ReplaySummary:
    try:
        network = Network.load(network_path)
        settings = RuleSettings.load(config)
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
        until_us = to_us(moment)
    try:
        source = open(input_path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ReplayError(f"{input_path}: cannot read: {exc.strerror or exc}") from None
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        files = {k: open(out / name, "wb") for k, name in OUTPUT_FILES.items()}  # noqa: SIM115
    except OSError as exc:
        source.close()
        raise ReplayError(f"{out_dir}: cannot write: {exc.strerror or exc}") from None

    summary = ReplaySummary()

    def sink(output: tuple[str, Any]) -> None:
        topic, record = output
        files[topic].write(to_json(record) + b"\n")
        summary.counts[topic] += 1

    detector = Detector(network, settings, sink)
    try:
        with source:
            for number, raw in _lines(source):
                summary.lines += 1
                try:
                    record = parse_line(raw, network)
                except InvalidRecord as exc:
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
                    continue
                summary.records += 1
                detector.feed(record)
            if until_us is not None:
                detector.advance(until_us)
    except OSError as exc:
        raise ReplayError(f"{input_path}: read failed: {exc.strerror or exc}") from None
    finally:
        for handle in files.values():
            handle.close()
    return summary


def _topic_of(raw: bytes) -> str:
    """The envelope's topic for a dead letter, when the line is readable enough."""
    try:
        topic = orjson.loads(raw).get("topic")
    except (orjson.JSONDecodeError, AttributeError):
        return "unknown"
    return topic if isinstance(topic, str) and len(topic) <= 100 else "unknown"
