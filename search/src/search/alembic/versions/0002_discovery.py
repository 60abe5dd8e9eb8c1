"""discovery: hashtags and mentions on documents, tweet_tags (trends), user_profiles (user search)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Trigram indexes (prefix matches) and levenshtein (one-edit matches) of user search.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS fuzzystrmatch")
    op.add_column(
        "documents", sa.Column("hashtags", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}")
    )
    op.add_column(
        "documents", sa.Column("mentions", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}")
    )
    op.create_index("ix_documents_hashtags", "documents", ["hashtags"], postgresql_using="gin")
    op.create_index("ix_documents_mentions", "documents", ["mentions"], postgresql_using="gin")
    op.create_table(
        "tweet_tags",
        sa.Column("tweet_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("hashtag", sa.Text(), primary_key=True),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_tweet_tags_created_at_hashtag_user_id", "tweet_tags", ["created_at", "hashtag", "user_id"]
    )
    op.create_table(
        "user_profiles",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("username_key", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("num_followers", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        "CREATE INDEX ix_user_profiles_username_key ON user_profiles USING gin (username_key gin_trgm_ops)"
    )
    op.execute("CREATE INDEX ix_user_profiles_name_key ON user_profiles USING gin (name_key gin_trgm_ops)")
    op.execute("CREATE INDEX ix_user_profiles_num_followers ON user_profiles (num_followers DESC)")


def downgrade() -> None:
    op.drop_table("user_profiles")
    op.drop_table("tweet_tags")
    op.drop_index("ix_documents_mentions", table_name="documents")
    op.drop_index("ix_documents_hashtags", table_name="documents")
    op.drop_column("documents", "mentions")
    op.drop_column("documents", "hashtags")
