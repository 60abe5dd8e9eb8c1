"""The feed's Lua scripts, in lua/ (one file each, read once at import); their headers say what
KEYS and ARGV hold."""

from __future__ import annotations

from pathlib import Path

_LUA = Path(__file__).parent / "lua"


def lua(*names: str) -> str:
    """The scripts' sources joined, in order (shared helpers first)."""
    return "".join((_LUA / f"{name}.lua").read_text() for name in names)
