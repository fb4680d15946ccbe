"""deploy/prometheus: the rules load, and each alert fires on what should raise it and
not just below (`promtool test rules` on deploy/prometheus/alerts.test.yml)."""

import subprocess
from pathlib import Path

import yaml

from tests.support.streams import tool

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
ALERTS = {
    "ParcelwatchWorkerDown",
    "ParcelwatchDamageSpike",
    "ParcelwatchHubStallBacklog",
    "ParcelwatchVehicleStalls",
    "ParcelwatchDeadLetterRate",
    "ParcelwatchConsumerLag",
    "ParcelwatchDetectionDelay",
    "ParcelwatchDeadlineBacklog",
    "ParcelwatchEventClockStuck",
}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)


def test_the_rules_and_the_scrape_config_are_valid():
    promtool = tool("promtool")
    result = _run(promtool, "check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout
    result = _run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "alerts.yml" in result.stdout and f"{len(ALERTS)} rules found" in result.stdout


def test_every_alert_has_a_unit_test_and_they_pass():
    promtool = tool("promtool")
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    assert {r["alert"] for g in rules["groups"] for r in g["rules"]} == ALERTS
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())
    tested = {
        a["alertname"]
        for t in tests["tests"]
        for a in t.get("alert_rule_test", [])
        if a["exp_alerts"]
    }
    assert tested == ALERTS  # each alert is shown firing, not only silent
    result = _run(promtool, "test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_broken_expectation_fails(tmp_path):
    """The check can fail: the same tests with one expected value changed."""
    promtool = tool("promtool")
    right, wrong = 'summary: "Damage spike at SZ-HUB"', 'summary: "Damage spike at GZ-HUB"'
    text = (PROMETHEUS / "alerts.test.yml").read_text()
    assert right in text
    text = text.replace(right, wrong)
    (tmp_path / "alerts.yml").write_text((PROMETHEUS / "alerts.yml").read_text())
    (tmp_path / "t.yml").write_text(text)
    result = subprocess.run(
        [promtool, "test", "rules", "t.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr
