"""Time-ordered ids (UUIDv7, RFC 9562): id order is creation order, which the feed relies on."""

from __future__ import annotations

import uuid

from uuid_utils.compat import uuid7 as _uuid7


def uuid7() -> uuid.UUID:
    """A UUIDv7 (a stdlib uuid.UUID) that sorts after every id this process made before: within a
    millisecond uuid-utils (the Rust `uuid` crate) counts up in the bits after the timestamp."""
    return _uuid7()


def uuid7_time_ms(value: uuid.UUID) -> int:
    """The Unix time in milliseconds encoded in a UUIDv7."""
    return value.int >> 80
