"""the harvest guard: a campaign's card limit an hour, do-not-call presses held for review

Revision ID: 0014
Revises: 0013

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_limit_per_hour', sa.Integer(), nullable=False,
                                      server_default='40'))
    op.create_table(
        'dnc_hold',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('volunteer_id', sa.BigInteger(), nullable=False),
        sa.Column('lease_seq', sa.Integer(), nullable=False),
        sa.Column('seconds_held', sa.Integer(), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=9), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('decided_by', sa.BigInteger(), nullable=True),
        sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['contact_id'], ['contact.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_dnc_hold_contact_id', 'dnc_hold', ['contact_id'], unique=False)
    op.create_index('ix_dnc_hold_volunteer', 'dnc_hold', ['volunteer_id', 'created_at'],
                    unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_dnc_hold_volunteer', table_name='dnc_hold')
    op.drop_index('ix_dnc_hold_contact_id', table_name='dnc_hold')
    op.drop_table('dnc_hold')
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('card_limit_per_hour')
