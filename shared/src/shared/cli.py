"""The command line of every service process: `serve` (default) and `migrate`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from pydantic import ValidationError

from shared.db.migrations import migrate
from shared.runner import prepare_process, run_service
from shared.settings import ServiceSettings, Settings, get_settings


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # the OpenTelemetry service name, e.g. users-service
    create_app: Callable[[Settings], FastAPI]
    section: Callable[[Settings], ServiceSettings]
    database: Callable[[Settings], str] | None = None
    alembic_dir: Path | None = None


def load_settings_or_exit() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        # The messages only: pydantic's own text repeats the input values, secrets included.
        problems = [
            f"  {'.'.join(map(str, error['loc'])) or 'settings'}: {error['msg']}" for error in exc.errors()
        ]
        print("configuration error:\n" + "\n".join(problems), file=sys.stderr)
        raise SystemExit(2) from None


def service_main(spec: ServiceSpec, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=spec.name)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    parser.add_argument("--migrate", action="store_true", help="migrate the database before serving")
    args = parser.parse_args(argv)
    settings = load_settings_or_exit()
    prepare_process(spec.name, settings)
    if (
        spec.database is not None
        and spec.alembic_dir is not None
        and (args.command == "migrate" or args.migrate)
    ):
        asyncio.run(migrate(settings.database, spec.database(settings), spec.alembic_dir))
        if args.command == "migrate":
            return
    section = spec.section(settings)
    run_service(section, spec.create_app(settings), settings.http, section.workers)
