# The fleet's commands. `make help` lists them.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")

.DEFAULT_GOAL := help
# Every package source folder that has Python in it.
MYPY_TARGETS = $(shell find shared devtools users tweets feed search feed_worker search_worker notifications notification_worker -path '*/src/*' -name '*.py' 2>/dev/null | cut -d/ -f1-2 | sort -u)
.PHONY: help install services run demo test test-unit test-fast test-faults lint typecheck proto proto-check migrate bench replay-dlq compose-check

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

install: ## Install uv (if missing) and the locked dependencies
	@command -v uv >/dev/null 2>&1 || test -x "$(UV)" || python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

services: ## Install (if absent) and start PostgreSQL, Redis and RabbitMQ on this machine
	@bash scripts/ensure-services.sh

run: install services ## Start the whole fleet (embedded defaults; Ctrl-C stops it)
	@python3 scripts/ensure-dotenv.py
	@$(UV) run python -m devtools.fleet

demo: install ## Seed a small social graph against a running fleet and show a feed and a search
	@$(UV) run python scripts/demo.py

test: install services ## Run the whole suite (unit, integration, end-to-end, faults)
	@$(UV) run pytest

test-unit: install ## The unit tier: seconds, no PostgreSQL, Redis or RabbitMQ needed
	@$(UV) run pytest -m unit tests/unit

test-fast: install services ## The suite without the end-to-end and fault tests
	@$(UV) run pytest -m "not e2e and not faults"

test-faults: install services ## Only the slow fault-injection tests
	@$(UV) run pytest -m faults

lint: install ## ruff, mypy and the generated-code drift check
	@$(UV) run ruff check .
	@$(UV) run ruff format --check .
	@$(UV) run mypy $(MYPY_TARGETS)
	@$(MAKE) --no-print-directory proto-check

proto: install ## Regenerate proto/src/fleet_proto from proto/*.proto
	@$(UV) run bash scripts/gen-proto.sh

proto-check: ## Fail if the generated protobuf code differs from proto/*.proto
	@$(UV) run bash scripts/gen-proto.sh >/dev/null 2>&1
	@git diff --exit-code --stat -- proto/src || (echo "generated code drifted from proto/*.proto: run make proto and commit" && exit 1)
	@test -z "$$(git status --porcelain -- proto/src)" || (echo "untracked generated files: run make proto and commit" && exit 1)

migrate: install ## Create and migrate every database
	@$(UV) run users migrate && $(UV) run tweets migrate && $(UV) run search migrate && $(UV) run notifications migrate

bench: install services ## Benchmark the fleet; writes bench/results/<date>.{json,md} and charts
	@command -v wrk >/dev/null && command -v redis-cli >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk redis-tools >/dev/null; }
	@$(UV) run python -m bench

replay-dlq: install ## Move dead letters back: make replay-dlq QUEUE=general_tweets
	@$(UV) run python -c "import asyncio,sys; from shared.messaging.consumer import replay_dead_letters; from shared.settings import get_settings; s = get_settings().rabbitmq; print(asyncio.run(replay_dead_letters(s.url.get_secret_value(), sys.argv[1], queue_type=s.queue_type)), 'moved')" $(QUEUE)

compose-check: ## Validate docker-compose.yml (needs docker compose or docker-compose)
	@if docker compose version >/dev/null 2>&1; then compose="docker compose"; else compose="docker-compose"; fi; \
	env_file=$$(mktemp) && trap 'rm -f "$$env_file"' EXIT && \
	python3 scripts/ensure-dotenv.py --compose --path "$$env_file" 2>/dev/null && \
	$$compose --env-file "$$env_file" config -q && echo "docker-compose.yml is valid"
