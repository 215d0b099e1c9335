"""index contacts by phone, for the do-not-call list

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Without it, "do not call" scans every contact while holding SQLite's write lock.
    op.create_index("ix_contact_phone", "contact", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_contact_phone", table_name="contact")
