"""Validation of free text that PostgreSQL will store."""

from __future__ import annotations

import unicodedata

from pydantic import AfterValidator


def fold(value: str) -> str:
    """NFKC case folding: the one form in which emails (and login identifiers) are compared.

    `İvan@x` and `i̇van@x` (dotted capital I, or i + combining dot) fold to the same string, as do
    full-width and compatibility variants. Computed here only, and stored (users' `email_key`), so
    PostgreSQL compares exactly what Python computed."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())


def login_key(identifier: str) -> str:
    """The identifier of a login attempt as the rate limits count it."""
    return fold(identifier.strip())


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
