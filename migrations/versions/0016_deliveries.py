"""deliveries: what arrived, substitutes, statements restated with a line per change,
money owed back to a household (handed back in cash, or kept as a credit)

Columns are only added (op.add_column, foreign keys inline), so SQLite never rebuilds
rounds, round_items or statements (their version triggers of 0008 stay).

Revision ID: 0016_deliveries
Revises: 0015_collections
Create Date: 2026-12-10 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_deliveries'
down_revision = '0015_collections'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('rounds', sa.Column('delivery_version', sa.Integer(), nullable=False,
                                      server_default='0'))
    op.add_column('rounds', sa.Column('received_at', sa.DateTime(), nullable=True))
    op.add_column('rounds', sa.Column(
        'received_by_id', sa.Integer(),
        sa.ForeignKey('users.id', name=op.f('fk_rounds_received_by_id_users')),
        nullable=True), inline_references=True)
    op.add_column('rounds', sa.Column('invoice_total_pence', sa.Integer(), nullable=True))
    op.add_column('round_items', sa.Column(
        'substitute_for_id', sa.Integer(),
        sa.ForeignKey('round_items.id', name=op.f('fk_round_items_substitute_for_id_round_items')),
        nullable=True), inline_references=True)
    op.add_column('statements', sa.Column('owed_back_pence', sa.Integer(), nullable=False,
                                          server_default='0'))

    op.create_table('item_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_item_id', sa.Integer(), nullable=False),
    sa.Column('arrived_units', sa.Integer(), nullable=False),
    sa.Column('damaged_units', sa.Integer(), nullable=False),
    sa.Column('case_price_pence', sa.Integer(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('arrived_units >= 0', name=op.f('ck_item_receipts_arrived_non_negative')),
    sa.CheckConstraint('damaged_units >= 0 AND damaged_units <= arrived_units',
                       name=op.f('ck_item_receipts_damaged_within_arrived')),
    sa.CheckConstraint('case_price_pence IS NULL OR case_price_pence >= 0',
                       name=op.f('ck_item_receipts_case_price_non_negative')),
    sa.ForeignKeyConstraint(['round_item_id'], ['round_items.id'],
                            name=op.f('fk_item_receipts_round_item_id_round_items')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                            name=op.f('fk_item_receipts_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_item_receipts')),
    sa.UniqueConstraint('round_item_id', name=op.f('uq_item_receipts_round_item_id'))
    )
    op.create_table('statement_adjustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('statement_id', sa.Integer(), nullable=False),
    sa.Column('round_item_id', sa.Integer(), nullable=True),
    sa.Column('delivery_version', sa.Integer(), nullable=False),
    sa.Column('units_before', sa.Integer(), nullable=False),
    sa.Column('units_after', sa.Integer(), nullable=False),
    sa.Column('pence_before', sa.Integer(), nullable=False),
    sa.Column('pence_after', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('units_before >= 0 AND units_after >= 0 AND pence_before >= 0 '
                       'AND pence_after >= 0', name=op.f('ck_statement_adjustments_counts_ok')),
    sa.ForeignKeyConstraint(['statement_id'], ['statements.id'],
                            name=op.f('fk_statement_adjustments_statement_id_statements')),
    sa.ForeignKeyConstraint(['round_item_id'], ['round_items.id'],
                            name=op.f('fk_statement_adjustments_round_item_id_round_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_statement_adjustments'))
    )
    with op.batch_alter_table('statement_adjustments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_statement_adjustments_statement_id'),
                              ['statement_id'], unique=False)
    op.create_table('household_credits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('amount_pence', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('statement_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('amount_pence <> 0', name=op.f('ck_household_credits_amount_not_zero')),
    sa.CheckConstraint("reason IN ('owed_back', 'used')",
                       name=op.f('ck_household_credits_reason_known')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'],
                            name=op.f('fk_household_credits_group_id_groups')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'],
                            name=op.f('fk_household_credits_household_id_households')),
    sa.ForeignKeyConstraint(['statement_id'], ['statements.id'],
                            name=op.f('fk_household_credits_statement_id_statements')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                            name=op.f('fk_household_credits_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_household_credits'))
    )
    with op.batch_alter_table('household_credits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_household_credits_household_id'),
                              ['household_id'], unique=False)
    op.create_table('cash_returns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('statement_id', sa.Integer(), nullable=False),
    sa.Column('amount_pence', sa.Integer(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('amount_pence > 0', name=op.f('ck_cash_returns_amount_positive')),
    sa.ForeignKeyConstraint(['statement_id'], ['statements.id'],
                            name=op.f('fk_cash_returns_statement_id_statements')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                            name=op.f('fk_cash_returns_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cash_returns'))
    )
    with op.batch_alter_table('cash_returns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cash_returns_statement_id'), ['statement_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('cash_returns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cash_returns_statement_id'))
    op.drop_table('cash_returns')
    with op.batch_alter_table('household_credits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_household_credits_household_id'))
    op.drop_table('household_credits')
    with op.batch_alter_table('statement_adjustments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_statement_adjustments_statement_id'))
    op.drop_table('statement_adjustments')
    op.drop_table('item_receipts')
    with op.batch_alter_table('statements', recreate='never') as batch_op:
        batch_op.drop_column('owed_back_pence')
    with op.batch_alter_table('round_items', recreate='never') as batch_op:
        batch_op.drop_column('substitute_for_id')
    with op.batch_alter_table('rounds', recreate='never') as batch_op:
        batch_op.drop_column('invoice_total_pence')
        batch_op.drop_column('received_by_id')
        batch_op.drop_column('received_at')
        batch_op.drop_column('delivery_version')
