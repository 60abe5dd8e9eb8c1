"""No environment starts with a guessable secret, and `make run` needs no set-up step for them:
scripts/ensure-dotenv.py generates each missing one into the git-ignored `.env`, once."""

from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ensure-dotenv.py"
SECRETS = ("JWT__SECRET", "INTERNAL__SERVICE_TOKEN")
ENVIRONMENTS = ("development", "test", "production")


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No secret from the developer's environment, .env or config: only what a test sets."""
    for key in list(os.environ):
        if "__" in key or key in {"ENVIRONMENT", "CONFIG_FILE"}:
            monkeypatch.delenv(key)
    monkeypatch.setenv("CONFIG_FILE", str(ROOT / "config.toml"))
    monkeypatch.chdir(tmp_path)


def _settings(environment: str, **secret_values: str) -> Settings:
    env = {"jwt__secret": secrets.token_urlsafe(48), "internal__service_token": secrets.token_urlsafe(48)}
    env.update({key.lower(): value for key, value in secret_values.items()})
    return Settings(_env_file=None, environment=environment, **_nested(env))  # type: ignore[arg-type]


def _nested(flat: dict[str, str]) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    for key, value in flat.items():
        section, field = key.split("__")
        result.setdefault(section, {})[field] = value
    return result


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("name", SECRETS)
@pytest.mark.parametrize(
    "weak",
    [
        "",
        "x" * 64,  # long, but one character
        "changeme" * 8,  # long, but a word repeated
        "short-but-random-" + secrets.token_hex(6),  # 29 bytes
    ],
)
def test_every_environment_refuses_a_missing_or_weak_secret(environment: str, name: str, weak: str) -> None:
    with pytest.raises(ValidationError, match=name):
        _settings(environment, **{name: weak})


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_no_secret_has_a_default(environment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set nowhere (not in config.toml, not in the environment): refused, naming the variable."""
    monkeypatch.setenv("ENVIRONMENT", environment)
    with pytest.raises(ValidationError, match="JWT__SECRET"):
        Settings(_env_file=None)
    monkeypatch.setenv("JWT__SECRET", secrets.token_urlsafe(48))
    with pytest.raises(ValidationError, match="INTERNAL__SERVICE_TOKEN"):
        Settings(_env_file=None)
    monkeypatch.setenv("INTERNAL__SERVICE_TOKEN", secrets.token_urlsafe(48))
    assert Settings(_env_file=None).environment == environment


@pytest.mark.usefixtures("clean_environment")
def test_the_service_token_is_not_the_jwt_secret() -> None:
    shared = secrets.token_urlsafe(48)
    with pytest.raises(ValidationError, match="INTERNAL__SERVICE_TOKEN must differ"):
        _settings("production", JWT__SECRET=shared, INTERNAL__SERVICE_TOKEN=shared)


@pytest.mark.usefixtures("clean_environment")
def test_the_default_environment_is_production() -> None:
    assert _settings_without_environment().environment == "production"


def _settings_without_environment() -> Settings:
    jwt = {"secret": secrets.token_urlsafe(48)}
    internal = {"service_token": secrets.token_urlsafe(48)}
    return Settings(_env_file=None, jwt=jwt, internal=internal)


def test_no_source_file_holds_a_placeholder_secret() -> None:
    """The old development default and its family are gone from everything that ships."""
    shipped = subprocess.run(
        ["git", "ls-files", "*.py", "*.toml", "*.yml", "*.example", "*.md", "Dockerfile", "Makefile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    placeholder = re.compile(r"dev-only-insecure|DEV_JWT_SECRET|replace-with-a-long-random|change-me-outside")
    offenders = [
        path
        for path in shipped
        if path != "tests/deploy/test_secrets.py" and placeholder.search((ROOT / path).read_text())
    ]
    assert not offenders


def _ensure(path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if key not in SECRETS}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--path", str(path), *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )


def _read(path: Path) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in path.read_text().splitlines() if "=" in line]
    return {name: value for name, value in pairs}


def test_ensure_dotenv_generates_each_secret_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = tmp_path / ".env"
    _ensure(dotenv)
    first = _read(dotenv)
    assert set(first) == set(SECRETS) and first["JWT__SECRET"] != first["INTERNAL__SERVICE_TOKEN"]
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600, "secrets readable by other users"
    _ensure(dotenv)
    assert _read(dotenv) == first, "a second `make run` must keep the tokens already issued"
    # The fleet accepts what it wrote, from .env alone.
    for key in list(os.environ):
        if "__" in key or key == "ENVIRONMENT":
            monkeypatch.delenv(key)
    monkeypatch.setenv("CONFIG_FILE", str(ROOT / "config.toml"))
    monkeypatch.chdir(tmp_path)
    loaded = Settings()
    assert loaded.jwt.secret.get_secret_value() == first["JWT__SECRET"]
    assert loaded.internal.service_token.get_secret_value() == first["INTERNAL__SERVICE_TOKEN"]


def test_ensure_dotenv_keeps_what_is_set_and_fills_what_is_empty(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# mine\nLOG_LEVEL=DEBUG\nJWT__SECRET=\ninternal__service_token=kept-as-is\n")
    _ensure(dotenv)
    values = _read(dotenv)
    assert values["LOG_LEVEL"] == "DEBUG" and values["internal__service_token"] == "kept-as-is"
    assert len(values["JWT__SECRET"]) >= 32
    assert dotenv.read_text().startswith("# mine\n") and "INTERNAL__SERVICE_TOKEN" not in values


def test_ensure_dotenv_leaves_a_secret_of_the_environment_alone(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    _ensure(dotenv, env={"JWT__SECRET": secrets.token_urlsafe(48)})
    assert set(_read(dotenv)) == {"INTERNAL__SERVICE_TOKEN"}


def test_ensure_dotenv_compose_adds_the_infrastructure_credentials(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    _ensure(dotenv, "--compose")
    values = _read(dotenv)
    assert set(values) == {
        *SECRETS,
        "POSTGRES_PASSWORD",
        "RABBITMQ_DEFAULT_USER",
        "RABBITMQ_DEFAULT_PASS",
        "GRAFANA_ADMIN_PASSWORD",
    }
    assert values["RABBITMQ_DEFAULT_USER"] != "guest" and all(values.values())


def test_make_run_generates_the_secrets_before_starting_the_fleet() -> None:
    run = re.search(r"^run:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert run is not None
    recipe = run.group(1).splitlines()
    assert "ensure-dotenv.py" in recipe[0] and ".fleet" in recipe[-1], "secrets first, then the fleet"


def test_a_process_without_a_good_secret_exits_naming_it_and_printing_no_value(tmp_path: Path) -> None:
    weak, password = "weak-visible-secret", secrets.token_hex(8)
    env = {key: value for key, value in os.environ.items() if "__" not in key and key != "ENVIRONMENT"}
    env.update(
        JWT__SECRET=weak,
        RABBITMQ__URL=f"amqp://fleet:{password}@127.0.0.1:5672/",
        CONFIG_FILE=str(ROOT / "config.toml"),
    )
    started = subprocess.run(
        [sys.executable, "-c", "from shared.cli import load_settings_or_exit; load_settings_or_exit()"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert started.returncode == 2
    assert "JWT__SECRET must be at least 32 random bytes" in started.stderr
    assert weak not in started.stderr and password not in started.stderr
    # pydantic's full text echoes (a truncated repr of) the input: which values show is luck.
    assert "input_value" not in started.stderr
