"""vote proxies: needs, offers, matches, holders' room per round, polling stations

Revision ID: 0003
Revises: 0002

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('polling_station',
    sa.Column('insee', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('insee', 'number')
    )
    op.create_table('proxy_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by', sa.BigInteger(), nullable=True),
    sa.Column('first_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('commune_insee', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('department', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('constituency', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('station', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('own_commune_insee', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
    sa.Column('own_station', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('rounds_mask', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('proxy_request', schema=None) as batch_op:
        batch_op.create_index('ix_proxy_constituency', ['kind', 'status', 'constituency', 'created_at'], unique=False)
        batch_op.create_index('ix_proxy_department', ['kind', 'status', 'department', 'created_at'], unique=False)
        batch_op.create_index('ix_proxy_station', ['kind', 'status', 'commune_insee', 'station', 'created_at'], unique=False)
        batch_op.create_index('ix_proxy_user', ['user_id'], unique=False)

    op.create_table('proxy_match',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('need_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('rounds_mask', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('need_answer', sa.Boolean(), nullable=True),
    sa.Column('offer_answer', sa.Boolean(), nullable=True),
    sa.Column('proposed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('registered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('holder_voter_number', sqlmodel.sql.sqltypes.AutoString(length=9), nullable=True),
    sa.Column('holder_birth_date', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['need_id'], ['proxy_request.id'], ),
    sa.ForeignKeyConstraint(['offer_id'], ['proxy_request.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('need_id', 'offer_id', name='uq_match_pair')
    )
    with op.batch_alter_table('proxy_match', schema=None) as batch_op:
        batch_op.create_index('ix_match_offer', ['offer_id'], unique=False)
        batch_op.create_index('ix_match_status', ['status', 'expires_at'], unique=False)
        batch_op.create_index('uq_match_live_need', ['need_id'], unique=True, sqlite_where=sa.text("status IN ('proposed', 'accepted', 'confirmed', 'registered')"), postgresql_where=sa.text("status IN ('proposed', 'accepted', 'confirmed', 'registered')"))

    op.create_table('proxy_slot',
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('round_date', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('match_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['match_id'], ['proxy_match.id'], ),
    sa.ForeignKeyConstraint(['offer_id'], ['proxy_request.id'], ),
    sa.PrimaryKeyConstraint('offer_id', 'round_date', 'slot')
    )
    with op.batch_alter_table('proxy_slot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_proxy_slot_match_id'), ['match_id'], unique=False)

    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proxy_capacity', sa.Integer(), nullable=False, server_default='1'))



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('proxy_capacity')

    with op.batch_alter_table('proxy_slot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_proxy_slot_match_id'))

    op.drop_table('proxy_slot')
    with op.batch_alter_table('proxy_match', schema=None) as batch_op:
        batch_op.drop_index('uq_match_live_need', sqlite_where=sa.text("status IN ('proposed', 'accepted', 'confirmed', 'registered')"), postgresql_where=sa.text("status IN ('proposed', 'accepted', 'confirmed', 'registered')"))
        batch_op.drop_index('ix_match_status')
        batch_op.drop_index('ix_match_offer')

    op.drop_table('proxy_match')
    with op.batch_alter_table('proxy_request', schema=None) as batch_op:
        batch_op.drop_index('ix_proxy_user')
        batch_op.drop_index('ix_proxy_station')
        batch_op.drop_index('ix_proxy_department')
        batch_op.drop_index('ix_proxy_constituency')

    op.drop_table('proxy_request')
    op.drop_table('polling_station')
