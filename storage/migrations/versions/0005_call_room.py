"""the room each call was made from, and the index /stats reads on SQLite

Revision ID: 0005
Revises: 0004

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Calls made before this revision get the room /stats used to work out for each of them.
_BACKFILL = (
    "UPDATE call SET room = (SELECT sh.room FROM shift_signup s JOIN shift sh "
    "ON sh.id = s.shift_id WHERE s.user_id = call.volunteer_id "
    "AND s.status IN ('joined', 'attended') AND call.created_at >= sh.starts_at "
    "AND call.created_at < sh.ends_at AND NOT sh.cancelled "
    "ORDER BY sh.starts_at, sh.id LIMIT 1)")


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.add_column(sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=60),
                                      nullable=True))
    op.execute(_BACKFILL)
    if op.get_bind().dialect.name == 'sqlite':
        op.create_index('ix_call_campaign_hour', 'call',
                        ['campaign_id', sa.text('substr(created_at, 1, 13)'), 'room',
                         'outcome'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name == 'sqlite':
        op.drop_index('ix_call_campaign_hour', table_name='call')
    with op.batch_alter_table('call', schema=None) as batch_op:
        batch_op.drop_column('room')
