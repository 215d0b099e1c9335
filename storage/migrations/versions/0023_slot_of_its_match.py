"""a holder's place points at its match with the match's holder; batches index only batches

Revision ID: 0023
Revises: 0022

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0023'
down_revision: str | Sequence[str] | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's foreign keys have no names: the batch names them by this convention to drop them.
SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
OLD_KEYS = {  # PostgreSQL's names, SQLite's by the convention above
    'postgresql': ('proxy_slot_match_id_fkey', 'proxy_slot_offer_id_fkey'),
    'sqlite': ('fk_proxy_slot_match_id_proxy_match', 'fk_proxy_slot_offer_id_proxy_request'),
}
BATCHES = sa.text("batch IS NOT NULL")


def upgrade() -> None:
    """Upgrade schema."""
    # The holder's matches by holder, and what a place's (holder, match) points at: one
    # check a place instead of two, and a place can no longer name another holder than
    # its match's.
    op.drop_index('ix_match_offer', table_name='proxy_match')
    op.create_index('uq_match_offer', 'proxy_match', ['offer_id', 'id'], unique=True)
    _replace_keys(OLD_KEYS, [('fk_slot_match', 'proxy_match', ['offer_id', 'match_id'],
                              ['offer_id', 'id'])])
    # Most messages are no batch's: they leave the batch index.
    op.drop_index('ix_outbox_batch', table_name='outbox')
    op.create_index('ix_outbox_batch', 'outbox', ['batch', 'status'],
                    sqlite_where=BATCHES, postgresql_where=BATCHES)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_outbox_batch', table_name='outbox')
    op.create_index('ix_outbox_batch', 'outbox', ['batch', 'status'])
    _replace_keys({'postgresql': ('fk_slot_match',), 'sqlite': ('fk_slot_match',)},
                  [(OLD_KEYS['postgresql'][0], 'proxy_match', ['match_id'], ['id']),
                   (OLD_KEYS['postgresql'][1], 'proxy_request', ['offer_id'], ['id'])])
    op.drop_index('uq_match_offer', table_name='proxy_match')
    op.create_index('ix_match_offer', 'proxy_match', ['offer_id'])


def _replace_keys(old: dict[str, tuple[str, ...]],
                  new: list[tuple[str, str, list[str], list[str]]]) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':  # the table rebuilt, its rows kept
        with op.batch_alter_table('proxy_slot', recreate='always',
                                  naming_convention=SQLITE_NAMES) as batch:
            for name in old['sqlite']:
                batch.drop_constraint(name, type_='foreignkey')
            for name, table, columns, referred in new:
                batch.create_foreign_key(name, table, columns, referred)
        return
    for name in old['postgresql']:
        op.drop_constraint(name, 'proxy_slot', type_='foreignkey')
    for name, table, columns, referred in new:
        op.create_foreign_key(name, 'proxy_slot', table, columns, referred)
