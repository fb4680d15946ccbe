"""Replay-format files (CONTRACT §8): one JSON envelope a line, read and validated
as replay reads them, and split into the records `parcelwatch produce` sends."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import orjson

from parcelwatch.edge.intake import (
    MAX_RECORD_BYTES,
    InputRecord,
    InvalidRecord,
    Oversized,
    check_key,
    read_lines,
    too_large,
    validate,
)
from parcelwatch.network.graph import Network
from parcelwatch.schemas.topics import INPUT_TOPICS


def read_replay_file(
    path: Path, skipped: Callable[[int, int], None] | None = None
) -> Iterator[tuple[str, bytes | None, bytes, float | None]]:
    """(logical topic, key, value bytes, event time in s) of each usable line; lines
    that are not even an envelope are passed through to the scans topic as they are, so
    the service's dead-letter path sees them. A line over the record limit is not read
    whole nor sent (a broker refuses it): `skipped(line number, size)` is told instead."""
    for _, topic, key, raw, when in envelopes(path, skipped):
        yield topic, key, raw, when


def waybill_numbers(path: Path, limit: int) -> list[str]:
    """The keys of the first `limit` orders of a replay file (parcels to look up)."""
    out: list[str] = []
    for topic, key, _, _ in read_replay_file(path):
        if topic == "waybills" and key:
            out.append(key.decode("utf-8", "replace"))
            if len(out) >= limit:
                break
    return out


def envelopes(
    path: Path, skipped: Callable[[int, int], None] | None
) -> Iterator[tuple[bytes, str, bytes | None, bytes, float | None]]:

    with path.open("rb") as fh:
        for number, line in read_lines(fh):
            if isinstance(line, Oversized):
                if skipped is not None:
                    skipped(number, line.size)
                continue
            line = line.strip()
            try:
                envelope = orjson.loads(line)
                topic = envelope["topic"]
                value = envelope["value"]
                assert topic in INPUT_TOPICS
            except Exception:
                yield line, "scans", None, line, None
                continue
            key = envelope.get("key")
            if key is None and isinstance(value, dict):
                key = value.get("vehicle_id" if topic == "gps" else "waybill_no")
            raw = orjson.dumps(value)
            when = None
            if isinstance(value, dict):
                stamp = value.get("created_at" if topic == "waybills" else "event_time")
                if isinstance(stamp, str):
                    with contextlib.suppress(ValueError):  # no usable time: None
                        when = datetime.fromisoformat(stamp).timestamp()
            yield line, topic, str(key).encode() if key is not None else None, raw, when


def parse_line(raw: bytes, network: Network) -> InputRecord:
    """The validated record of one replay line, or InvalidRecord saying why not."""
    if isinstance(raw, Oversized):
        raise too_large(raw.size)
    if len(raw) > MAX_RECORD_BYTES:
        raise too_large(len(raw))
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
    record = validate(topic, envelope["value"], network)
    key = envelope.get("key")
    if key is not None:  # optional here; when given, held to the live topics' rule
        if not isinstance(key, str):
            raise InvalidRecord("key_mismatch", "'key' must be a string")
        check_key(record, key)
    return record
