# syntax=docker/dockerfile:1.7
# One image recipe for every process of the fleet: docker build --build-arg PACKAGE=users .
# PACKAGE is the workspace distribution: users, tweets, feed, search, notifications, feed-worker,
# search-worker, notification-worker.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
ARG PACKAGE
# Third-party dependencies first: this layer is reused until uv.lock or a pyproject changes.
COPY pyproject.toml uv.lock ./
COPY proto/pyproject.toml proto/
COPY shared/pyproject.toml shared/
COPY devtools/pyproject.toml devtools/
COPY users/pyproject.toml users/
COPY tweets/pyproject.toml tweets/
COPY feed/pyproject.toml feed/
COPY search/pyproject.toml search/
COPY feed_worker/pyproject.toml feed_worker/
COPY search_worker/pyproject.toml search_worker/
COPY notifications/pyproject.toml notifications/
COPY notification_worker/pyproject.toml notification_worker/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package "${PACKAGE}"
# Then the fleet's own code, installed non-editable so the runtime stage needs only the venv.
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "${PACKAGE}"

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --no-create-home app
WORKDIR /app
COPY --from=build --chown=app:app /app/.venv /app/.venv
COPY --chown=app:app config.toml /app/config.toml
# Production unless told otherwise; the secrets (JWT__SECRET, INTERNAL__SERVICE_TOKEN) come from the
# environment at run time, never from the image.
ENV PATH=/app/.venv/bin:$PATH CONFIG_FILE=/app/config.toml PYTHONUNBUFFERED=1 ENVIRONMENT=production
USER app
