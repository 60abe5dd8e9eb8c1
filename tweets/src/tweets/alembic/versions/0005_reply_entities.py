"""reply_tweets.hashtags, mention_ids, mention_usernames: replies carry entities as tweets do

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Constant defaults: adding them rewrites no row (PostgreSQL 11+). Replies written before this
    # have no entities (they are not re-parsed).
    op.add_column(
        "reply_tweets",
        sa.Column("hashtags", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}"),
    )
    op.add_column(
        "reply_tweets",
        sa.Column(
            "mention_ids",
            postgresql.ARRAY(postgresql.UUID(as_uuid=True)),
            nullable=False,
            server_default="{}",
        ),
    )
    op.add_column(
        "reply_tweets",
        sa.Column("mention_usernames", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}"),
    )


def downgrade() -> None:
    for column in ("mention_usernames", "mention_ids", "hashtags"):
        op.drop_column("reply_tweets", column)
