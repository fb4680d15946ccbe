"""deploy/asyncapi.yaml is what `parcelwatch asyncapi` generates from the models, and
every reference in it resolves."""

from pathlib import Path

import yaml

from parcelwatch.cli import main
from parcelwatch.schemas import ALL_MODELS
from parcelwatch.service.settings import ServiceSettings
from parcelwatch.spec.asyncapi import build, render

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "deploy" / "asyncapi.yaml"


def test_the_checked_in_description_is_what_the_models_generate():
    generated = render(build(ServiceSettings().contract_topics(), version="0.1.0"))
    assert CHECKED_IN.read_text(encoding="utf-8") == generated, (
        "deploy/asyncapi.yaml is stale: run `parcelwatch asyncapi --out deploy/asyncapi.yaml`"
    )


def _refs(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value, (*path, key))
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value, path)


def test_every_topic_and_record_is_described_and_every_ref_resolves():
    doc = yaml.safe_load(CHECKED_IN.read_text(encoding="utf-8"))
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {
        "parcel.waybills",
        "parcel.scans",
        "vehicle.gps",
        "parcel.exceptions",
        "parcel.notifications",
        "parcel.tickets",
        "parcel.dead-letters",
    }
    assert set(ALL_MODELS) <= set(doc["components"]["schemas"])
    actions = {op["action"] for op in doc["operations"].values()}
    assert actions == {"send", "receive"}
    for ref in set(_refs(doc)):
        node = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]  # KeyError: a dangling reference
        assert node
    scan = doc["components"]["schemas"]["Scan"]
    assert "event_time" in scan["required"]
    for channel in doc["channels"].values():  # what each output's consumers must do
        if channel["address"].endswith(("exceptions", "tickets", "notifications")):
            assert "at least once" in channel["description"]
            assert "isolation.level=read_committed" in channel["description"]


def test_the_command_writes_the_file(tmp_path, capsys):
    out = tmp_path / "asyncapi.yaml"
    assert main(["asyncapi", "--out", str(out)]) == 0
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["channels"]["scans"]
    assert main(["asyncapi", "--out", str(tmp_path / "missing" / "x.yaml")]) == 2
