"""spare units: more of a product arrived than households get; staff sell them (cash,
with a receipt) or give them away (with a reason)

A new table only, so SQLite rebuilds nothing (no version triggers are touched).

Revision ID: 0017_spare_units
Revises: 0016_deliveries
Create Date: 2026-12-11 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017_spare_units'
down_revision = '0016_deliveries'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('spare_disposals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('round_item_id', sa.Integer(), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('unit_pence', sa.Integer(), nullable=True),
    sa.Column('cash_pence', sa.Integer(), nullable=True),
    sa.Column('buyer', sa.String(length=80), nullable=True),
    sa.Column('receipt_number', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('units > 0', name=op.f('ck_spare_disposals_units_positive')),
    sa.CheckConstraint("kind IN ('sold', 'given_away')",
                       name=op.f('ck_spare_disposals_kind_known')),
    sa.CheckConstraint("kind <> 'sold' OR (unit_pence > 0 AND cash_pence = units * unit_pence "
                       "AND receipt_number IS NOT NULL AND reason IS NULL)",
                       name=op.f('ck_spare_disposals_sold_has_price_and_receipt')),
    sa.CheckConstraint("kind <> 'given_away' OR (unit_pence IS NULL AND cash_pence IS NULL "
                       "AND receipt_number IS NULL AND reason IS NOT NULL)",
                       name=op.f('ck_spare_disposals_given_away_has_reason')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'],
                            name=op.f('fk_spare_disposals_group_id_groups')),
    sa.ForeignKeyConstraint(['round_item_id'], ['round_items.id'],
                            name=op.f('fk_spare_disposals_round_item_id_round_items')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                            name=op.f('fk_spare_disposals_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spare_disposals')),
    sa.UniqueConstraint('group_id', 'receipt_number',
                        name=op.f('uq_spare_disposals_group_id'))
    )
    with op.batch_alter_table('spare_disposals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spare_disposals_round_item_id'),
                              ['round_item_id'], unique=False)


def downgrade():
    with op.batch_alter_table('spare_disposals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spare_disposals_round_item_id'))
    op.drop_table('spare_disposals')
