"""Each process's runtime environment, built as the Dockerfile builds it, imports and starts.

`uv sync --frozen --no-dev --no-editable --package <name>` into a fresh environment installs only what
that distribution declares, so an undeclared import between areas fails here, as it would in its image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# distribution -> (its entry point, its main module)
PROCESSES = {
    "users": ("users", "users.main"),
    "tweets": ("tweets", "tweets.main"),
    "feed": ("feed", "feed.main"),
    "search": ("search", "search.main"),
    "feed-worker": ("feed-worker", "feed_worker.main"),
    "search-worker": ("search-worker", "search_worker.main"),
    "notifications": ("notifications", "notifications.main"),
    "notification-worker": ("notification-worker", "notification_worker.main"),
}
UV = shutil.which("uv") or str(Path.home() / ".local/bin/uv")


@pytest.mark.parametrize("package", sorted(PROCESSES))
def test_runtime_environment_imports_and_starts(package: str, tmp_path: Path) -> None:
    entry, module = PROCESSES[package]
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    subprocess.run(
        [UV, "sync", "--frozen", "--no-dev", "--no-editable", "--quiet", "--package", package],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-c", f"import {module}, importlib.util as u; print(u.find_spec('devtools') is None)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert installed.stdout.strip() == "True", "dev tooling must not be in a runtime environment"
    # cwd outside the repo so nothing imports from the work tree instead of the environment; no
    # settings or secrets: `--help` must work before any configuration exists.
    image_env = {"PATH": os.environ["PATH"], "ENVIRONMENT": "production"}
    started = subprocess.run(
        [str(venv / "bin" / entry), "--help"],
        env=image_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr
    assert "usage:" in started.stdout
