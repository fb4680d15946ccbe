"""JSON Schema export for every record (`parcelwatch schemas --out DIR`)."""

from __future__ import annotations

import json
from pathlib import Path

from . import ALL_MODELS


def export_schemas(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in ALL_MODELS.items():
        schema = model.model_json_schema(
            mode="serialization" if name not in _INPUTS else "validation"
        )
        schema.setdefault("title", name)
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


_INPUTS = {"Waybill", "Scan", "GpsPing", "GpsBatch"}
