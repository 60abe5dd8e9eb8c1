"""docker-compose.yml, .env.example and the Dockerfile against the code they configure, without a
Docker engine: every setting they name is one the fleet reads (pydantic-settings ignores unknown
names, so a typo would be silently lost), the ports compose publishes and probes are the ones each
service listens on, and every command and dependency exists. And the deployment rules: only the
REST APIs are published beyond loopback (no gRPC port, no admin UI), every secret and credential
comes from .env by a required reference (no default, no guest account), .env.example holds no
secret value, and the image runs in production unless told otherwise. `make compose-check`
validates the compose file's syntax where Docker is installed."""

from __future__ import annotations

import re
import secrets
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.fixtures import container_settings, known_setting
from shared.settings import ServiceSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]
# The fleet's own processes: the services built from the Dockerfile.
FLEET = {name: spec for name, spec in SERVICES.items() if "build" in spec}
# Read by something other than Settings: the health probe's port, and OpenTelemetry's own variable.
NOT_SETTINGS = {"PORT", "OTEL_EXPORTER_OTLP_ENDPOINT", "CONFIG_FILE"}
# Read by docker-compose.yml only (the infrastructure containers' credentials), listed in .env.example.
COMPOSE_ONLY = {
    "POSTGRES_PASSWORD",
    "RABBITMQ_DEFAULT_USER",
    "RABBITMQ_DEFAULT_PASS",
    "GRAFANA_ADMIN_PASSWORD",
}
SECTION_OF = {
    "users": "userservice",
    "tweets": "tweetservice",
    "feed": "feedservice",
    "search": "searchservice",
}
# ${NAME:-default} and ${NAME:?error}, as compose interpolates them.
_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")
# The secrets an operator sets in .env (scripts/ensure-dotenv.py --compose generates them): compose
# refers to each as ${NAME:?...}, so it refuses to start without them.
REQUIRED = {
    "JWT__SECRET": secrets.token_urlsafe(48),
    "INTERNAL__SERVICE_TOKEN": secrets.token_urlsafe(48),
    "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
    "RABBITMQ_DEFAULT_USER": "fleet",
    "RABBITMQ_DEFAULT_PASS": secrets.token_urlsafe(24),
    "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(24),
}
# A name like these is a secret or carries a credential: it must never have a default.
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|_PASS$|^RABBITMQ_DEFAULT_USER$|^RABBITMQ__URL$")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _interpolate(value: object) -> str:
    def one(match: re.Match[str]) -> str:
        name, kind, default = match.groups()
        if name in REQUIRED:
            assert kind == "?", f"${{{name}}} must be required (${{{name}:?...}}), with no default"
            return REQUIRED[name]
        assert kind == "-", f"${{{name}}} has no default and is not documented as required"
        return default

    return _VARIABLE.sub(one, str(value))


def _environment(service: str) -> dict[str, str]:
    return {key: _interpolate(value) for key, value in FLEET[service]["environment"].items()}


@pytest.mark.parametrize("service", sorted(FLEET))
def test_every_variable_compose_passes_is_a_setting_the_fleet_reads(service: str) -> None:
    unknown = [
        key
        for key in _environment(service)
        if key not in NOT_SETTINGS and not known_setting(Settings, key.split("__"))
    ]
    assert not unknown, f"{service}: not a setting (a typo is silently ignored): {unknown}"


def _env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if "=" in line and not line.startswith("#")]
    return {name: value for name, value in pairs}


def test_every_variable_of_env_example_is_a_setting_the_fleet_reads() -> None:
    names = list(_env_example())
    assert len(names) > 40
    unknown = [
        name
        for name in names
        if name not in NOT_SETTINGS | COMPOSE_ONLY and not known_setting(Settings, name.split("__"))
    ]
    assert not unknown, f"not settings: {unknown}"


def test_env_example_names_every_secret_and_holds_no_value_for_any() -> None:
    example = _env_example()
    assert set(REQUIRED) <= set(example), "every secret compose requires is documented"
    valued = {name: value for name, value in example.items() if _SECRET_NAME.search(name) and value}
    assert not valued, f"secret values in .env.example: {valued}"
    credentials = [value for value in example.values() if re.search(r"://[^/\s:@]+:[^@\s]+@", value)]
    assert not credentials, f"credentials in a URL of .env.example: {credentials}"


