"""practice before the first real call, and graduated trust

Revision ID: 0018
Revises: 0017

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0018'
down_revision: str | Sequence[str] | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trusted', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('practice_calls', sa.Integer(), nullable=False,
                                      server_default='0'))
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('practice_calls_required', sa.Integer(), nullable=False,
                                      server_default='1'))
        batch_op.add_column(sa.Column('untrusted_cards_per_hour', sa.Integer(), nullable=False,
                                      server_default='20'))
        batch_op.add_column(sa.Column('untrusted_cards_per_day', sa.Integer(), nullable=False,
                                      server_default='60'))
        batch_op.add_column(sa.Column('calls_to_trust', sa.Integer(), nullable=False,
                                      server_default='40'))
    # Organizers are trusted; so is everyone who already made real calls before trust
    # existed: an organizer approved them and they have been calling.
    op.execute("UPDATE users SET trusted = TRUE WHERE is_organizer OR trained")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('calls_to_trust')
        batch_op.drop_column('untrusted_cards_per_day')
        batch_op.drop_column('untrusted_cards_per_hour')
        batch_op.drop_column('practice_calls_required')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('practice_calls')
        batch_op.drop_column('trusted')
