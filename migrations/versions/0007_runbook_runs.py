"""runbook runs and their steps

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('runbook_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('runbook', sa.String(length=100), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('lock_key', sa.String(length=400), nullable=True),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('started_by', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_position', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=32), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('channel_id', sa.String(length=32), nullable=True),
    sa.Column('message_ts', sa.String(length=32), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('stopping', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_runbook_runs_incident_id_incidents'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_runbook_runs')),
    sa.UniqueConstraint('lock_key', name=op.f('uq_runbook_runs_lock_key'))
    )
    with op.batch_alter_table('runbook_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runbook_runs_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_runbook_runs_state', ['state'], unique=False)

    op.create_table('runbook_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('phase', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('argv', sa.JSON(), nullable=False),
    sa.Column('mutating', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('exit_code', sa.Integer(), nullable=True),
    sa.Column('output', sa.Text(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runbook_runs.id'], name=op.f('fk_runbook_steps_run_id_runbook_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_runbook_steps'))
    )
    with op.batch_alter_table('runbook_steps', schema=None) as batch_op:
        batch_op.create_index('ix_runbook_steps_run', ['run_id', 'position'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('runbook_steps', schema=None) as batch_op:
        batch_op.drop_index('ix_runbook_steps_run')

    op.drop_table('runbook_steps')
    with op.batch_alter_table('runbook_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runbook_runs_state')
        batch_op.drop_index(batch_op.f('ix_runbook_runs_incident_id'))

    op.drop_table('runbook_runs')
