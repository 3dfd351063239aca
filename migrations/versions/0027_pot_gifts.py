"""gifts to the solidarity pot: a household's gift choice with its card consent
(card_consents.gift_kind, gift_fixed_pence), the gift decided at close on its bill
(statements.gift_pence), the pot's new reasons ('gift', 'gift_given_back', 'write_off')
with the card or cash payment a gift came with (solidarity_entries.card_payment_id,
cash_payment_id: one gift per payment), and time credits' 'correction' entries.

statements and card_consents only get columns (op.add_column), so SQLite never rebuilds
them (the version triggers of 0008 stay). solidarity_entries and time_credit_entries
have their checks replaced (batch_alter_table recreates them on SQLite; nothing refers
to them).

Revision ID: 0027_pot_gifts
Revises: 0026_round_impact
Create Date: 2026-12-21 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0027_pot_gifts'
down_revision = '0026_round_impact'
branch_labels = None
depends_on = None

OLD_POT = "reason IN ('donation', 'round_help', 'help_given_back')"
NEW_POT = ("reason IN ('donation', 'round_help', 'help_given_back', 'gift', "
           "'gift_given_back', 'write_off')")
OLD_TIME = "reason IN ('dropin_helper', 'packing', 'other', 'used', 'given_back')"
NEW_TIME = ("reason IN ('dropin_helper', 'packing', 'other', 'used', 'given_back', "
            "'correction')")


def upgrade():
    op.add_column('statements', sa.Column('gift_pence', sa.Integer(), nullable=False,
                                          server_default='0'))
    op.add_column('card_consents', sa.Column('gift_kind', sa.String(length=10),
                                             nullable=True))
    op.add_column('card_consents', sa.Column('gift_fixed_pence', sa.Integer(),
                                             nullable=True))
    with op.batch_alter_table('solidarity_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_payment_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cash_payment_id', sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f('ck_solidarity_entries_reason_known'),
                                 type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_solidarity_entries_reason_known'),
                                         NEW_POT)
        batch_op.create_check_constraint(
            batch_op.f('ck_solidarity_entries_gift_in'),
            "reason <> 'gift' OR amount_pence > 0")
        batch_op.create_check_constraint(
            batch_op.f('ck_solidarity_entries_write_off_out'),
            "reason <> 'write_off' OR amount_pence < 0")
        batch_op.create_foreign_key(
            batch_op.f('fk_solidarity_entries_card_payment_id_card_payments'),
            'card_payments', ['card_payment_id'], ['id'])
        batch_op.create_foreign_key(
            batch_op.f('fk_solidarity_entries_cash_payment_id_cash_payments'),
            'cash_payments', ['cash_payment_id'], ['id'])
        batch_op.create_unique_constraint(
            batch_op.f('uq_solidarity_entries_card_payment_id'),
            ['card_payment_id', 'reason'])
        batch_op.create_unique_constraint(
            batch_op.f('uq_solidarity_entries_cash_payment_id'),
            ['cash_payment_id', 'reason'])
    with op.batch_alter_table('time_credit_entries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_time_credit_entries_reason_known'),
                                 type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_time_credit_entries_reason_known'),
                                         NEW_TIME)
        batch_op.drop_constraint(batch_op.f('ck_time_credit_entries_others_in'),
                                 type_='check')
        batch_op.create_check_constraint(
            batch_op.f('ck_time_credit_entries_others_in'),
            "reason IN ('used', 'correction') OR credits >= 0")
        batch_op.create_check_constraint(
            batch_op.f('ck_time_credit_entries_correction_out'),
            "reason <> 'correction' OR credits < 0")


def downgrade():
    with op.batch_alter_table('time_credit_entries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_time_credit_entries_correction_out'),
                                 type_='check')
        batch_op.drop_constraint(batch_op.f('ck_time_credit_entries_others_in'),
                                 type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_time_credit_entries_others_in'),
                                         "reason = 'used' OR credits >= 0")
        batch_op.drop_constraint(batch_op.f('ck_time_credit_entries_reason_known'),
                                 type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_time_credit_entries_reason_known'),
                                         OLD_TIME)
    with op.batch_alter_table('solidarity_entries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_solidarity_entries_cash_payment_id'),
                                 type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_solidarity_entries_card_payment_id'),
                                 type_='unique')
        batch_op.drop_constraint(
            batch_op.f('fk_solidarity_entries_cash_payment_id_cash_payments'),
            type_='foreignkey')
        batch_op.drop_constraint(
            batch_op.f('fk_solidarity_entries_card_payment_id_card_payments'),
            type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('ck_solidarity_entries_write_off_out'),
                                 type_='check')
        batch_op.drop_constraint(batch_op.f('ck_solidarity_entries_gift_in'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_solidarity_entries_reason_known'),
                                 type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_solidarity_entries_reason_known'),
                                         OLD_POT)
        batch_op.drop_column('cash_payment_id')
        batch_op.drop_column('card_payment_id')
    with op.batch_alter_table('card_consents', recreate='never') as batch_op:
        batch_op.drop_column('gift_fixed_pence')
        batch_op.drop_column('gift_kind')
    with op.batch_alter_table('statements', recreate='never') as batch_op:
        batch_op.drop_column('gift_pence')
