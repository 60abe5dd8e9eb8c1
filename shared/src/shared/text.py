"""Validation of free text that PostgreSQL will store."""

from __future__ import annotations

from pydantic import AfterValidator


def storable_text(value: str) -> str:
    """Refuse what PostgreSQL `text` cannot hold: NUL and lone UTF-16 surrogates (which JSON
    escapes can carry). Refused here it is a 422; refused by the database it would be a 500."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode") from exc
    return value


StorableText = AfterValidator(storable_text)
"""Add to an `Annotated[str, ...]` field that is written to the database."""
