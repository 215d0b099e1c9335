"""calling hours in the contact's own time: each contact's zone, backfilled, in the queue index

Revision ID: 0017
Revises: 0016

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.phones import CAMPAIGN_ZONE, zone_of_e164

# revision identifiers, used by Alembic.
revision: str = '0017'
down_revision: str | Sequence[str] | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = "status = 'open' AND NOT waiting"
QUEUED_ELSEWHERE = f"zone <> '' AND {QUEUED}"
# Only these can have a clock other than the metropole's: the others keep ''.
ELSEWHERE = sa.text(
    "SELECT contact.id, contact.phone, contact.postal_code, campaign.timezone FROM contact "
    "JOIN campaign ON campaign.id = contact.campaign_id "
    "WHERE contact.phone NOT LIKE '+33%' OR contact.postal_code LIKE '97%'")
SET_ZONE = sa.text("UPDATE contact SET zone = :zone WHERE id = :id")


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('zone', sa.String(length=40), nullable=False,
                                      server_default=''))
    # The same rule as the importer's (storage.phones.zone_for), from the stored number.
    connection = op.get_bind()
    updates = []
    for contact_id, phone, postal_code, campaign_zone in connection.execute(ELSEWHERE):
        zone = zone_of_e164(phone, postal_code)
        if zone not in (CAMPAIGN_ZONE, campaign_zone):
            updates.append({"id": contact_id, "zone": zone})
    if updates:
        connection.execute(SET_ZONE, updates)
    op.drop_index('ix_contact_queue', table_name='contact')
    op.create_index('ix_contact_queue', 'contact',
                    ['campaign_id', 'priority', 'attempts', 'id', 'zone'], unique=False,
                    sqlite_where=sa.text(QUEUED), postgresql_where=sa.text(QUEUED))
    op.create_index('ix_contact_elsewhere', 'contact', ['campaign_id', 'zone'], unique=False,
                    sqlite_where=sa.text(QUEUED_ELSEWHERE),
                    postgresql_where=sa.text(QUEUED_ELSEWHERE))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_contact_elsewhere', table_name='contact')
    op.drop_index('ix_contact_queue', table_name='contact')
    op.create_index('ix_contact_queue', 'contact', ['campaign_id', 'priority', 'attempts', 'id'],
                    unique=False, sqlite_where=sa.text(QUEUED),
                    postgresql_where=sa.text(QUEUED))
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_column('zone')
