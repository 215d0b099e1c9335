"""the spider's web (invite links, pledges, nudges) and the outbox of durable delivery

Revision ID: 0002
Revises: 0001

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")
CLAIMED = sa.text("status = 'claimed'")
NUDGEABLE = sa.text('recruits < 3 AND nudges_sent < 3')


def upgrade() -> None:
    """Upgrade schema. New NOT NULL columns carry a server default: existing rows get it."""
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=True),
    sa.Column('quiet_hours', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('due_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('message_id', sa.BigInteger(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_due', ['due_at', 'id'], unique=False, sqlite_where=PENDING, postgresql_where=PENDING)
        batch_op.create_index('ix_outbox_claimed', ['claimed_at'], unique=False, sqlite_where=CLAIMED, postgresql_where=CLAIMED)

    op.create_table('pledge',
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('names', sa.JSON(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('pledge_round',
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('round_date', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('confirmed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'round_date')
    )
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rounds', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('nudge_days', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('messaging_start', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default='09:00'))
        batch_op.add_column(sa.Column('messaging_end', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default='21:00'))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('invite_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('referred_by', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('generation', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('recruits', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('leaderboard_opt_out', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('nudges_sent', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_nudge_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('forgotten', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index('ix_users_nudge', ['nudges_sent', 'created_at'], unique=False, sqlite_where=NUDGEABLE, postgresql_where=NUDGEABLE)
        batch_op.create_index('ix_users_referred_by', ['referred_by'], unique=False)
        batch_op.create_index('ix_users_invite_code', ['invite_code'], unique=True)
    # People who were there before this revision count as already nudged: a campaign that
    # upgrades mid-way does not wake its whole list at once.
    op.execute('UPDATE users SET nudges_sent = 3')


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_invite_code')
        batch_op.drop_index('ix_users_referred_by')
        batch_op.drop_index('ix_users_nudge', sqlite_where=NUDGEABLE, postgresql_where=NUDGEABLE)
        for column in ('forgotten', 'last_nudge_at', 'nudges_sent', 'leaderboard_opt_out',
                       'recruits', 'generation', 'referred_by', 'invite_code'):
            batch_op.drop_column(column)

    with op.batch_alter_table('campaign', schema=None) as batch_op:
        for column in ('messaging_end', 'messaging_start', 'nudge_days', 'rounds'):
            batch_op.drop_column(column)

    op.drop_table('pledge_round')
    op.drop_table('pledge')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_claimed', sqlite_where=CLAIMED, postgresql_where=CLAIMED)
        batch_op.drop_index('ix_outbox_due', sqlite_where=PENDING, postgresql_where=PENDING)
    op.drop_table('outbox')
