"""deploy/k8s against the Kubernetes API schemas and against the code it runs, without a cluster.

Every manifest validates (strictly: an unknown field is an error, not silently dropped) against the
schemas of a pinned Kubernetes version shipped by `kubernetes-validate`. Every process of the fleet
has a Deployment and a disruption budget; every environment variable is a setting the fleet reads
(pydantic-settings ignores unknown names) and every secret comes by reference; every port, probe
path and gRPC probe is one the process serves; every command is a script of the image's package.
Processes of another area not in this tree yet (notifications) are skipped until it is.
"""

from __future__ import annotations

import copy
import importlib
import secrets
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from devtools.fixtures import container_settings, known_setting
from shared.settings import ServiceSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"
KUSTOMIZATION = yaml.safe_load((K8S / "kustomization.yaml").read_text())
MANIFEST_FILES = sorted(path for path in K8S.glob("*.yaml") if path.name != "kustomization.yaml")
DOCUMENTS = [doc for path in MANIFEST_FILES for doc in yaml.safe_load_all(path.read_text()) if doc]
DEPLOYMENTS = {doc["metadata"]["name"]: doc for doc in DOCUMENTS if doc["kind"] == "Deployment"}
# process -> (settings section, package folder); the REST/gRPC services have a section.
PROCESSES = {
    "users": ("userservice", "users"),
    "tweets": ("tweetservice", "tweets"),
    "feed": ("feedservice", "feed"),
    "search": ("searchservice", "search"),
    "notifications": ("notificationservice", "notifications"),
    "feed-worker": (None, "feed_worker"),
    "search-worker": (None, "search_worker"),
    "notification-worker": (None, "notification_worker"),
}
SECRET_KEYS = {"JWT__SECRET", "INTERNAL__SERVICE_TOKEN", "DATABASE__PASSWORD", "RABBITMQ__URL"}
FAKE_SECRETS = {name: secrets.token_urlsafe(48) for name in SECRET_KEYS}
FAKE_SECRETS["RABBITMQ__URL"] = "amqp://fleet:pw@fleet-rabbitmq:5672/"


def _present(process: str) -> None:
    folder = ROOT / PROCESSES[process][1]
    if not folder.is_dir():
        pytest.skip(f"{process}: its package ({folder.name}/) is not in this tree yet")


def _container(process: str) -> dict[str, Any]:
    (container,) = DEPLOYMENTS[process]["spec"]["template"]["spec"]["containers"]
    return container


def _fleet_env() -> dict[str, str]:
    lines = (K8S / "fleet.env").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#")]
    return {name.strip(): value.strip() for name, value in pairs}


