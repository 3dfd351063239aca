"""collection day: each household's bag of a delivered round, collected, kept or given away

A new table only, so SQLite rebuilds nothing (no version triggers are touched).

Revision ID: 0015_collections
Revises: 0014_order_placed
Create Date: 2026-12-09 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_collections'
down_revision = '0014_order_placed'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bag_handovers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('collected_by_name', sa.String(length=80), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('kept_at', sa.DateTime(), nullable=True),
    sa.Column('handled_by_id', sa.Integer(), nullable=False),
    sa.Column('handled_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('collected', 'kept', 'given_away')",
                       name=op.f('ck_bag_handovers_status_known')),
    sa.CheckConstraint("status = 'collected' OR reason IS NOT NULL",
                       name=op.f('ck_bag_handovers_reason_when_not_collected')),
    sa.CheckConstraint("collected_by_name IS NULL OR status = 'collected'",
                       name=op.f('ck_bag_handovers_neighbour_only_when_collected')),
    sa.CheckConstraint("status <> 'kept' OR kept_at IS NOT NULL",
                       name=op.f('ck_bag_handovers_kept_has_time')),
    sa.ForeignKeyConstraint(['handled_by_id'], ['users.id'],
                            name=op.f('fk_bag_handovers_handled_by_id_users')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'],
                            name=op.f('fk_bag_handovers_household_id_households')),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'],
                            name=op.f('fk_bag_handovers_round_id_rounds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bag_handovers')),
    sa.UniqueConstraint('round_id', 'household_id', name=op.f('uq_bag_handovers_round_id'))
    )
    with op.batch_alter_table('bag_handovers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bag_handovers_household_id'), ['household_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('bag_handovers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bag_handovers_household_id'))
    op.drop_table('bag_handovers')
