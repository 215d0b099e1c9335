"""the question relay through the outbox: questions kept, answers keep their author (only
they sign), asks counted per person; relayed questions found from a reply

Revision ID: 0009
Revises: 0008

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RELAY_QUESTION = "kind = 'relay_question'"


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('relay', schema=None) as batch_op:
        # Queued rows land later: where, the outbox row says.
        batch_op.alter_column('chat_id', existing_type=sa.BigInteger(), nullable=True)
        batch_op.alter_column('message_id', existing_type=sa.BigInteger(), nullable=True)
        batch_op.add_column(sa.Column('question', sqlmodel.sql.sqltypes.AutoString(),
                                      nullable=True))
        # Answers written before have no known author: nobody can sign them.
        batch_op.add_column(sa.Column('answered_by', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('signed', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_index('ix_relay_volunteer', ['volunteer_id', 'created_at'],
                              unique=False)
    op.create_index('ix_outbox_relay', 'outbox', ['chat_id', 'message_id'], unique=False,
                    sqlite_where=sa.text(RELAY_QUESTION),
                    postgresql_where=sa.text(RELAY_QUESTION))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_outbox_relay', table_name='outbox')
    # Rows with no place of their own (queued) cannot go back to NOT NULL columns.
    op.execute("DELETE FROM relay WHERE chat_id IS NULL OR message_id IS NULL")
    with op.batch_alter_table('relay', schema=None) as batch_op:
        batch_op.drop_index('ix_relay_volunteer')
        batch_op.drop_column('signed')
        batch_op.drop_column('answered_by')
        batch_op.drop_column('question')
        batch_op.alter_column('message_id', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('chat_id', existing_type=sa.BigInteger(), nullable=False)
