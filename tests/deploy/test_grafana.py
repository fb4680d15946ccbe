"""deploy/grafana: the provisioned dashboard points at the provisioned datasource, and
its panels are well formed (that its queries name real metrics is checked against a
live worker in tests/integration/test_observability.py)."""

import json
from pathlib import Path

import yaml

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"


def test_the_dashboard_uses_the_provisioned_datasource_and_is_well_formed():
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    dashboard = json.loads((GRAFANA / "dashboards" / "parcelwatch.json").read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels) >= 12
    for panel in panels:
        assert panel["datasource"]["uid"] == source["uid"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs)
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/parcelwatch.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
