"""war-room steps: attempts, retry time and recorded intent

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('war_room_steps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('intent', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('war_room_steps', schema=None) as batch_op:
        batch_op.drop_column('intent')
        batch_op.drop_column('retry_at')
        batch_op.drop_column('attempts')
