"""actors.email_key: the folded email (NFKC + case folding, computed in Python), unique

Replaces the lower(email) index, under which "İvan@x" and "i̇van@x" were two accounts (one of which
could never log in). Fails, naming the addresses, if two existing accounts fold to the same key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.text import fold

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("actors", sa.Column("email_key", sa.Text(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, email FROM actors")).all()
    owners: dict[str, str] = {}
    for user_id, email in rows:
        key = fold(email)
        if key in owners:
            raise RuntimeError(
                f"accounts {owners[key]} and {user_id} share the email {key!r}: merge them first"
            )
        owners[key] = str(user_id)
        connection.execute(
            sa.text("UPDATE actors SET email_key = :key WHERE id = :id"), {"key": key, "id": user_id}
        )
    op.alter_column("actors", "email_key", nullable=False)
    op.drop_index("uq_actors_email_lower", table_name="actors")
    op.create_index("uq_actors_email_key", "actors", ["email_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_actors_email_key", table_name="actors")
    op.create_index("uq_actors_email_lower", "actors", [sa.text("lower(email)")], unique=True)
    op.drop_column("actors", "email_key")
