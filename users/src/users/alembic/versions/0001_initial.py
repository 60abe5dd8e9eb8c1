"""actors, follows, applied_increments and the outbox

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


def upgrade() -> None:
    op.create_table(
        "actors",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("display_name", sa.String(64), nullable=False, server_default=""),
        sa.Column("bio", sa.String(280), nullable=False, server_default=""),
        sa.Column("num_tweets", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("num_followers", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("num_following", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("uq_actors_email_lower", "actors", [sa.text("lower(email)")], unique=True)
    op.create_index("uq_actors_username_lower", "actors", [sa.text("lower(username)")], unique=True)
    op.create_index("ix_actors_created_at", "actors", ["created_at"])

    op.create_table(
        "follows",
        sa.Column(
            "follower_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("actors.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "following_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("actors.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_follows_follower_id", "follows", ["follower_id"])
    op.create_index("ix_follows_following_id", "follows", ["following_id", "follower_id"])
    op.create_index("ix_follows_created_at", "follows", ["created_at"])

    op.create_table(
        "applied_increments",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )

    # The outbox as it was at this revision: later columns come with their own revisions (0002).
    op.create_table("outbox", *(column for column in outbox_columns() if column.name != "parked_at"))
    op.create_index(
        PENDING_INDEX, "outbox", ["destination", "id"], postgresql_where=sa.text("published_at IS NULL")
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("applied_increments")
    op.drop_table("follows")
    op.drop_table("actors")
