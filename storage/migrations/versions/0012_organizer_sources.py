"""where each organizer's role comes from: ORGANIZER_IDS or `toile organizers add`

Revision ID: 0012
Revises: 0011

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Until now only `toile organizers add` and `remove` wrote the audit log (the start's sync
# did not), as "user=<id>": an organizer whose last such entry is an add was added by hand
# and keeps the role; every other organizer came from ORGANIZER_IDS, and the next start
# keeps them only if it still lists them.
LAST_HAND_ACTION = (
    "(SELECT a.action FROM audit_log a WHERE a.action IN ('organizers.add', "
    "'organizers.remove') AND a.detail = 'user=' || CAST(users.id AS VARCHAR(20)) "
    "ORDER BY a.id DESC LIMIT 1)")


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organizer_by_config', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('organizer_by_cli', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.execute(f"UPDATE users SET organizer_by_cli = TRUE "
               f"WHERE is_organizer AND {LAST_HAND_ACTION} = 'organizers.add'")
    op.execute("UPDATE users SET organizer_by_config = TRUE "
               "WHERE is_organizer AND NOT organizer_by_cli")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('organizer_by_cli')
        batch_op.drop_column('organizer_by_config')
