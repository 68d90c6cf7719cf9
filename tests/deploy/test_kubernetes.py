"""deploy/kubernetes, rendered as Kustomize would (its resources plus the generated Prometheus
ConfigMap), validated against the Kubernetes 1.30 JSON schemas (kubernetes-validate ships them:
no network), and checked for the shape the bridge needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"


def rendered() -> list[dict[str, Any]]:
    """The base's manifests, with the namespace, labels and images Kustomize would set."""
    kustomization = yaml.safe_load((KUSTOMIZE / "kustomization.yaml").read_text())
    documents: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        text = (KUSTOMIZE / resource).read_text()
        documents += [doc for doc in yaml.safe_load_all(text) if doc]
    for generator in kustomization.get("configMapGenerator", []):
        data = {}
        for entry in generator["files"]:
            key, _, path = entry.partition("=")
            data[key] = (KUSTOMIZE / path).read_text()
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": generator["name"]},
                "data": data,
            }
        )
    images = {i["name"]: f"{i['newName']}:{i['newTag']}" for i in kustomization["images"]}
    for document in documents:
        if document["kind"] != "Namespace":
            document["metadata"]["namespace"] = kustomization["namespace"]
        for container in _containers(document):
            container["image"] = images.get(container["image"], container["image"])
    return documents


def _containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document.get("spec", {}).get("template", {}).get("spec", {})
    containers: list[dict[str, Any]] = spec.get("containers", [])
    return containers


def _named(kind: str, name: str) -> dict[str, Any]:
    [found] = [d for d in rendered() if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize(
    "document", rendered(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_every_manifest_matches_the_kubernetes_schema(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_two_unprivileged_bridge_replicas_probe_health_and_readiness() -> None:
    bridge = _named("Deployment", "bridge")
    assert bridge["spec"]["replicas"] >= 2
    pod = bridge["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user
    [container] = pod["containers"]
    assert container["image"] == "bridge:local"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert _named("PodDisruptionBudget", "bridge")["spec"]["minAvailable"] == 1


def test_bridge_settings_point_at_postgres_rabbitmq_and_the_receiver() -> None:
    settings = _named("ConfigMap", "bridge-settings")["data"]
    secrets = _named("Secret", "bridge-secrets")["stringData"]
    assert secrets["BRIDGE_DATABASE_URL"].startswith("postgresql://")
    assert secrets["BRIDGE_BROKER_URL"].startswith("amqp://")
    assert "@postgres:5432/" in secrets["BRIDGE_DATABASE_URL"]
    assert "@rabbitmq:5672/" in secrets["BRIDGE_BROKER_URL"]
    assert settings["BRIDGE_TRESERVA_URL"] == "http://treserva-sim:8081/fhir"


def test_prometheus_gets_the_shipped_alert_rules() -> None:
    data = _named("ConfigMap", "prometheus-config")["data"]
    shipped = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    assert data["alerts.yml"] == shipped
    config = yaml.safe_load(data["prometheus.yml"])
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
