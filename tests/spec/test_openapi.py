"""deploy/openapi.yaml is what `parcelwatch openapi` generates from the response models,
and it is a valid OpenAPI 3.1 document whose references all resolve."""

from pathlib import Path

import yaml

from parcelwatch.spec.openapi import openapi_document, render

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "deploy" / "openapi.yaml"


def test_the_checked_in_document_is_what_the_models_generate():
    assert CHECKED_IN.read_text(encoding="utf-8") == render(openapi_document()), (
        "deploy/openapi.yaml is stale: run `parcelwatch openapi --out deploy/openapi.yaml`"
    )


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_it_is_openapi_3_1_and_every_reference_resolves():
    doc = yaml.safe_load(CHECKED_IN.read_text(encoding="utf-8"))
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {"/waybills/{waybill_no}", "/vehicles/{vehicle_id}"}
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas
    for path in doc["paths"].values():
        assert set(path["get"]["responses"]) == {"200", "400", "401", "404", "429", "503"}
    waybill = schemas["WaybillView"]["properties"]
    assert waybill["as_of"]["format"] == "date-time"
    assert schemas["TimelineEntry"]["properties"]["scan_type"] == {
        "$ref": "#/components/schemas/ScanType"
    }


def test_the_schemathesis_library_reads_it():
    import schemathesis

    schema = schemathesis.openapi.from_path(str(CHECKED_IN))
    operations = [op.ok().label for op in schema.get_all_operations()]
    assert sorted(operations) == ["GET /vehicles/{vehicle_id}", "GET /waybills/{waybill_no}"]
