"""time credits: each household's ledger of time given and credits used
(time_credit_entries), the group's rule (time_credit_settings), and what credits took
off each bill's fee share (statements.time_credit_pence)

statements only gets a column (op.add_column), so SQLite never rebuilds it (its version
triggers of 0008 stay); groups and households are not touched.

Revision ID: 0024_time_credits
Revises: 0023_solidarity_pot
Create Date: 2026-12-18 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024_time_credits'
down_revision = '0023_solidarity_pot'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('statements', sa.Column('time_credit_pence', sa.Integer(), nullable=False,
                                          server_default='0'))
    op.create_table('time_credit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('credits', sa.Integer(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=True),
    sa.Column('carried_minutes', sa.Integer(), server_default='0', nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('tablet_session_id', sa.Integer(), nullable=True),
    sa.Column('statement_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint(
        "reason IN ('dropin_helper', 'packing', 'other', 'used', 'given_back')",
        name=op.f('ck_time_credit_entries_reason_known')),
    sa.CheckConstraint("reason <> 'used' OR credits < 0",
                       name=op.f('ck_time_credit_entries_used_out')),
    sa.CheckConstraint("reason = 'used' OR credits >= 0",
                       name=op.f('ck_time_credit_entries_others_in')),
    sa.CheckConstraint('minutes IS NULL OR minutes > 0',
                       name=op.f('ck_time_credit_entries_minutes_positive')),
    sa.CheckConstraint('carried_minutes >= 0',
                       name=op.f('ck_time_credit_entries_carried_non_negative')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'],
                            name=op.f('fk_time_credit_entries_group_id_groups')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'],
                            name=op.f('fk_time_credit_entries_household_id_households')),
    sa.ForeignKeyConstraint(['tablet_session_id'], ['tablet_sessions.id'],
                            name=op.f('fk_time_credit_entries_tablet_session_id_tablet_sessions')),
    sa.ForeignKeyConstraint(['statement_id'], ['statements.id'],
                            name=op.f('fk_time_credit_entries_statement_id_statements')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'],
                            name=op.f('fk_time_credit_entries_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_time_credit_entries')),
    sa.UniqueConstraint('tablet_session_id',
                        name=op.f('uq_time_credit_entries_tablet_session_id'))
    )
    with op.batch_alter_table('time_credit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_time_credit_entries_group_id'), ['group_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_time_credit_entries_household_id'),
                              ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_time_credit_entries_statement_id'),
                              ['statement_id'], unique=False)
    op.create_table('time_credit_settings',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('minutes_per_credit', sa.Integer(), server_default='60', nullable=False),
    sa.Column('pence_per_credit', sa.Integer(), server_default='0', nullable=False),
    sa.Column('most_per_round_pence', sa.Integer(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('minutes_per_credit >= 1',
                       name=op.f('ck_time_credit_settings_minutes_positive')),
    sa.CheckConstraint('pence_per_credit >= 0',
                       name=op.f('ck_time_credit_settings_pence_non_negative')),
    sa.CheckConstraint('most_per_round_pence IS NULL OR most_per_round_pence >= 0',
                       name=op.f('ck_time_credit_settings_most_non_negative')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'],
                            name=op.f('fk_time_credit_settings_group_id_groups')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'],
                            name=op.f('fk_time_credit_settings_updated_by_id_users')),
    sa.PrimaryKeyConstraint('group_id', name=op.f('pk_time_credit_settings'))
    )


def downgrade():
    op.drop_table('time_credit_settings')
    with op.batch_alter_table('time_credit_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_time_credit_entries_statement_id'))
        batch_op.drop_index(batch_op.f('ix_time_credit_entries_household_id'))
        batch_op.drop_index(batch_op.f('ix_time_credit_entries_group_id'))
    op.drop_table('time_credit_entries')
    with op.batch_alter_table('statements', recreate='never') as batch_op:
        batch_op.drop_column('time_credit_pence')
