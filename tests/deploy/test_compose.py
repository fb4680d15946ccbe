"""docker-compose.yml: valid for `docker-compose config`, and wired as documented (no
Docker engine runs here, so this is what can be proven without one)."""

import subprocess
from pathlib import Path

import yaml

from parcelwatch.devtools.brokers.kafka import KAFKA_VERSION
from parcelwatch.service.settings import ServiceSettings
from tests.support.streams import tool

ROOT = Path(__file__).resolve().parents[2]


def _config() -> dict:
    result = subprocess.run(
        [tool("docker-compose"), "-f", "docker-compose.yml", "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_is_valid_and_has_every_part():
    services = _config()["services"]
    assert {"kafka", "topics", "worker-1", "worker-2", "simulator", "prometheus", "grafana"} <= set(
        services
    )
    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert services["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"  # the tested one
    assert services["topics"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert "version" not in yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_workers_are_configured_with_real_settings_and_scraped():
    services = _config()["services"]
    fields = set(ServiceSettings.model_fields)
    volumes = set()
    for name in ("worker-1", "worker-2"):
        env = services[name]["environment"]
        for key in env:
            assert key.startswith("PARCELWATCH_") and key[12:].lower() in fields, key
        settings = ServiceSettings(**{k[12:].lower(): v for k, v in env.items()})
        assert settings.bootstrap_servers == "kafka:9092" and settings.store == "rocksdb://"
        mounts = [
            v["target"] if isinstance(v, dict) else v.split(":")[1]
            for v in services[name]["volumes"]
        ]
        assert settings.data_dir in mounts
        volumes.add(str(services[name]["volumes"][0]))
        assert (
            services[name]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        )
    assert len(volumes) == 2  # each worker its own RocksDB volume
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == ["worker-1:9108", "worker-2:9108"]


def test_topics_service_creates_every_contract_topic():
    command = " ".join(_config()["services"]["topics"]["command"])
    s = ServiceSettings()
    for topic in (
        s.topic_waybills,
        s.topic_scans,
        s.topic_gps,
        s.topic_exceptions,
        s.topic_notifications,
        s.topic_tickets,
        s.topic_dead_letters,
    ):
        assert topic in command


def test_grafana_and_prometheus_mount_what_is_in_deploy():
    services = _config()["services"]
    for service in ("prometheus", "grafana"):
        for volume in services[service]["volumes"]:
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith("/") or source.startswith("."):
                assert Path(source if source.startswith("/") else ROOT / source).exists(), source
