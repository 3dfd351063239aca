"""rounds.submission_token: the same round form sent twice makes one round

Added without rebuilding the table, so SQLite keeps the cache-version triggers of
0008.

Revision ID: 0011_round_submission_token
Revises: 0010_household_label_key
Create Date: 2026-12-06 06:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_round_submission_token'
down_revision = '0010_household_label_key'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('rounds', sa.Column('submission_token', sa.String(length=64), nullable=True))
    op.create_index(op.f('ix_rounds_submission_token'), 'rounds', ['submission_token'],
                    unique=True)


def downgrade():
    op.drop_index(op.f('ix_rounds_submission_token'), table_name='rounds')
    with op.batch_alter_table('rounds', recreate='never') as batch_op:
        batch_op.drop_column('submission_token')
