"""Request and response bodies of the users REST API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from shared.paging import Page, PageLimit, PageOffset
from shared.text import DisplayText, StorableText

__all__ = ["PageLimit", "PageOffset"]

Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    StorableText,
]
Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{3,32}$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128), StorableText]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    username: Username
    password: Password


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Annotated[str, StringConstraints(max_length=254), StorableText] | None = None
    username: Annotated[str, StringConstraints(max_length=254), StorableText] | None = None
    password: Annotated[str, StringConstraints(max_length=128), StorableText]

    @model_validator(mode="after")
    def _one_identifier(self) -> LoginRequest:
        if not (self.email or self.username):
            raise ValueError("give an email or a username")
        return self

    @property
    def identifier(self) -> str:
        return self.email or self.username or ""


class ChangePasswordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: Annotated[str, StringConstraints(max_length=128), StorableText]
    new_password: Password


class DeleteAccountRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Annotated[str, StringConstraints(max_length=128), StorableText]


class UpdateProfileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bio: Annotated[str, StringConstraints(max_length=280), StorableText] | None = None
    display_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), StorableText, DisplayText]
        | None
    ) = None


class PublicUser(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    username: str
    display_name: str
    bio: str
    num_tweets: int
    num_followers: int
    num_following: int
    created_at: datetime


class OwnUser(PublicUser):
    """A user as its owner sees it: with the email."""

    email: str


class LoginResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user: OwnUser
    # The same token under the original project's name, so its scripts log in unchanged.
    token: str


class UserPage(Page):
    users: list[PublicUser]
