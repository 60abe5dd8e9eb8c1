"""tweets.hashtags, mention_ids, mention_usernames: the entities parsed from the content

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Constant defaults: adding them rewrites no row (PostgreSQL 11+).
    op.add_column(
        "tweets", sa.Column("hashtags", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}")
    )
    op.add_column(
        "tweets",
        sa.Column(
            "mention_ids",
            postgresql.ARRAY(postgresql.UUID(as_uuid=True)),
            nullable=False,
            server_default="{}",
        ),
    )
    op.add_column(
        "tweets",
        sa.Column("mention_usernames", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}"),
    )


def downgrade() -> None:
    for column in ("mention_usernames", "mention_ids", "hashtags"):
        op.drop_column("tweets", column)
