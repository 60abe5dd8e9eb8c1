"""tweets, reply_tweets, tweet_like, tweet_repost and the outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.messaging.outbox import PENDING_INDEX, outbox_columns

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def _mark_table(name: str) -> None:
    """tweet_like / tweet_repost: one row per (user, tweet), gone with the tweet."""
    op.create_table(
        name,
        sa.Column("user_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "tweet_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("tweets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index(f"ix_{name}_tweet_id", name, ["tweet_id"])
    op.create_index(f"ix_{name}_user_id_created_at", name, ["user_id", "created_at"])


def upgrade() -> None:
    op.create_table(
        "tweets",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("content", sa.String(280), nullable=False),
        sa.Column("num_likes", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("num_replys", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("num_reposts", sa.BigInteger(), nullable=False, server_default="0"),
        *_timestamps(),
    )
    # Ids are UUIDv7 (time ordered), so (user_id, id) gives a user's tweets newest first.
    op.create_index("ix_tweets_user_id_id", "tweets", ["user_id", "id"])
    op.create_index("ix_tweets_created_at", "tweets", ["created_at"])

    op.create_table(
        "reply_tweets",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "parent_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("tweets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("content", sa.String(280), nullable=False),
        *_timestamps(),
    )
    op.create_index("ix_reply_tweets_parent_id_id", "reply_tweets", ["parent_id", "id"])
    op.create_index("ix_reply_tweets_user_id", "reply_tweets", ["user_id"])

    _mark_table("tweet_like")
    _mark_table("tweet_repost")

    # The outbox as it was at this revision: later columns come with their own revisions (0002).
    op.create_table("outbox", *(column for column in outbox_columns() if column.name != "parked_at"))
    op.create_index(
        PENDING_INDEX, "outbox", ["destination", "id"], postgresql_where=sa.text("published_at IS NULL")
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("tweet_repost")
    op.drop_table("tweet_like")
    op.drop_table("reply_tweets")
    op.drop_table("tweets")
