"""Fleet settings: defaults < config.toml < .env < environment variables.

Environment variables use `__` between section and key, e.g. `DATABASE__HOST`, `JWT__SECRET`,
`USERSERVICE__REST_PORT`. `CONFIG_FILE` points at another TOML file. Every source is one of
pydantic-settings' own; `to_environment` is the way back, for child processes.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# Secrets have no default: each must be set (JWT__SECRET, INTERNAL__SERVICE_TOKEN) with at least this
# many bytes, and look random (a run of one character or a word repeated is refused).
MIN_SECRET_BYTES = 32
MIN_SECRET_DISTINCT_CHARACTERS = 10


class DatabaseSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: SecretStr = SecretStr("")
    pool_size: int = 10
    max_overflow: int = 20
    # How long a request waits for a free pooled connection before it is shed as overloaded (503
    # "overloaded" with Retry-After), rather than queueing without bound.
    pool_timeout_seconds: float = Field(default=1.0, gt=0)
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
    # With `cluster`, any one node of a Redis Cluster (the others are discovered; database 0 only).
    url: str = "redis://127.0.0.1:6379/0"
    cluster: bool = False
    socket_timeout: float = 2.0
    # Connections per process; a request waits at most pool_timeout_seconds for one, then is shed
    # as overloaded (a full pool is not Redis being down).
    max_connections: int = Field(default=100, ge=1)
    pool_timeout_seconds: float = Field(default=0.5, gt=0)


class RabbitMQSettings(BaseModel):
    url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    # "quorum": every queue and dead-letter queue is a replicated quorum queue (a RabbitMQ cluster).
    # Every process of a fleet must agree: RabbitMQ refuses to redeclare a queue as another type.
    queue_type: Literal["classic", "quorum"] = "classic"


class ElasticsearchSettings(BaseModel):
    # Empty: search uses the embedded PostgreSQL full-text backend.
    url: str = ""
    index: str = "tweets"


class HttpSettings(BaseModel):
    """Bounds of every REST request and connection, per process (shared.http.limits)."""

    # A body over this is answered 413 before it is parsed (announced or streamed).
    max_body_bytes: int = Field(default=64 * 1024, ge=1)
    # A connection that does not finish a request's headers, or then its body, in this long is
    # answered 408 and closed (slow clients cannot hold connections open).
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=10.0, gt=0)
    # Open connections or in-flight requests beyond this are answered 503 "overloaded".
    max_concurrency: int = Field(default=1000, ge=1)
    keep_alive_seconds: int = Field(default=5, ge=1)


class JWTSettings(BaseModel):
    secret: SecretStr = SecretStr("")
    algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    lifetime_seconds: int = Field(default=24 * 3600, gt=0)
    # Checked on every token: a token made for another system (or by it) with the same secret is refused.
    issuer: str = "fleet-users"
    audience: str = "fleet"


class InternalSettings(BaseModel):
    # Sent by every internal gRPC client as `authorization: Bearer <token>`; servers refuse calls
    # without it (UNAUTHENTICATED). `make run` generates one into .env.
    service_token: SecretStr = SecretStr("")


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
    # invalidation can cause (see feed.tweetcache).
    tweet_cache_ttl_seconds: float = Field(default=300.0, gt=0)


class SearchServiceSettings(ServiceSettings):
    rest_port: int = 5003
    grpc_port: int = 50053
    database: str = "search"


class MetricsSettings(BaseModel):
    """Prometheus metrics (shared.metrics): `GET /metrics` on every REST port, a port of their own
    for workers."""

    # Off: no /metrics route, no request, RPC or consumer instrumentation (the bench's comparison).
    enabled: bool = True
    # How often the sampled gauges (outbox backlog, queue depths) are refreshed, per process.
    sample_seconds: float = Field(default=5.0, gt=0)
    # Where the processes of a multi-process service (`workers` > 1) keep their metric files; empty:
    # a fresh temporary folder per start. Emptied at start either way.
    multiprocess_dir: str = ""


class NotificationServiceSettings(ServiceSettings):
    rest_port: int = 5004
    grpc_port: int = 50055
    database: str = "notifications"
    # The live stream (GET /stream, /stream/ws): a comment line this often keeps idle streams open
    # through proxies; events kept per user for Last-Event-ID (the newest ones, for this long).
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    replay_seconds: int = Field(default=300, ge=1)
    replay_max_events: int = Field(default=500, ge=1)
    # Events waiting to be written to one connection; a client that falls further behind is
    # disconnected (it resumes with Last-Event-ID).
    stream_queue_size: int = Field(default=256, ge=1)
    # POST /stream/ticket: how long the single-use ticket for ?ticket= is valid.
    ticket_seconds: int = Field(default=30, ge=1)


class WorkerSettings(BaseModel):
    prefetch: int = 32
    # Where the worker serves GET /metrics (loopback unless opened on purpose); port 0: not served.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # One attempt at a message may take this long; past it the attempt is cancelled and retried
    # (a call stuck past its deadline must not stall the message forever).
    handler_timeout_seconds: float = 15.0
    max_attempts: int = 5
    retry_base_seconds: float = 0.2
    retry_max_seconds: float = 5.0


class FeedWorkerSettings(WorkerSettings):
    metrics_port: int = 9102
    followers_page_size: int = 10_000
    redis_batch_size: int = 1_000
    backfill_limit: int = 200
    # Hybrid fan-out: an author with more followers is not fanned out; readers merge their list.
    fanout_max_followers: int = Field(default=10_000, ge=0)
    # Accounts without an authenticated feed request for this long are skipped by fan-out (their
    # feed is rebuilt on their next read); 0 skips nobody.
    inactive_after_days: float = Field(default=30.0, ge=0)


class SearchWorkerSettings(WorkerSettings):
    metrics_port: int = 9103
    batch_size: int = 500
    batch_linger_seconds: float = 0.005


class NotificationWorkerSettings(WorkerSettings):
    prefetch: int = 512
    metrics_port: int = 9104
    # Notifications written in one INSERT (and one transaction); a batch closes when full or after
    # the linger, so a burst of 10,000 likes is a few dozen statements.
    batch_size: int = 500
    batch_linger_seconds: float = 0.01


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
    internal: InternalSettings = Field(default_factory=InternalSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    jaeger: JaegerSettings = Field(default_factory=JaegerSettings)
    ratelimit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    userservice: UserServiceSettings = Field(default_factory=UserServiceSettings)
    tweetservice: TweetServiceSettings = Field(default_factory=TweetServiceSettings)
    feedservice: FeedServiceSettings = Field(default_factory=FeedServiceSettings)
    searchservice: SearchServiceSettings = Field(default_factory=SearchServiceSettings)
    notificationservice: NotificationServiceSettings = Field(default_factory=NotificationServiceSettings)
    feedworker: FeedWorkerSettings = Field(default_factory=FeedWorkerSettings)
    searchworker: SearchWorkerSettings = Field(default_factory=SearchWorkerSettings)
    notificationworker: NotificationWorkerSettings = Field(default_factory=NotificationWorkerSettings)

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        # Every environment, development included: a guessable secret lets anyone mint tokens.
        _require_secret("JWT__SECRET", self.jwt.secret)
        _require_secret("INTERNAL__SERVICE_TOKEN", self.internal.service_token)
        if self.internal.service_token == self.jwt.secret:
            raise ValueError("INTERNAL__SERVICE_TOKEN must differ from JWT__SECRET")
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
        # config.toml's section names are the contract's ([Database], [UserService]): matched
        # case-insensitively, like the environment's.
        toml_settings = TomlConfigSettingsSource(settings_cls, toml_file=_find_config_file())
        # Earlier sources win: init > environment > .env > config.toml > defaults.
        return init_settings, env_settings, dotenv_settings, toml_settings


def _require_secret(name: str, secret: SecretStr) -> None:
    value = secret.get_secret_value()
    if not value:
        raise ValueError(f"{name} is not set: set it in the environment or .env (`make run` generates one)")
    if len(value.encode()) < MIN_SECRET_BYTES or len(set(value)) < MIN_SECRET_DISTINCT_CHARACTERS:
        raise ValueError(
            f"{name} must be at least {MIN_SECRET_BYTES} random bytes, e.g. "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )


def _find_config_file() -> Path | None:
    explicit = os.environ.get("CONFIG_FILE")
    if explicit:
        if not Path(explicit).is_file():
            raise FileNotFoundError(f"CONFIG_FILE={explicit} is not a file")
        return Path(explicit)
    for folder in (Path.cwd(), *Path.cwd().parents):
        candidate = folder / "config.toml"
        if candidate.is_file():
            return candidate
    return None


def to_environment(settings: BaseModel, prefix: str = "") -> dict[str, str]:
    """Environment variables (SECTION__KEY, secrets in clear) that make a child process read the
    same settings: every field of the model, so a new setting needs no list kept by hand."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        key = f"{prefix}{name.upper()}"
        if isinstance(value, BaseModel):
            env.update(to_environment(value, f"{key}__"))
        elif isinstance(value, SecretStr):
            env[key] = value.get_secret_value()
        elif isinstance(value, bool):
            env[key] = "true" if value else "false"
        elif isinstance(value, (list, dict)):
            env[key] = json.dumps(value)
        elif value is not None:
            env[key] = str(value)
    return env


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
