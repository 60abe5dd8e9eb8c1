"""docker-compose.yml and .env.example against the code they configure, without a Docker engine:
every setting they name is one the fleet reads (pydantic-settings ignores unknown names, so a typo
would be silently lost), the ports compose publishes and probes are the ones each service listens
on, and every command and dependency exists. `make compose-check` validates the compose file's
syntax where Docker is installed."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from shared.settings import ServiceSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
# The fleet's own processes: the services built from the Dockerfile.
FLEET = {name: spec for name, spec in SERVICES.items() if "build" in spec}
# Read by something other than Settings: the health probe's port, and OpenTelemetry's own variable.
NOT_SETTINGS = {"PORT", "OTEL_EXPORTER_OTLP_ENDPOINT", "CONFIG_FILE"}
SECTION_OF = {
    "users": "userservice",
    "tweets": "tweetservice",
    "feed": "feedservice",
    "search": "searchservice",
}
# ${NAME:-default} and ${NAME:?error}, as compose interpolates them.
_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")
JWT_SECRET = "a-real-secret-of-forty-characters-0123456789"


def _interpolate(value: object) -> str:
    def one(match: re.Match[str]) -> str:
        name, kind, default = match.groups()
        if name == "JWT__SECRET":
            return JWT_SECRET  # required (`:?`): an operator sets it in .env
        assert kind == "-", f"${{{name}}} has no default and is not documented as required"
        return default

    return _VARIABLE.sub(one, str(value))


def _environment(service: str) -> dict[str, str]:
    return {key: _interpolate(value) for key, value in FLEET[service]["environment"].items()}


def _settings(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as the container builds them: config.toml (CONFIG_FILE in the Dockerfile), then the
    environment, and no .env file (compose passes it as environment)."""
    for key in list(os.environ):
        if "__" in key or key in {"ENVIRONMENT", "LOG_LEVEL", "CONFIG_FILE"}:
            monkeypatch.delenv(key)
    monkeypatch.setenv("CONFIG_FILE", str(ROOT / "config.toml"))
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


def _known(model: type[BaseModel], path: list[str]) -> bool:
    field = model.model_fields.get(path[0].lower())
    if field is None:
        return False
    if len(path) == 1:
        return True
    annotation = field.annotation
    return isinstance(annotation, type) and issubclass(annotation, BaseModel) and _known(annotation, path[1:])


@pytest.mark.parametrize("service", sorted(FLEET))
def test_every_variable_compose_passes_is_a_setting_the_fleet_reads(service: str) -> None:
    unknown = [
        key
        for key in _environment(service)
        if key not in NOT_SETTINGS and not _known(Settings, key.split("__"))
    ]
    assert not unknown, f"{service}: not a setting (a typo is silently ignored): {unknown}"


def test_every_variable_of_env_example_is_a_setting_the_fleet_reads() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    names = [line.split("=", 1)[0] for line in lines if "=" in line and not line.startswith("#")]
    assert len(names) > 40
    unknown = [name for name in names if name not in NOT_SETTINGS and not _known(Settings, name.split("__"))]
    assert not unknown, f"not settings: {unknown}"


@pytest.mark.parametrize("service", sorted(FLEET))
def test_the_container_settings_load_in_production(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(_environment(service), monkeypatch)
    assert settings.environment == "production"
    assert settings.jwt.secret.get_secret_value() == JWT_SECRET
    assert settings.otlp_endpoint == "http://jaeger:4317"
    assert settings.elasticsearch.url == "http://elasticsearch:9200"
    assert settings.database.host == "postgres" and settings.redis.url.startswith("redis://redis:")


@pytest.mark.parametrize("service", sorted(SECTION_OF))
def test_published_and_probed_ports_are_the_ones_the_service_listens_on(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = _environment(service)
    section: ServiceSettings = getattr(_settings(environment, monkeypatch), SECTION_OF[service])
    published = {mapping.split(":")[-1] for mapping in FLEET[service]["ports"]}
    assert published == {str(section.rest_port), str(section.grpc_port)}
    assert environment["PORT"] == str(section.rest_port), "the health probe would ask the wrong port"
    assert section.bind_host == "0.0.0.0" and section.host == service, "other containers could not reach it"
    # Every other container reaches this one at the same address.
    for other in FLEET:
        target = getattr(_settings(_environment(other), monkeypatch), SECTION_OF[service]).grpc_target
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
