"""the holder and need searches index open requests only

Revision ID: 0022
Revises: 0021

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0022'
down_revision: str | Sequence[str] | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status = 'open'"
# A matched request leaves these indexes instead of moving to another place in each: a
# pass that matches 50,000 needs no longer writes 200,000 index entries for them.
TIERS = {
    'ix_proxy_station': ['kind', 'commune_insee', 'station', 'created_at'],
    'ix_proxy_department': ['kind', 'department', 'created_at'],
    'ix_proxy_constituency': ['kind', 'constituency', 'created_at'],
}


def upgrade() -> None:
    """Upgrade schema."""
    for name, columns in TIERS.items():
        op.drop_index(name, table_name='proxy_request')
        op.create_index(name, 'proxy_request', columns, unique=False,
                        sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.drop_index('ix_proxy_campaign', table_name='proxy_request')
    op.create_index('ix_proxy_campaign', 'proxy_request', ['campaign_id', 'kind'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    for name, columns in TIERS.items():
        op.drop_index(name, table_name='proxy_request')
        op.create_index(name, 'proxy_request', [columns[0], 'status', *columns[1:]],
                        unique=False)
    op.drop_index('ix_proxy_campaign', table_name='proxy_request')
    op.create_index('ix_proxy_campaign', 'proxy_request', ['campaign_id', 'kind', 'status'],
                    unique=False)
