"""TokenCodec remembers the tokens it verified: a repeated token skips the signature check but is
still refused once it expires, and a token it never verified is checked in full."""

from __future__ import annotations

import secrets
import uuid

import pytest
from pydantic import SecretStr

from shared import auth
from shared.auth import TokenCodec
from shared.errors import Unauthorized
from shared.settings import JWTSettings


def _codec(lifetime: int = 60) -> TokenCodec:
    return TokenCodec(JWTSettings(secret=SecretStr(secrets.token_urlsafe(32)), lifetime_seconds=lifetime))


def test_a_verified_token_is_remembered_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = _codec(lifetime=60)
    user_id = uuid.uuid4()
    token = codec.issue(user_id, "alice")
    first = codec.verify(token)
    assert first.user_id == user_id
    assert codec.verify(token) is first  # the remembered claims, not a second check

    issued = first.issued_at
    monkeypatch.setattr(auth.time, "time", lambda: issued + 61)
    with pytest.raises(Unauthorized, match="expired"):
        codec.verify(token)
    with pytest.raises(Unauthorized, match="expired"):
        codec.verify(token)  # forgotten: the full check refuses it too


def test_a_tampered_token_is_checked_in_full_even_after_the_real_one() -> None:
    codec = _codec()
    token = codec.issue(uuid.uuid4(), "alice")
    codec.verify(token)
    header, payload, signature = token.split(".")
    with pytest.raises(Unauthorized):
        codec.verify(f"{header}.{payload}.{signature[:-2]}AA")
    # Another codec's (another secret's) token is not a hit either.
    with pytest.raises(Unauthorized):
        _codec().verify(token)


def test_the_remembered_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "MAX_VERIFIED_TOKENS", 10)
    codec = _codec()
    for _ in range(25):
        codec.verify(codec.issue(uuid.uuid4(), "bob"))
    assert len(codec._verified) <= 10
