"""Field types shared by every record: timestamps, identifiers and bounded strings.

The contract is strict about timestamps (ISO-8601 text with a UTC offset) and identifier
shapes, so those are enforced here once and reused by every model.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Timestamps lie in [EARLIEST, LATEST) (CONTRACT §7): anything else is a device's
broken clock, and keeping it out means no deadline arithmetic can leave datetime's range."""

_ISO = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:?\d\d)", re.ASCII)

SEMANTIC = "semantic"
"""Error type of the rules a JSON Schema cannot state (the range of a timestamp, a time
zone the tz database knows, a route that starts at the origin, a promise after the
order): a dead letter for one of these alone says `semantic`, anything else `schema`,
so a producer whose records pass the published schemas knows the fault is in what the
values mean, not in their shape."""


def semantic(message: str) -> PydanticCustomError:
    # The message goes in as context, never as the template: it may quote input text,
    # and braces in it would be read as placeholders.
    return PydanticCustomError(SEMANTIC, "{detail}", {"detail": message})


def _require_iso_text(value: Any) -> Any:
    # pydantic would happily turn a number, or a numeric string, into a datetime (as Unix
    # time); the contract wants ISO text with a UTC offset only.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("timestamp must be an ISO-8601 string with a UTC offset")
    if len(value) > 40 or not _ISO.fullmatch(value):
        raise ValueError("timestamp must be ISO-8601 text with a UTC offset")
    return value


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise semantic("timestamp must lie from 2000-01-01 up to 2100-01-01")
    return value


@cache
def known_timezones() -> frozenset[str]:
    """The IANA zone names this machine's tz database has. Checking membership first
    keeps ZoneInfo from ever being handed a path (`Asia` is a folder of the database)."""
    return frozenset(available_timezones())


def _known_timezone(value: str) -> str:
    if value not in known_timezones():
        raise semantic(f"unknown IANA time zone {value!r}")
    ZoneInfo(value)  # loaded once here, so later conversions cannot fail
    return value


TIMESTAMP_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    # RFC 3339's own date-time, with its `T` and `Z` in capitals as the service reads them.
    "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$",
    "description": "RFC 3339 date-time with a UTC offset. Only the service checks that it "
    "lies from 2000-01-01 up to 2100-01-01 (a dead letter `semantic`). The service also "
    "reads ISO-8601's shorter forms (no seconds, `+0800`, a space for the `T`).",
}
"""What a producer should send; the service reads a little more (see the description)."""


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_require_iso_text),
    AfterValidator(_in_range),
    PlainSerializer(_iso_utc, return_type=str, when_used="json"),
    WithJsonSchema(TIMESTAMP_SCHEMA),
]
"""A timezone-aware instant. Serialised to JSON in UTC with an explicit `+00:00` offset."""

WaybillNo = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,40}$")]
ID_CHARS = r"\s\u0000-\u001f\u007f-\u009f\ufeff"
"""What an id may not hold: whitespace and control characters. Spelt out because "\\s"
means one set in Python and Rust (pydantic), another in JSON Schema's ECMA regexes
(U+0085 and U+FEFF differ): the published pattern and the service agree on this one."""
FacilityId = Annotated[str, Field(pattern=rf"^[^{ID_CHARS}]{{1,64}}$")]
"""Any 1-64 characters without whitespace: the network file decides which exist."""
VehicleId = Annotated[str, Field(pattern=rf"^[^{ID_CHARS}]{{1,64}}$")]
# Input text is stripped of surrounding whitespace before it is checked (Record), so a
# value that must not be empty must hold something besides whitespace: `\S` says that
# in the schemas, and a phone ends with a digit, so no trailing space counts as one.
_NOT_BLANK = r"\S"
EventId = Annotated[str, Field(min_length=1, max_length=128, pattern=_NOT_BLANK)]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 -]{3,21}[0-9]$")]
PersonName = Annotated[str, Field(min_length=1, max_length=64, pattern=_NOT_BLANK)]
TimeZoneName = Annotated[
    str,
    Strict(),
    Field(
        min_length=1,
        max_length=64,
        pattern=_NOT_BLANK,
        description="An IANA time zone name (`Asia/Shanghai`). Only the service checks that "
        "its tz database knows it (a dead letter `semantic`).",
    ),
    AfterValidator(_known_timezone),
]
"""An IANA time zone this machine knows (`Asia/Shanghai`)."""


class Record(BaseModel):
    """Base of every record on a topic: unknown fields are ignored (forward compatibility),
    values are immutable once validated."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)


class OutputRecord(BaseModel):
    """Base of records parcelwatch produces: every field is declared, nothing extra."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Severity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}
