"""deploy/k8s: the manifests hang together — what selects what, which port is which,
where RocksDB lives, and that every setting is one the service knows."""

from pathlib import Path

import yaml

from parcelwatch.service.settings import ServiceSettings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def _objects() -> dict[tuple[str, str], dict]:
    out = {}
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), name
            out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def test_every_manifest_is_listed_and_parses():
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    kinds = {kind for kind, _ in _objects()}
    assert kinds == {"ConfigMap", "Service", "StatefulSet"}


def test_the_statefulset_runs_workers_with_a_volume_for_rocksdb():
    objects = _objects()
    sts = objects[("StatefulSet", "parcelwatch")]["spec"]
    config = objects[("ConfigMap", "parcelwatch")]["data"]
    pod = sts["template"]
    labels = pod["metadata"]["labels"]
    assert sts["selector"]["matchLabels"].items() <= labels.items()
    assert ("Service", sts["serviceName"]) in objects
    assert objects[("Service", sts["serviceName"])]["spec"]["clusterIP"] == "None"
    assert sts["replicas"] >= 2
    (container,) = pod["spec"]["containers"]
    assert container["envFrom"][0]["configMapRef"]["name"] == "parcelwatch"
    claims = {c["metadata"]["name"] for c in sts["volumeClaimTemplates"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    settings = ServiceSettings(**{k[12:].lower(): v for k, v in config.items()})
    assert settings.store == "rocksdb://"
    assert any(mounts.get(c) == settings.data_dir for c in claims)  # RocksDB on the claim
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == settings.metrics_port
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == "metrics"
    secret = container["env"][0]["valueFrom"]["secretKeyRef"]
    assert container["env"][0]["name"] == "PARCELWATCH_SASL_PASSWORD" and secret["name"]


def test_config_keys_are_settings_and_no_secret_is_in_the_configmap():
    config = _objects()[("ConfigMap", "parcelwatch")]["data"]
    fields = set(ServiceSettings.model_fields)
    for key in config:
        assert key.startswith("PARCELWATCH_") and key[12:].lower() in fields, key
        assert "PASSWORD" not in key and "KEY" not in key.split("_")[-1:]


def test_the_metrics_service_selects_the_workers_and_their_metrics_port():
    objects = _objects()
    pod_labels = objects[("StatefulSet", "parcelwatch")]["spec"]["template"]["metadata"]["labels"]
    service = objects[("Service", "parcelwatch-metrics")]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "metrics"
    pod = objects[("StatefulSet", "parcelwatch")]["spec"]["template"]["metadata"]
    assert pod["annotations"]["prometheus.io/port"] == str(port["port"])


def test_pods_are_scraped_once_and_the_image_needs_no_registry():
    objects = _objects()
    pod = objects[("StatefulSet", "parcelwatch")]["spec"]["template"]
    scraped = [
        name
        for (kind, name), doc in objects.items()
        if doc["metadata"].get("annotations", {}).get("prometheus.io/scrape") == "true"
    ]
    assert scraped == []  # no Service: annotation discovery would scrape each pod again
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    (container,) = pod["spec"]["containers"]
    assert container["imagePullPolicy"] == "IfNotPresent"
