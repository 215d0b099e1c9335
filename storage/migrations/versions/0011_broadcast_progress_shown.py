"""a broadcast remembers the last state its progress message showed for sure

Revision ID: 0011
Revises: 0010

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.add_column(sa.Column('progress_shown', sa.String(length=10), nullable=True))
    # Broadcasts over already: their messages are not to be edited again.
    op.execute("UPDATE broadcast SET progress_shown = status "
               "WHERE status IN ('done', 'cancelled')")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.drop_column('progress_shown')
