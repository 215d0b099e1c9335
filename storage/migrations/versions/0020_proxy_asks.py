"""where supporters vote, and the asks of a need nobody offered for

Revision ID: 0020
Revises: 0019

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0020'
down_revision: str | Sequence[str] | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vote_commune_insee',
                                      sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True))
        batch_op.add_column(sa.Column('vote_station',
                                      sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.create_index('ix_users_vote_place', ['vote_commune_insee', 'vote_station'],
                              unique=False,
                              sqlite_where=sa.text('vote_commune_insee IS NOT NULL'),
                              postgresql_where=sa.text('vote_commune_insee IS NOT NULL'))
    op.create_table(
        'proxy_ask',
        sa.Column('need_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.BigInteger(), nullable=False),
        sa.Column('asked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['need_id'], ['proxy_request.id']),
        sa.PrimaryKeyConstraint('need_id', 'user_id'),
    )
    with op.batch_alter_table('proxy_ask', schema=None) as batch_op:
        batch_op.create_index('ix_proxy_ask_user', ['user_id', 'asked_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('proxy_ask', schema=None) as batch_op:
        batch_op.drop_index('ix_proxy_ask_user')
    op.drop_table('proxy_ask')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_vote_place',
                            sqlite_where=sa.text('vote_commune_insee IS NOT NULL'),
                            postgresql_where=sa.text('vote_commune_insee IS NOT NULL'))
        batch_op.drop_column('vote_station')
        batch_op.drop_column('vote_commune_insee')
