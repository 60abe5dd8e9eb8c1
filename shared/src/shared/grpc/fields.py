"""Parsing of request fields common to every servicer."""

from __future__ import annotations

import uuid

from shared.errors import InvalidInput


def parse_uuid(value: str, field: str) -> uuid.UUID:
    """A request's id field as a UUID; INVALID_ARGUMENT when it is not one."""
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidInput(f"{field} is not a valid id") from exc
