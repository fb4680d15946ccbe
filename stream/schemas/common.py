"""Field types shared by every record: timestamps, identifiers and bounded strings.

The contract is strict about timestamps (ISO-8601 text with a UTC offset) and identifier
shapes, so those are enforced here once and reused by every model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer


def _require_iso_text(value: Any) -> Any:
    # pydantic would happily turn a number into a datetime; the contract wants ISO text only.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("timestamp must be an ISO-8601 string with a UTC offset")
    if len(value) > 40:
        raise ValueError("timestamp text too long")
    return value


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_require_iso_text),
    PlainSerializer(_iso_utc, return_type=str, when_used="json"),
]
"""A timezone-aware instant. Serialised to JSON in UTC with an explicit `+00:00` offset."""

WaybillNo = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,40}$")]
FacilityId = Annotated[str, Field(pattern=r"^[^\s]{1,64}$")]
"""Any 1-64 characters without whitespace: the network file decides which exist."""
VehicleId = Annotated[str, Field(pattern=r"^[^\s]{1,64}$")]
EventId = Annotated[str, Field(min_length=1, max_length=128)]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 -]{4,22}$")]
PersonName = Annotated[str, Field(min_length=1, max_length=64)]


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
