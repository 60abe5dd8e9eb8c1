"""tweet_repost.id: each repost's own UUIDv7, the order of its feed entries and the name of the
entry an unrepost removes; reposts made before get one derived from their creation time

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A UUIDv7 layout: 48 bits of Unix milliseconds, version 7, variant 8, then bits from a hash of the row.
_DERIVED_ID = """
UPDATE tweet_repost SET id = (
    lpad(to_hex((extract(epoch FROM created_at) * 1000)::bigint), 12, '0')
    || '7' || substr(md5(user_id::text || tweet_id::text), 1, 3)
    || '8' || substr(md5(user_id::text || tweet_id::text), 4, 15)
)::uuid
"""


def upgrade() -> None:
    op.add_column("tweet_repost", sa.Column("id", UUID(as_uuid=True), nullable=True))
    op.execute(_DERIVED_ID)
    op.alter_column("tweet_repost", "id", nullable=False)
    op.create_index("ix_tweet_repost_user_id_id", "tweet_repost", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_tweet_repost_user_id_id", table_name="tweet_repost")
    op.drop_column("tweet_repost", "id")
