"""proxy requests belong to a campaign: its rounds, its matching, its erasure date

Revision ID: 0010
Revises: 0009

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('proxy_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('campaign_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_proxy_request_campaign', 'campaign', ['campaign_id'],
                                    ['id'])
        batch_op.create_index('ix_proxy_campaign', ['campaign_id', 'kind', 'status'],
                              unique=False)
    # Until now requests were read against the active campaign: they were its requests.
    op.execute("UPDATE proxy_request SET campaign_id = coalesce("
               "(SELECT max(id) FROM campaign WHERE active), (SELECT max(id) FROM campaign))")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('proxy_request', schema=None) as batch_op:
        batch_op.drop_index('ix_proxy_campaign')
        batch_op.drop_constraint('fk_proxy_request_campaign', type_='foreignkey')
        batch_op.drop_column('campaign_id')
