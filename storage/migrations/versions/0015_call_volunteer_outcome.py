"""the calls' (volunteer, time) index also holds the outcome

The harvest guard counts, at every record, the cards a volunteer went through in the last
hour and how many were given back. Through (volunteer_id, created_at) each counted call was
a look-up in the table for its outcome, and with statistics SQLite preferred the covering
(campaign, created_at, volunteer_id, outcome) index, reading every call of the last hour
of everyone: 0.7 ms a record with 64 volunteers. With the outcome in it, the count reads
the volunteer's own entries and nothing else.

Revision ID: 0015
Revises: 0014

"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0015'
down_revision: str | Sequence[str] | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index('ix_call_volunteer_time_outcome', 'call',
                    ['volunteer_id', 'created_at', 'outcome'], unique=False)
    op.drop_index('ix_call_volunteer_time', table_name='call')


def downgrade() -> None:
    """Downgrade schema."""
    op.create_index('ix_call_volunteer_time', 'call', ['volunteer_id', 'created_at'],
                    unique=False)
    op.drop_index('ix_call_volunteer_time_outcome', table_name='call')
