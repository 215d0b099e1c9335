"""the wall: its token per campaign, and the daily goals its bars aim at

Revision ID: 0016
Revises: 0015

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0016'
down_revision: str | Sequence[str] | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('daily_goal', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('room_goals', sa.JSON(), nullable=True))
    op.create_table(
        'wall_token',
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id']),
        sa.PrimaryKeyConstraint('campaign_id'),
        sa.UniqueConstraint('token'),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('wall_token')
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('room_goals')
        batch_op.drop_column('daily_goal')
