"""escalation chains, steps, notifications and outbox

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('escalation_chains',
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('policy', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('severity_at_start', sa.String(length=8), nullable=False),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pagerduty_triggered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pagerduty_incident_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_escalation_chains_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('incident_id', name=op.f('pk_escalation_chains'))
    )
    with op.batch_alter_table('escalation_chains', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_chains_pagerduty_incident_id'), ['pagerduty_incident_id'], unique=False)

    op.create_table('escalation_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('told_delay', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_escalation_outbox_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_outbox'))
    )
    with op.batch_alter_table('escalation_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_escalation_outbox_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalation_outbox_incident_id'), ['incident_id'], unique=False)

    op.create_table('escalation_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=100), nullable=False),
    sa.Column('target_type', sa.String(length=40), nullable=False),
    sa.Column('target', sa.String(length=500), nullable=False),
    sa.Column('delay_seconds', sa.Integer(), nullable=False),
    sa.Column('condition', sa.String(length=40), nullable=True),
    sa.Column('with_level', sa.String(length=16), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fired_by', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['escalation_chains.incident_id'], name=op.f('fk_escalation_steps_incident_id_escalation_chains'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_steps')),
    sa.UniqueConstraint('incident_id', 'kind', 'name', name=op.f('uq_escalation_steps_incident_id_kind_name'))
    )
    with op.batch_alter_table('escalation_steps', schema=None) as batch_op:
        batch_op.create_index('ix_escalation_steps_due', ['state', 'due_at'], unique=False)

    op.create_table('escalation_notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('step_id', sa.Integer(), nullable=False),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('person', sa.String(length=64), nullable=False),
    sa.Column('person_name', sa.String(length=200), nullable=True),
    sa.Column('slack_user', sa.String(length=32), nullable=True),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_via', sa.String(length=16), nullable=True),
    sa.Column('dm_channel', sa.String(length=32), nullable=True),
    sa.Column('dm_ts', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_escalation_notifications_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['step_id'], ['escalation_steps.id'], name=op.f('fk_escalation_notifications_step_id_escalation_steps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_notifications')),
    sa.UniqueConstraint('step_id', 'person', name=op.f('uq_escalation_notifications_step_id_person'))
    )
    with op.batch_alter_table('escalation_notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_notifications_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalation_notifications_step_id'), ['step_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('escalation_notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_notifications_step_id'))
        batch_op.drop_index(batch_op.f('ix_escalation_notifications_incident_id'))

    op.drop_table('escalation_notifications')
    with op.batch_alter_table('escalation_steps', schema=None) as batch_op:
        batch_op.drop_index('ix_escalation_steps_due')

    op.drop_table('escalation_steps')
    with op.batch_alter_table('escalation_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_outbox_incident_id'))
        batch_op.drop_index('ix_escalation_outbox_due')

    op.drop_table('escalation_outbox')
    with op.batch_alter_table('escalation_chains', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_chains_pagerduty_incident_id'))

    op.drop_table('escalation_chains')
