"""pending_joins: a new account is made when the link e-mailed to its address is followed

Revision ID: 0012_pending_joins
Revises: 0011_round_submission_token
Create Date: 2026-12-06 06:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_pending_joins'
down_revision = '0011_round_submission_token'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('pending_joins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('household_label', sa.String(length=60), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'],
                            name=op.f('fk_pending_joins_group_id_groups')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_joins')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_pending_joins_token_hash'))
    )
    with op.batch_alter_table('pending_joins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_joins_group_id'), ['group_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('pending_joins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_joins_group_id'))
    op.drop_table('pending_joins')
