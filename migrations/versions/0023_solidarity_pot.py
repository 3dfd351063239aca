"""solidarity pot: a group's pot ledger (solidarity_entries), its rule
(solidarity_settings), the households it supports (supported_households), and what the
pot paid on each bill (statements.pot_pence)

statements only gets a column (op.add_column), so SQLite never rebuilds it (its version
triggers of 0008 stay); groups is not touched.

Revision ID: 0023_solidarity_pot
Revises: 0022_retail_price_in_rounds
Create Date: 2026-12-17 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023_solidarity_pot'
down_revision = '0022_retail_price_in_rounds'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('statements', sa.Column('pot_pence', sa.Integer(), nullable=False,
                                          server_default='0'))
    op.create_table('solidarity_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('amount_pence', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('statement_id', sa.Integer(), nullable=True),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('amount_pence <> 0',
                       name=op.f('ck_solidarity_entries_amount_not_zero')),
    sa.CheckConstraint("reason IN ('donation', 'round_help', 'help_given_back')",
                       name=op.f('ck_solidarity_entries_reason_known')),
    sa.CheckConstraint("reason <> 'donation' OR amount_pence > 0",
                       name=op.f('ck_solidarity_entries_donation_in')),
    sa.CheckConstraint("reason <> 'round_help' OR amount_pence < 0",
                       name=op.f('ck_solidarity_entries_help_out')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'],
                            name=op.f('fk_solidarity_entries_group_id_groups')),
    sa.ForeignKeyConstraint(['statement_id'], ['statements.id'],
                            name=op.f('fk_solidarity_entries_statement_id_statements')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'],
                            name=op.f('fk_solidarity_entries_household_id_households')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                            name=op.f('fk_solidarity_entries_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_solidarity_entries'))
    )
    with op.batch_alter_table('solidarity_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_solidarity_entries_group_id'), ['group_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_solidarity_entries_statement_id'),
                              ['statement_id'], unique=False)
    op.create_table('solidarity_settings',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('goods_share_percent', sa.Integer(), server_default='0', nullable=False),
    sa.Column('cap_pence', sa.Integer(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('goods_share_percent >= 0 AND goods_share_percent <= 100',
                       name=op.f('ck_solidarity_settings_share_is_percent')),
    sa.CheckConstraint('cap_pence IS NULL OR cap_pence >= 0',
                       name=op.f('ck_solidarity_settings_cap_non_negative')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'],
                            name=op.f('fk_solidarity_settings_group_id_groups')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'],
                            name=op.f('fk_solidarity_settings_updated_by_id_users')),
    sa.PrimaryKeyConstraint('group_id', name=op.f('pk_solidarity_settings'))
    )
    op.create_table('supported_households',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('marked_by_id', sa.Integer(), nullable=True),
    sa.Column('marked_at', sa.DateTime(), nullable=False),
    sa.Column('unmarked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'],
                            name=op.f('fk_supported_households_group_id_groups')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'],
                            name=op.f('fk_supported_households_household_id_households')),
    sa.ForeignKeyConstraint(['marked_by_id'], ['users.id'],
                            name=op.f('fk_supported_households_marked_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supported_households')),
    sa.UniqueConstraint('household_id', name=op.f('uq_supported_households_household_id'))
    )
    with op.batch_alter_table('supported_households', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supported_households_group_id'), ['group_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('supported_households', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supported_households_group_id'))
    op.drop_table('supported_households')
    op.drop_table('solidarity_settings')
    with op.batch_alter_table('solidarity_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_solidarity_entries_statement_id'))
        batch_op.drop_index(batch_op.f('ix_solidarity_entries_group_id'))
    op.drop_table('solidarity_entries')
    with op.batch_alter_table('statements', recreate='never') as batch_op:
        batch_op.drop_column('pot_pence')
