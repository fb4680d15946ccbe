"""The AsyncAPI 3 description of parcelwatch's topics (`parcelwatch asyncapi`), built
from the same pydantic models that validate the records, so it cannot say anything the
service does not do. deploy/asyncapi.yaml is its output; a test fails when they differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from parcelwatch.schemas import ALL_MODELS
from parcelwatch.spec.jsonschema import schema_mode

_EXACTLY_ONCE = (
    " With processing_guarantee=exactly_once (Apache Kafka), read with "
    "isolation.level=read_committed: each record then comes once."
)

# logical topic -> (record names, key, what the topic carries)
_CHANNELS: dict[str, tuple[str | tuple[str, ...], str, str]] = {
    "waybills": ("Waybill", "waybill_no", "Orders (运单) as the order system creates them."),
    "scans": ("Scan", "waybill_no", "Every scan of a parcel, from pickup to delivery."),
    "gps": (
        ("GpsPing", "GpsBatch"),
        "vehicle_id",
        "GPS pings of linehaul trucks and delivery "
        "vans, one by one or as a terminal's batch upload (a value with `pings`).",
    ),
    "exceptions": (
        "Exception",
        "waybill_no",
        "Exception episodes: OPEN, UPDATED, RESOLVED, one exception_id per episode. "
        "Delivered at least once: after a worker's crash the last batch's events come "
        "again, with their ids. OPEN and RESOLVED come once per exception_id: a second "
        "is a repeat. UPDATED may come several times: a repeat has the evidence of one "
        "already seen (its detected_at may be later on the wall clock)." + _EXACTLY_ONCE,
    ),
    "tickets": (
        "Ticket",
        "waybill_no",
        "Service tickets (工单), one per episode, routed to the responsible department. "
        "Delivered at least once: a ticket record is a repeat when ticket_id, status and "
        "priority equal one already seen (updated_at may differ on the wall clock)."
        + _EXACTLY_ONCE,
    ),
    "notifications": (
        "Notification",
        "waybill_no",
        "Proactive customer messages in the recipient's locale, held over quiet hours. "
        "Delivered at least once: send each notification_id once." + _EXACTLY_ONCE,
    ),
    "dead_letters": (
        "DeadLetter",
        "as received",
        "Input that could not be decoded or validated, with the reason." + _EXACTLY_ONCE,
    ),
}
_RECEIVED = ("waybills", "scans", "gps")


def _schemas() -> dict[str, Any]:
    """Every record's JSON Schema, their shared definitions lifted into components."""
    out: dict[str, Any] = {}
    for name, model in ALL_MODELS.items():
        schema = model.model_json_schema(
            mode=schema_mode(name), ref_template="#/components/schemas/{model}"
        )
        for def_name, definition in schema.pop("$defs", {}).items():
            out.setdefault(def_name, definition)
        schema["title"] = name
        out[name] = schema
    return dict(sorted(out.items()))


def _camel(logical: str) -> str:
    return "".join(part.capitalize() for part in logical.split("_"))


def build(addresses: Mapping[str, str], version: str = "0.1.0") -> dict[str, Any]:
    """The AsyncAPI 3.0 document; `addresses` maps each logical topic to its Kafka topic
    (`ServiceSettings().contract_topics()`: the defaults of CONTRACT §1)."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for logical, (names, key, what) in _CHANNELS.items():
        records = (names,) if isinstance(names, str) else names
        for record in records:
            messages[record] = {
                "name": record,
                "title": record,
                "contentType": "application/json",
                "payload": {"$ref": f"#/components/schemas/{record}"},
                "bindings": {"kafka": {"key": {"type": "string", "description": f"Key: {key}."}}},
            }
        channels[logical] = {
            "address": addresses[logical],
            "description": what,
            "messages": {r: {"$ref": f"#/components/messages/{r}"} for r in records},
        }
        action = "receive" if logical in _RECEIVED else "send"
        operations[f"{action}{_camel(logical)}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{logical}"},
            "messages": [{"$ref": f"#/channels/{logical}/messages/{r}"} for r in records],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "parcelwatch",
            "version": version,
            "description": "Exception detection for express-delivery parcel networks: "
            "parcelwatch reads orders, scans and GPS pings, and publishes exception "
            "events, tickets, customer notifications and dead letters. Topic names are "
            "the defaults (PARCELWATCH_TOPIC_* changes them). Values are UTF-8 JSON; "
            "timestamps are ISO-8601 with a UTC offset.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "Any Kafka cluster (PARCELWATCH_BOOTSTRAP_SERVERS); "
                "SASL/TLS through PARCELWATCH_SECURITY_PROTOCOL and related settings.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _schemas()},
    }


def render(document: dict[str, Any]) -> str:
    header = "# Generated by `parcelwatch asyncapi --out deploy/asyncapi.yaml`: do not edit.\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
