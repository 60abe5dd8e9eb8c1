"""Give the git-ignored `.env` the secrets the fleet needs, generated once, so `make run` works with no
set-up step and no secret ever has a default in the source.

A secret already set (in the environment or with a value in `.env`) is left alone; a missing or empty
one gets a fresh random value. `--compose` also generates the credentials docker-compose.yml requires.
Standard library only: it runs before the virtual environment matters.

    python3 scripts/ensure-dotenv.py [--compose] [--path .env]
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _token() -> str:
    return secrets.token_urlsafe(48)  # 48 random bytes: above every minimum the fleet checks


FLEET_SECRETS: dict[str, Callable[[], str]] = {
    "JWT__SECRET": _token,
    "INTERNAL__SERVICE_TOKEN": _token,
}
COMPOSE_SECRETS: dict[str, Callable[[], str]] = {
    "POSTGRES_PASSWORD": _token,
    "RABBITMQ_DEFAULT_USER": lambda: "fleet-" + secrets.token_hex(4),
    "RABBITMQ_DEFAULT_PASS": _token,
    "GRAFANA_ADMIN_PASSWORD": _token,
}


def _name_and_value(line: str) -> tuple[str, str] | None:
    stripped = line.strip()
    if not stripped or stripped.startswith("#") or "=" not in stripped:
        return None
    name, value = stripped.removeprefix("export ").split("=", 1)
    # The fleet reads .env case-insensitively; quotes around an empty value still mean empty.
    return name.strip().upper(), value.strip().strip("'\"")


def ensure(path: Path, wanted: dict[str, Callable[[], str]]) -> list[str]:
    """Add each wanted secret that has no value yet; the names it generated."""
    lines = path.read_text().splitlines() if path.exists() else []
    present: dict[str, tuple[int, str]] = {}
    for number, text in enumerate(lines):
        parsed = _name_and_value(text)
        if parsed is not None:
            present[parsed[0]] = (number, parsed[1])
    generated = []
    for name, generate in wanted.items():
        if os.environ.get(name):
            continue  # the environment wins over .env anyway
        if present.get(name, (0, ""))[1]:
            continue
        line = f"{name}={generate()}"
        if name in present:
            lines[present[name][0]] = line  # an empty `NAME=`, e.g. copied from .env.example
        else:
            lines.append(line)
        generated.append(name)
    if generated:
        if not path.exists():
            path.touch(mode=0o600)  # secrets: readable by the owner only
        path.write_text("\n".join(lines) + "\n")
    return generated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compose", action="store_true", help="also the docker-compose credentials")
    parser.add_argument("--path", type=Path, default=ROOT / ".env")
    args = parser.parse_args(argv)
    wanted = {**FLEET_SECRETS, **(COMPOSE_SECRETS if args.compose else {})}
    for name in ensure(args.path, wanted):
        print(f"generated {name} in {args.path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
