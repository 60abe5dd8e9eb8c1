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


# Invisible yet not Unicode format (Cf) characters: Hangul fillers and the braille blank.
_BLANK_LOOKALIKES = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Characters that reorder the text around them (embeddings, overrides, isolates).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc" and char != "\n"


def _is_invisible(char: str) -> bool:
    return char.isspace() or char in _BLANK_LOOKALIKES or unicodedata.category(char) in ("Cf", "Cc", "Zs")


def visible_text(value: str) -> str:
    """Refuse C0/C1 control characters other than newline, and text with nothing visible in it
    (only blanks, zero-width or format characters, BOM, Hangul fillers)."""
    if any(_is_control(char) for char in value):
        raise ValueError("text must not contain control characters other than newline")
    if all(_is_invisible(char) for char in value):
        raise ValueError("text must contain a visible character")
    return value


def display_text(value: str) -> str:
    """`visible_text` rules that apply to a one-line name (controls refused, newline too) and no
    bidi embedding, override or isolate characters (they make a name read as another)."""
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError("a name must not contain control characters")
    if any(char in _BIDI_CONTROLS for char in value):
        raise ValueError("a name must not contain bidirectional override characters")
    return value


VisibleText = AfterValidator(visible_text)
"""Tweet and reply content: something visible, no control characters but newline."""
DisplayText = AfterValidator(display_text)
"""Display names: no control or bidi override characters."""
