"""sweep runs: each scheduler sweep's last run, for /healthz

A new table only, so SQLite rebuilds nothing.

Revision ID: 0020_sweep_runs
Revises: 0019_people
Create Date: 2026-12-14 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020_sweep_runs'
down_revision = '0019_people'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sweep_runs',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('last_ok_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_sweep_runs'))
    )


def downgrade():
    op.drop_table('sweep_runs')
