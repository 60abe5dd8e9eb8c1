"""blocks and mutes: who blocks or mutes whom (one row per pair)

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


def _pair_table(name: str, subject: str, target: str) -> None:
    op.create_table(
        name,
        sa.Column(
            subject,
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("actors.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            target,
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("actors.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    # The reverse lookup ("who blocks me") and the cascade from a deleted account use it.
    op.create_index(f"ix_{name}_{target}", name, [target, subject])


def upgrade() -> None:
    _pair_table("blocks", "blocker_id", "blocked_id")
    _pair_table("mutes", "muter_id", "muted_id")


def downgrade() -> None:
    op.drop_table("mutes")
    op.drop_table("blocks")