@pytest.mark.parametrize("service", sorted(FLEET))
def test_the_container_settings_load_in_production(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = container_settings(_environment(service), monkeypatch)
    assert settings.environment == "production"
    assert settings.jwt.secret.get_secret_value() == REQUIRED["JWT__SECRET"]
    assert settings.internal.service_token.get_secret_value() == REQUIRED["INTERNAL__SERVICE_TOKEN"]
    amqp = settings.rabbitmq.url.get_secret_value()
    assert amqp.startswith(f"amqp://fleet:{REQUIRED['RABBITMQ_DEFAULT_PASS']}@rabbitmq:")
    assert settings.database.password.get_secret_value() == REQUIRED["POSTGRES_PASSWORD"]
    assert settings.otlp_endpoint == "http://jaeger:4317"
    assert settings.elasticsearch.url == "http://elasticsearch:9200"
    assert settings.database.host == "postgres" and settings.redis.url.startswith("redis://redis:")


@pytest.mark.parametrize("service", sorted(SECTION_OF))
def test_published_and_probed_ports_are_the_ones_the_service_listens_on(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = _environment(service)
    section: ServiceSettings = getattr(container_settings(environment, monkeypatch), SECTION_OF[service])
    published = {container for _, container in _published(FLEET[service])}
    assert published == {str(section.rest_port)}, "only the REST API is published"
    assert {str(port) for port in FLEET[service].get("expose", [])} == {str(section.grpc_port)}
    assert environment["PORT"] == str(section.rest_port), "the health probe would ask the wrong port"
    assert section.bind_host == "0.0.0.0" and section.host == service, "other containers could not reach it"
    # Every other container reaches this one at the same address.
    for other in FLEET:
        target = getattr(
            container_settings(_environment(other), monkeypatch), SECTION_OF[service]
        ).grpc_target
        assert target == f"{service}:{section.grpc_port}", other


@pytest.mark.parametrize("service", sorted(FLEET))
def test_each_command_is_a_script_of_the_package_its_image_installs(service: str) -> None:
    spec = FLEET[service]
    package = spec["build"]["args"]["PACKAGE"]
    folder = ROOT / package.replace("-", "_")
    scripts = tomllib.loads((folder / "pyproject.toml").read_text())["project"]["scripts"]
    assert spec["command"][0] in scripts, f"{service}: {spec['command'][0]} is not a script of {package}"


def test_dependencies_exist_and_wait_for_health() -> None:
    for name, spec in SERVICES.items():
        for dependency, condition in spec.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on an undefined service {dependency}"
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
            assert "healthcheck" in SERVICES[dependency], f"{dependency} has no healthcheck to wait for"


def _published(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(host address, container port) of each published port; "" is every interface."""
    result = []
    for mapping in spec.get("ports", []):
        if isinstance(mapping, dict):
            result.append((str(mapping.get("host_ip", "")), str(mapping["target"])))
            continue
        parts = str(mapping).split("/")[0].rsplit(":", 2)
        host = parts[0] if len(parts) == 3 else ""
        result.append((host.strip("[]"), parts[-1]))
    return result


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_nothing_but_a_rest_api_is_published_beyond_loopback(service: str) -> None:
    """gRPC ports, databases, brokers and admin UIs (RabbitMQ management, Jaeger UI and OTLP) are
    reachable from this machine at most; only the public REST APIs listen on every interface."""
    rest_port = {
        "users": "5000",
        "tweets": "5001",
        "feed": "5002",
        "search": "5003",
        "notifications": "5004",
    }.get(service)
    for host, container in _published(SERVICES[service]):
        if host not in LOOPBACK:
            assert container == rest_port, f"{service} publishes {container} on every interface"


def test_no_grpc_port_is_published_at_all() -> None:
    grpc_ports = {"50051", "50052", "50053", "50054"}
    for name, spec in SERVICES.items():
        published = {container for _, container in _published(spec)}
        assert not published & grpc_ports, f"{name} publishes gRPC {published & grpc_ports}"


def test_every_secret_is_a_required_reference_to_env() -> None:
    """No credential is written into the file or has a default: each is ${NAME:?...} from .env."""
    for name, spec in SERVICES.items():
        for key, value in dict(spec.get("environment") or {}).items():
            if not _SECRET_NAME.search(key):
                continue
            references = _VARIABLE.findall(str(value))
            assert references, f"{name}: {key} is written into the file"
            for variable, kind, _ in references:
                assert variable in REQUIRED and kind == "?", f"{name}: {key} -> ${{{variable}}} has a default"
            if "://" in str(value):  # a URL: its credentials are references, the rest is an address
                credentials = str(value).split("://", 1)[1].rsplit("@", 1)[0]
                assert "@" in str(value) and _VARIABLE.sub("", credentials) == ":", f"{name}: {key}"


def test_no_default_account_anywhere() -> None:
    assert "guest" not in COMPOSE_TEXT.lower(), "RabbitMQ's guest account"
    rabbitmq = SERVICES["rabbitmq"]["environment"]
    for key in ("RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"):
        assert rabbitmq[key].startswith(f"${{{key}:?"), f"rabbitmq {key} is not required from .env"


def test_the_image_runs_in_production_unless_told_otherwise() -> None:
    environment: dict[str, str] = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                key, _, value = pair.partition("=")
                environment[key] = value
    assert environment.get("ENVIRONMENT") == "production"
    assert not {key for key in environment if _SECRET_NAME.search(key)}, "a secret baked into the image"
