"""the calls' campaign-and-time index also holds the caller and the outcome

Revision ID: 0006
Revises: 0005

"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The same leading columns, so what used the old index uses this one; with the caller and
# the outcome in it, the day's calls per caller (the volunteers' ranking) and the active
# callers of /stats are read from the index alone, without visiting 200,000 rows.
def upgrade() -> None:
    """Upgrade schema."""
    op.create_index('ix_call_campaign_time_caller', 'call',
                    ['campaign_id', 'created_at', 'volunteer_id', 'outcome'], unique=False)
    op.drop_index('ix_call_campaign_time', table_name='call')


def downgrade() -> None:
    """Downgrade schema."""
    op.create_index('ix_call_campaign_time', 'call', ['campaign_id', 'created_at'],
                    unique=False)
    op.drop_index('ix_call_campaign_time_caller', table_name='call')
