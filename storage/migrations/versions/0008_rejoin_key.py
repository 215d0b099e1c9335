"""a forgotten recruit's node keeps a keyed hash, so that rejoining is not a second recruit

Revision ID: 0008
Revises: 0007

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYED = "rejoin_key IS NOT NULL"


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rejoin_key', sa.String(length=64), nullable=True))
    op.create_index('ix_users_rejoin_key', 'users', ['rejoin_key'], unique=True,
                    sqlite_where=sa.text(KEYED), postgresql_where=sa.text(KEYED))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_users_rejoin_key', table_name='users')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('rejoin_key')
