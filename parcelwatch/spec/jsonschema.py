"""JSON Schema export for every record (`parcelwatch schemas --out DIR`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode

from parcelwatch.schemas import ALL_MODELS

DIALECT = "https://json-schema.org/draft/2020-12/schema"

INPUTS = frozenset({"Waybill", "Scan", "GpsPing", "GpsBatch"})
"""Records the service reads: their schemas say what it accepts (validation mode);
the others say what it writes (serialization mode)."""


def schema_mode(name: str) -> JsonSchemaMode:
    return "validation" if name in INPUTS else "serialization"


class _Dialect(GenerateJsonSchema):
    """Names the dialect pydantic writes (`$defs`, `prefixItems`: 2020-12), so a
    validator never falls back to an older draft's rules."""

    def generate(self, schema: Any, mode: JsonSchemaMode = "validation") -> Any:
        return {"$schema": DIALECT, **super().generate(schema, mode)}


def record_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one record as CONTRACT.md names it (`Scan`, `DeadLetter`)."""
    schema = ALL_MODELS[name].model_json_schema(mode=schema_mode(name), schema_generator=_Dialect)
    schema.setdefault("title", name)
    return schema


def export_schemas(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ALL_MODELS:
        path = out / f"{name}.schema.json"
        text = json.dumps(record_schema(name), indent=2, ensure_ascii=False) + "\n"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
