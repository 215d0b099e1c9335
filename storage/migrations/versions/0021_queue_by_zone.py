"""the queue index by zone: the claim takes each open zone's first contact

Revision ID: 0021
Revises: 0020

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0021'
down_revision: str | Sequence[str] | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = "status = 'open' AND NOT waiting"


def upgrade() -> None:
    """Upgrade schema."""
    op.drop_index('ix_contact_queue', table_name='contact')
    op.create_index('ix_contact_queue', 'contact',
                    ['campaign_id', 'zone', 'priority', 'attempts', 'id'], unique=False,
                    sqlite_where=sa.text(QUEUED), postgresql_where=sa.text(QUEUED))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_contact_queue', table_name='contact')
    op.create_index('ix_contact_queue', 'contact',
                    ['campaign_id', 'priority', 'attempts', 'id', 'zone'], unique=False,
                    sqlite_where=sa.text(QUEUED), postgresql_where=sa.text(QUEUED))
