"""contacts waiting for their retry time leave the queue index until they are due

Revision ID: 0007
Revises: 0006

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status = 'open'"
OPEN_NOT_WAITING = "status = 'open' AND NOT waiting"
WAITING = "waiting AND status = 'open'"


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    # Every contact tried before may be waiting for its time; the first claims wake those
    # already due (storage.calling.WAKE_DUE), so no clock is needed here.
    op.execute("UPDATE contact SET waiting = TRUE WHERE status = 'open' AND attempts > 0")
    op.drop_index('ix_contact_queue', table_name='contact')
    op.create_index('ix_contact_queue', 'contact', ['campaign_id', 'priority', 'attempts', 'id'],
                    unique=False, sqlite_where=sa.text(OPEN_NOT_WAITING),
                    postgresql_where=sa.text(OPEN_NOT_WAITING))
    op.create_index('ix_contact_waiting', 'contact', ['campaign_id', 'due_at'], unique=False,
                    sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_contact_waiting', table_name='contact')
    op.drop_index('ix_contact_queue', table_name='contact')
    op.create_index('ix_contact_queue', 'contact', ['campaign_id', 'priority', 'attempts', 'id'],
                    unique=False, sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_column('waiting')
