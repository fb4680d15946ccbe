import json

from stream.cli import main


def test_schemas_command_writes_one_schema_per_record(tmp_path, capsys):
    assert main(["schemas", "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(
        f"{n}.schema.json"
        for n in (
            "Waybill",
            "Scan",
            "GpsPing",
            "GpsBatch",
            "Exception",
            "Ticket",
            "Notification",
            "DeadLetter",
        )
    )
    scan = json.loads((tmp_path / "Scan.schema.json").read_text())
    assert "scan_type" in scan["required"]
    exc = json.loads((tmp_path / "Exception.schema.json").read_text())
    assert set(exc["properties"]) >= {"exception_id", "type", "status", "severity", "evidence"}
