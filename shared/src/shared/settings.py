"""Fleet settings: defaults < config.toml < .env < environment variables.

Environment variables use `__` between section and key, e.g. `DATABASE__HOST`, `JWT__SECRET`,
`USERSERVICE__REST_PORT`. `CONFIG_FILE` points at another TOML file.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me-outside-development"
PLACEHOLDER_JWT_SECRETS = frozenset(
    {
        "",
        "change-me",
        "changeme",
        "secret",
        DEV_JWT_SECRET,
        "replace-with-a-long-random-secret-of-32-or-more-chars",
    }
)
MIN_JWT_SECRET_LENGTH = 32


class DatabaseSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: SecretStr = SecretStr("")
    pool_size: int = 10
    max_overflow: int = 20
    # Appended to every database name; lets a test run or a second fleet use its own databases.
    name_suffix: str = ""

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        """SQLAlchemy URL of one of the fleet's databases."""
        password = self.password.get_secret_value()
        credentials = f"{self.user}:{password}" if password else self.user
        return f"{driver}://{credentials}@{self.host}:{self.port}/{database}{self.name_suffix}"

    def dsn(self, database: str) -> str:
        """Plain libpq DSN (for asyncpg.connect, e.g. LISTEN connections)."""
        return self.url(database, driver="postgresql")


class RedisSettings(BaseModel):
    url: str = "redis://127.0.0.1:6379/0"
    socket_timeout: float = 2.0


class RabbitMQSettings(BaseModel):
    url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")


class ElasticsearchSettings(BaseModel):
    # Empty: search uses the embedded PostgreSQL full-text backend.
    url: str = ""
    index: str = "tweets"


class JWTSettings(BaseModel):
    secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    lifetime_seconds: int = Field(default=24 * 3600, gt=0)
    # Checked on every token: a token made for another system (or by it) with the same secret is refused.
    issuer: str = "fleet-users"
    audience: str = "fleet"


class JaegerSettings(BaseModel):
    # OTLP/gRPC endpoint, e.g. http://jaeger:4317. OTEL_EXPORTER_OTLP_ENDPOINT wins when set.
    otlp_endpoint: str = ""


class ServiceSettings(BaseModel):
    bind_host: str = "127.0.0.1"
    # Where the other processes reach this service.
    host: str = "127.0.0.1"
    rest_port: int
    grpc_port: int
    grpc_timeout_seconds: float = 2.0
    # Processes serving the same ports (SO_REUSEPORT): one per core the service should use. Their
    # background work stays single: each outbox relay runs in one process at a time (a lock).
    workers: int = Field(default=1, ge=1, le=64)

    @property
    def grpc_target(self) -> str:
        return f"{self.host}:{self.grpc_port}"


class UserServiceSettings(ServiceSettings):
    rest_port: int = 5000
    grpc_port: int = 50051
    database: str = "users"


class TweetServiceSettings(ServiceSettings):
    rest_port: int = 5001
    grpc_port: int = 50052
    database: str = "tweets"


class FeedServiceSettings(ServiceSettings):
    rest_port: int = 5002
    grpc_port: int = 50054
    # How long a hydrated tweet stays in the cache (`tweet:<id>`) at most: the staleness a lost
    # invalidation can cause (see shared.tweetcache).
    tweet_cache_ttl_seconds: float = Field(default=300.0, gt=0)


class SearchServiceSettings(ServiceSettings):
    rest_port: int = 5003
    grpc_port: int = 50053
    database: str = "search"


class WorkerSettings(BaseModel):
    prefetch: int = 32
    # One attempt at a message may take this long; past it the attempt is cancelled and retried
    # (a call stuck past its deadline must not stall the message forever).
    handler_timeout_seconds: float = 15.0
    max_attempts: int = 5
    retry_base_seconds: float = 0.2
    retry_max_seconds: float = 5.0


class FeedWorkerSettings(WorkerSettings):
    followers_page_size: int = 10_000
    redis_batch_size: int = 1_000
    backfill_limit: int = 200


class SearchWorkerSettings(WorkerSettings):
    batch_size: int = 500
    batch_linger_seconds: float = 0.005


class RateLimitSettings(BaseModel):
    enabled: bool = True
    # Login attempts per (identifier, client address): a third party elsewhere cannot lock the owner out.
    login_per_minute: int = Field(default=10, gt=0)
    # Login attempts per client address, whatever the identifier.
    login_address_per_minute: int = Field(default=30, gt=0)
    register_per_minute: int = Field(default=10, gt=0)
    writes_per_minute: int = Field(default=600, gt=0)
    search_per_minute: int = Field(default=300, gt=0)
    # Peers whose X-Forwarded-For is believed (addresses or CIDRs); none by default.
    trusted_proxies: list[str] = Field(default_factory=list)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="ignore",
    )

    environment: Literal["development", "test", "production"] = "production"
    log_level: str = "INFO"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    rabbitmq: RabbitMQSettings = Field(default_factory=RabbitMQSettings)
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    jwt: JWTSettings = Field(default_factory=JWTSettings)
    jaeger: JaegerSettings = Field(default_factory=JaegerSettings)
    ratelimit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    userservice: UserServiceSettings = Field(default_factory=UserServiceSettings)
    tweetservice: TweetServiceSettings = Field(default_factory=TweetServiceSettings)
    feedservice: FeedServiceSettings = Field(default_factory=FeedServiceSettings)
    searchservice: SearchServiceSettings = Field(default_factory=SearchServiceSettings)
    feedworker: FeedWorkerSettings = Field(default_factory=FeedWorkerSettings)
    searchworker: SearchWorkerSettings = Field(default_factory=SearchWorkerSettings)

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        secret = self.jwt.secret.get_secret_value()
        weak = secret in PLACEHOLDER_JWT_SECRETS or len(secret) < MIN_JWT_SECRET_LENGTH
        if weak and self.environment != "development":
            raise ValueError(
                f"JWT__SECRET is a placeholder or shorter than {MIN_JWT_SECRET_LENGTH} characters; "
                "set a real secret in the environment (ENVIRONMENT=development allows the placeholder)"
            )
        return self

    @property
    def otlp_endpoint(self) -> str:
        return os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or self.jaeger.otlp_endpoint

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_settings = InitSettingsSource(settings_cls, init_kwargs=_read_config_toml())
        # Earlier sources win: init > environment > .env > config.toml > defaults.
        return init_settings, env_settings, dotenv_settings, toml_settings


def _find_config_file() -> Path | None:
    explicit = os.environ.get("CONFIG_FILE")
    if explicit:
        return Path(explicit)
    for folder in (Path.cwd(), *Path.cwd().parents):
        candidate = folder / "config.toml"
        if candidate.is_file():
            return candidate
    return None


def _read_config_toml() -> dict[str, Any]:
    path = _find_config_file()
    if path is None:
        return {}
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    # config.toml uses the contract's section names ([Database], [UserService]); fields are lower case.
    return {key.lower(): value for key, value in raw.items()}


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