def _environment(process: str) -> dict[str, str]:
    """What the container's environment holds: the fleet-env ConfigMap, then its own entries (a
    secret reference stands for a generated value)."""
    environment = _fleet_env()
    for entry in _container(process).get("env", []):
        environment[entry["name"]] = entry.get("value", FAKE_SECRETS.get(entry["name"], ""))
    return environment


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda path: path.name)
def test_every_manifest_is_valid_for_the_pinned_kubernetes_version(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        if document:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_validation_refuses_an_unknown_field() -> None:
    broken = copy.deepcopy(DEPLOYMENTS["feed"])
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_names_every_manifest_and_the_config() -> None:
    assert sorted(KUSTOMIZATION["resources"]) == sorted(path.name for path in MANIFEST_FILES)
    generated = {item["name"]: item for item in KUSTOMIZATION["configMapGenerator"]}
    assert generated["fleet-config"]["files"] == ["config.toml=../../config.toml"]
    assert (K8S / "../../config.toml").resolve() == ROOT / "config.toml"
    assert generated["fleet-env"]["envs"] == ["fleet.env"]
    assert set(DEPLOYMENTS) == set(PROCESSES), "a Deployment per process"


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_each_process_has_a_disruption_budget_resources_and_its_packages_image(process: str) -> None:
    _present(process)
    budgets = [
        doc
        for doc in DOCUMENTS
        if doc["kind"] == "PodDisruptionBudget" and doc["metadata"]["name"] == process
    ]
    assert len(budgets) == 1
    labels = DEPLOYMENTS[process]["spec"]["template"]["metadata"]["labels"]
    assert budgets[0]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    container = _container(process)
    assert {"requests", "limits"} <= set(container["resources"])
    folder = PROCESSES[process][1]
    project = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]
    assert container["image"] == f"fleet-{project['name']}", "the image built with PACKAGE=<distribution>"
    assert container["command"][0] in project["scripts"]
    # The image's CONFIG_FILE is where the ConfigMap is mounted.
    mounts = {mount["name"]: mount for mount in container["volumeMounts"]}
    assert mounts["config"]["mountPath"] == "/app/config.toml"
    assert "CONFIG_FILE=/app/config.toml" in (ROOT / "Dockerfile").read_text()


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_every_variable_is_a_setting_and_every_secret_a_reference(
    process: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _present(process)
    environment = _environment(process)
    unknown = [key for key in environment if not known_setting(Settings, key.split("__"))]
    assert not unknown, f"{process}: not settings (a typo is silently ignored): {unknown}"
    references = {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for entry in _container(process)["env"]
        if "valueFrom" in entry
    }
    assert set(references) == SECRET_KEYS
    assert all(reference["name"] == "fleet-secrets" for reference in references.values())
    assert not SECRET_KEYS & set(_fleet_env()), "no secret in the ConfigMap"
    settings = container_settings(environment, monkeypatch)
    assert settings.environment == "production"
    assert settings.redis.cluster and settings.rabbitmq.queue_type == "quorum"


@pytest.mark.parametrize("process", sorted(p for p, (section, _) in PROCESSES.items() if section))
def test_ports_and_probes_are_the_ones_the_service_serves(
    process: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _present(process)
    section_name, folder = PROCESSES[process]
    settings = container_settings(_environment(process), monkeypatch)
    section: ServiceSettings = getattr(settings, str(section_name))
    container = _container(process)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": section.rest_port, "grpc": section.grpc_port}
    assert section.bind_host == "0.0.0.0" and section.host == process, "other pods could not reach it"
    assert container["startupProbe"]["grpc"]["port"] == section.grpc_port
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    app = importlib.import_module(f"{folder}.main").SPEC.create_app(settings)
    paths = {getattr(route, "path", "") for route in app.routes}
    assert {"/ready", "/health"} <= paths
    (service,) = [doc for doc in DOCUMENTS if doc["kind"] == "Service" and doc["metadata"]["name"] == process]
    assert service["spec"]["type"] == "ClusterIP"
    assert {(port["port"], port["targetPort"]) for port in service["spec"]["ports"]} == {
        (section.rest_port, "http"),
        (section.grpc_port, "grpc"),
    }
    # Every other process reaches it at the Service's name and port.
    for other in DEPLOYMENTS:
        if (ROOT / PROCESSES[other][1]).is_dir():
            other_settings = container_settings(_environment(other), monkeypatch)
            assert getattr(other_settings, str(section_name)).grpc_target == f"{process}:{section.grpc_port}"


def test_feed_and_tweets_scale_on_cpu_and_leave_the_replica_count_to_it() -> None:
    autoscalers = {
        doc["metadata"]["name"]: doc for doc in DOCUMENTS if doc["kind"] == "HorizontalPodAutoscaler"
    }
    assert set(autoscalers) == {"feed", "tweets"}
    for name, autoscaler in autoscalers.items():
        assert autoscaler["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert autoscaler["spec"]["minReplicas"] >= 2
        assert "replicas" not in DEPLOYMENTS[name]["spec"], "a re-apply would reset what the autoscaler chose"
    for name, deployment in DEPLOYMENTS.items():
        if name not in autoscalers:
            assert deployment["spec"]["replicas"] >= 2, f"{name}: one replica is an outage per rollout"
