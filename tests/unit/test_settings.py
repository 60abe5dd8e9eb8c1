"""Settings sources and their order (defaults < config.toml < .env < environment), and the way
back to environment variables for child processes."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from shared.settings import Settings, to_environment


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No setting from the surrounding environment; a test secret made now; cwd without a .env."""
    for key in list(os.environ):
        if "__" in key or key.upper() in {"ENVIRONMENT", "LOG_LEVEL", "CONFIG_FILE"}:
            monkeypatch.delenv(key)
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("JWT__SECRET", secrets.token_urlsafe(48))
    monkeypatch.setenv("INTERNAL__SERVICE_TOKEN", secrets.token_urlsafe(48))
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_precedence_is_defaults_then_config_file_then_dotenv_then_environment(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(
        'log_level = "DEBUG"\n'
        '[Database]\nhost = "toml-host"\nport = 1111\nuser = "toml-user"\n'
        "[UserService]\nrest_port = 7000\n"
        "[RateLimit]\nenabled = false\n"
    )
    (tmp_path / ".env").write_text(
        "DATABASE__PORT=2222\nDATABASE__USER=dotenv-user\nUSERSERVICE__GRPC_PORT=7001\n"
    )
    clean_env.setenv("CONFIG_FILE", str(config))
    clean_env.setenv("DATABASE__USER", "env-user")

    settings = Settings()

    assert settings.database.pool_size == 10  # default
    assert settings.log_level == "DEBUG" and settings.database.host == "toml-host"  # config file
    assert settings.userservice.rest_port == 7000 and settings.ratelimit.enabled is False
    assert settings.database.port == 2222 and settings.userservice.grpc_port == 7001  # .env over the file
    assert settings.database.user == "env-user"  # the environment over .env


def test_a_missing_config_file_is_an_error_not_silence(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(FileNotFoundError):
        Settings()


def test_to_environment_names_every_field_and_reads_back_as_the_same_settings(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text('[Database]\nhost = "db.internal"\n[FeedWorker]\nretry_base_seconds = 0.05\n')
    clean_env.setenv("CONFIG_FILE", str(config))
    clean_env.setenv("DATABASE__PASSWORD", secrets.token_urlsafe(16))
    original = Settings()

    env = to_environment(original)

    assert env["DATABASE__PASSWORD"] == original.database.password.get_secret_value()  # unwrapped
    assert env["JWT__SECRET"] == original.jwt.secret.get_secret_value()
    assert env["RATELIMIT__ENABLED"] == "true" and env["ENVIRONMENT"] == "test"
    assert env["FEEDWORKER__RETRY_BASE_SECONDS"] == "0.05" and env["SEARCHWORKER__BATCH_SIZE"] == "500"
    # A child with only these variables (another working directory, no config file) reads the same.
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    for key, value in {**env, "CONFIG_FILE": str(empty)}.items():
        clean_env.setenv(key, value)
    assert Settings() == original
