"""audit log indexes: a group's entries newest first, and by household and by person
(the audit log page filters by each)

Indexes only: SQLite rebuilds nothing.

Revision ID: 0021_audit_indexes
Revises: 0020_sweep_runs
Create Date: 2026-12-15 09:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0021_audit_indexes'
down_revision = '0020_sweep_runs'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_audit_log_group_id_at', 'audit_log', ['group_id', 'at'], unique=False)
    op.create_index(op.f('ix_audit_log_household_id'), 'audit_log', ['household_id'],
                    unique=False)
    op.create_index(op.f('ix_audit_log_actor_id'), 'audit_log', ['actor_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_audit_log_actor_id'), table_name='audit_log')
    op.drop_index(op.f('ix_audit_log_household_id'), table_name='audit_log')
    op.drop_index('ix_audit_log_group_id_at', table_name='audit_log')
