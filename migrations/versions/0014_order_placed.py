"""order placed: the supplier's reference, the expected delivery date, who marked it and when

Columns are only added (op.add_column, the foreign key inline), so SQLite never rebuilds
rounds on the way up and keeps the cache-version triggers of 0008.

Revision ID: 0014_order_placed
Revises: 0013_cash_reversals
Create Date: 2026-12-08 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_order_placed'
down_revision = '0013_cash_reversals'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('rounds', sa.Column('supplier_reference', sa.String(length=80),
                                      nullable=True))
    op.add_column('rounds', sa.Column('expected_delivery_on', sa.Date(), nullable=True))
    op.add_column('rounds', sa.Column('ordered_at', sa.DateTime(), nullable=True))
    op.add_column('rounds', sa.Column(
        'ordered_by_id', sa.Integer(),
        sa.ForeignKey('users.id', name=op.f('fk_rounds_ordered_by_id_users')),
        nullable=True), inline_references=True)


def downgrade():
    with op.batch_alter_table('rounds', recreate='never') as batch_op:
        batch_op.drop_column('ordered_by_id')
        batch_op.drop_column('ordered_at')
        batch_op.drop_column('expected_delivery_on')
        batch_op.drop_column('supplier_reference')
