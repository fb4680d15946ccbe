"""Building the Faust app (no broker is reached until it starts)."""

from structlog.testing import capture_logs

from parcelwatch.service.app import create_app
from parcelwatch.service.settings import ServiceSettings
from tests.support.streams import NETWORK_YAML

PLAN_ONLY = "the planned ETA runs on the contract's plan alone"


def _built(tmp_path, **fields) -> list[str]:
    settings = ServiceSettings(data_dir=str(tmp_path / "data"), store="memory://", **fields)
    with capture_logs() as logs:
        pipeline = create_app(settings, "127.0.0.1:1")
    assert {t.name for t in pipeline.app.tables.values()} == {
        "waybill-state",
        "waybill-held",
        "waybill-fleet",
        "vehicle-state",
    }
    return [entry["event"] for entry in logs]


def test_a_worker_with_no_learned_last_mile_says_how_to_learn_one(tmp_path):
    (said,) = [e for e in _built(tmp_path) if e.startswith(PLAN_ONLY)]
    assert "parcelwatch calibrate" in said and "PARCELWATCH_CONFIG_FILE" in said


def test_a_worker_with_a_learned_last_mile_says_nothing_of_it(tmp_path):
    learned = tmp_path / "learned.yaml"
    learned.write_text("last_mile_learned_hours: {A-OUT: 2.5}\n")
    network = tmp_path / "network.yaml"
    network.write_text(NETWORK_YAML)
    events = _built(tmp_path, config_file=str(learned), network_file=str(network))
    assert not [e for e in events if e.startswith(PLAN_ONLY)]
