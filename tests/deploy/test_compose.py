"""deploy/compose.yaml: valid for a compose tool (``podman-compose config``) and the production
shape: PostgreSQL, RabbitMQ with quorum queues, two bridge replicas on them, both simulators,
Prometheus scraping both replicas with the shipped alert rules; nothing on the host's service
ports but loopback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from services import unavailable

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"


def _podman_compose() -> list[str]:
    tool = Path(sys.executable).with_name("podman-compose")
    if not tool.exists():
        unavailable("podman-compose", "pip install -e '.[dev]'")
    if not shutil.which("podman"):
        unavailable("podman", "apt-get install podman")
    return [str(tool)]


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """The file as the compose tool resolves it (anchors, merges and variables applied)."""
    done = subprocess.run(
        [*_podman_compose(), "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    resolved: dict[str, Any] = yaml.safe_load(done.stdout)
    return resolved


def test_two_bridge_replicas_share_postgres_and_rabbitmq(config: dict[str, Any]) -> None:
    services = config["services"]
    replicas = [name for name in services if name.startswith("bridge-")]
    assert replicas == ["bridge-1", "bridge-2"]
    for name in replicas:
        environment = services[name]["environment"]
        assert environment["BRIDGE_DATABASE_URL"].startswith("postgresql://")
        assert "@postgres:5432/" in environment["BRIDGE_DATABASE_URL"]
        assert "@rabbitmq:5672/" in environment["BRIDGE_BROKER_URL"]
        assert environment["BRIDGE_TRESERVA_URL"] == "http://treserva:8081/fhir"
        assert set(services[name]["depends_on"]) == {"postgres", "rabbitmq"}
    assert (
        services["bridge-1"]["environment"]["BRIDGE_DATABASE_URL"]
        == (services["bridge-2"]["environment"]["BRIDGE_DATABASE_URL"])
    )


def test_rabbitmq_gets_the_shipped_configuration(config: dict[str, Any]) -> None:
    """Mounted into conf.d; quorum queues are the bridge's own declarations (x-queue-type),
    which scripts/compose_local.sh checks on a running broker."""
    mounts = config["services"]["rabbitmq"]["volumes"]
    [conf] = [str(m) for m in mounts if "rabbitmq.conf" in str(m)]
    assert conf.endswith(":/etc/rabbitmq/conf.d/90-bridge.conf:ro")


def test_simulators_send_through_both_replicas(config: dict[str, Any]) -> None:
    services = config["services"]
    targets = {services[name]["command"][3] for name in ("takecare-1", "takecare-2")}
    assert targets == {"bridge-1", "bridge-2"}
    assert services["treserva"]["entrypoint"] == ["python3", "-m", "treserva_sim"]


def test_prometheus_scrapes_both_replicas_with_the_alert_rules(config: dict[str, Any]) -> None:
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [job] = prometheus["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["bridge-1:8080", "bridge-2:8080"]
    mounted = " ".join(str(m) for m in config["services"]["prometheus"]["volumes"])
    assert "alerts.yml:/etc/prometheus/alerts.yml" in mounted
    assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]


def test_published_ports_are_loopback_only_and_leave_the_databases_alone(
    config: dict[str, Any],
) -> None:
    for name, service in config["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert "ports" not in config["services"]["postgres"]
    assert "ports" not in config["services"]["rabbitmq"]


def test_alert_rules_load_in_prometheus() -> None:
    promtool = shutil.which("promtool")
    if not promtool:
        unavailable("promtool", "apt-get install prometheus (Debian ships promtool with it)")
    done = subprocess.run(
        [promtool, "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
