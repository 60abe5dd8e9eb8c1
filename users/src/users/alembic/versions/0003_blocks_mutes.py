"""blocks and mutes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("blocks", "mutes"):
        op.create_table(
            table,
            sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
            sa.Column("target_id", postgresql.UUID(as_uuid=True), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
            sa.ForeignKeyConstraint(["user_id"], ["actors.id"], ondelete="CASCADE"),
            sa.ForeignKeyConstraint(["target_id"], ["actors.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("user_id", "target_id"),
        )
        op.create_index(f"ix_{table}_target_id", table, ["target_id", "user_id"])


def downgrade() -> None:
    for table in ("mutes", "blocks"):
        op.drop_index(f"ix_{table}_target_id", table_name=table)
        op.drop_table(table)
