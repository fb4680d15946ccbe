"""The edge: decoding and validating input records, and checking them against the
network. Whatever fails here becomes a dead letter with a reason — and nothing else does.
Shared by the live agents and `parcelwatch replay`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

import orjson
from pydantic import ValidationError

from parcelwatch.detection.errors import InvalidRecord
from parcelwatch.network.graph import Network
from parcelwatch.schemas import INPUT_MODELS, DeadLetter, GpsBatch, GpsPing, Scan, Waybill
from parcelwatch.schemas.common import SEMANTIC

MAX_RECORD_BYTES = 64 * 1024
"""Largest input record accepted; a legitimate scan is well under 4 kB."""
RAW_LIMIT = 10 * 1024
"""Dead letters keep at most this much of the raw text (CONTRACT §7)."""

BOM = b"\xef\xbb\xbf"

InputRecord = Waybill | Scan | GpsPing | GpsBatch


class Oversized(bytes):
    """The first RAW_LIMIT bytes of a line longer than MAX_RECORD_BYTES; `size` is the
    line's full length. The rest of the line was skipped, never held in memory."""

    size: int


def read_lines(handle: IO[bytes], limit: int = MAX_RECORD_BYTES) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of each non-blank line of a replay-format file, without its
    line break; a line of more than `limit` bytes comes as `Oversized` after reading at
    most `limit` + 2 bytes of it into memory. A UTF-8 byte-order mark at the very start
    of the file is not part of the first line."""
    number = 0
    while chunk := handle.readline(limit + 2):
        number += 1
        if number == 1 and chunk.startswith(BOM):
            chunk = chunk[len(BOM) :]
        ended = chunk.endswith(b"\n")
        line = chunk.rstrip(b"\r\n")
        if len(line) > limit or (not ended and len(chunk) == limit + 2):
            size = len(chunk)
            while not ended and (more := handle.readline(limit)):
                size += len(more)
                ended = more.endswith(b"\n")
            big = Oversized(line[:RAW_LIMIT])
            big.size = size
            yield number, big
        elif line.strip():
            yield number, line


def describe(exc: ValidationError) -> str:
    """One line naming each bad field, e.g. `scan_type: Input should be 'PICKUP', ...`."""
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "record"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def refusal(exc: ValidationError) -> str:
    """`semantic` when every fault is one the published JSON Schemas cannot state (the
    record has the shape they ask for), `schema` otherwise."""
    return SEMANTIC if all(e["type"] == SEMANTIC for e in exc.errors()) else "schema"


def validate(topic: str, value: Any, network: Network) -> InputRecord:
    """Validate a decoded value for a logical input topic ("waybills", "scans", "gps")."""
    if topic not in INPUT_MODELS:
        raise InvalidRecord("unknown_topic", f"unknown topic {topic!r}")
    if not isinstance(value, dict):
        raise InvalidRecord("schema", "value must be a JSON object")
    model: type[InputRecord] = (
        GpsBatch if topic == "gps" and "pings" in value else INPUT_MODELS[topic]
    )
    try:
        record = model.model_validate(value)
    except ValidationError as exc:
        raise InvalidRecord(refusal(exc), describe(exc)) from None
    check_network(record, network)
    return record


def check_key(record: InputRecord, key: bytes | str | None) -> bytes:
    """The record's key, as bytes. A record on the live topics is keyed by its id
    (CONTRACT §1): a key that is missing or says something else is bad input, never
    re-keyed, because where a key's state lives is decided by where its records arrive."""
    field = "waybill_no" if isinstance(record, Waybill | Scan) else "vehicle_id"
    own: str = getattr(record, field)
    if key is None:
        raise InvalidRecord("no_key", f"the record has no key; its {field} is the key")
    if isinstance(key, bytes):
        try:
            key = key.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRecord("key_mismatch", "the key is not UTF-8 text") from None
    if key != own:
        raise InvalidRecord("key_mismatch", f"key {key[:64]!r} is not the {field} {own!r}")
    return key.encode()


def too_large(size: int) -> InvalidRecord:
    return InvalidRecord("too_large", f"record of {size} bytes exceeds {MAX_RECORD_BYTES}")


def decode(topic: str, raw: bytes | str, network: Network) -> InputRecord:
    """Decode and validate one record value as it arrives from Kafka."""
    if len(raw) > MAX_RECORD_BYTES:
        raise too_large(len(raw))
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord("decode", f"not valid JSON: {exc}") from None
    return validate(topic, value, network)


def check_network(record: InputRecord, network: Network) -> None:
    facilities = network.facilities
    if isinstance(record, Scan):
        for field in ("facility_id", "next_facility_id"):
            fid = getattr(record, field)
            if fid is not None and fid not in facilities:
                raise InvalidRecord("unknown_facility", f"{field}: unknown facility {fid!r}")
    elif isinstance(record, Waybill):
        if record.origin_facility_id not in facilities:
            raise InvalidRecord(
                "unknown_facility",
                f"origin_facility_id: unknown facility {record.origin_facility_id!r}",
            )
        if record.destination_facility_id not in facilities:
            raise InvalidRecord(
                "unknown_facility",
                f"destination_facility_id: unknown facility {record.destination_facility_id!r}",
            )
        for i, fid in enumerate(record.planned_route or ()):
            if fid not in facilities:
                raise InvalidRecord(
                    "unknown_facility", f"planned_route.{i}: unknown facility {fid!r}"
                )


def dead_letter(
    source_topic: str,
    raw: bytes | str,
    error: str,
    received_at: Any,
    *,
    key: str | None = None,
    line: int | None = None,
) -> DeadLetter:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    if len(text.encode("utf-8")) > RAW_LIMIT:
        text = text.encode("utf-8")[:RAW_LIMIT].decode("utf-8", errors="ignore")
    return DeadLetter(
        source_topic=source_topic,
        key=key,
        line=line,
        raw=text,
        error=error[:2000],
        received_at=received_at,
    )


ARRIVAL_HEADER = "parcelwatch-arrival"
"""Header of an input record: replay's clock as it reached the record, in µs (stamped by
`parcelwatch produce`, see parcelwatch/service/runner.py ArrivalClock). The event clock applies the
record no earlier: what happens at a late upload happens when it arrived."""


def arrival(headers: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> int | None:
    """The arrival stamp in a record's headers (a list of pairs or a mapping), if any:
    a stamp that is not a number is ignored, as if absent."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        if name == ARRIVAL_HEADER:
            try:
                stamp = int(value)
            except (TypeError, ValueError):
                return None
            return stamp if 0 <= stamp < 2**62 else None
    return None
