"""savings: each round's products keep the shop price of one unit as it was when the round
opened (round_items.retail_price_pence), so a bill's saving never follows later edits

A column is only added (op.add_column), so SQLite never rebuilds round_items (its
version triggers of 0008 stay).

Revision ID: 0022_retail_price_in_rounds
Revises: 0021_audit_indexes
Create Date: 2026-12-16 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022_retail_price_in_rounds'
down_revision = '0021_audit_indexes'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('round_items', sa.Column('retail_price_pence', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('round_items', recreate='never') as batch_op:
        batch_op.drop_column('retail_price_pence')
