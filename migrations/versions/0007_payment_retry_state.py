"""payment retry state as real columns

Revision ID: 0007_payment_retry_state
Revises: 0006_write_offs
Create Date: 2026-12-06 04:50:00

Until now an attempt Stripe answered with HTTP 5xx was marked by sentinel strings
in card_payments.error_code ('stripe_http_5xx', then 'stripe_http_5xx_looked_once'
after one empty look-up). They become two columns: answered_5xx and empty_lookups.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_payment_retry_state'
down_revision = '0006_write_offs'
branch_labels = None
depends_on = None

STRIPE_5XX = 'stripe_http_5xx'
STRIPE_5XX_LOOKED_ONCE = 'stripe_http_5xx_looked_once'


def upgrade():
    with op.batch_alter_table('card_payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answered_5xx', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.add_column(sa.Column('empty_lookups', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.create_check_constraint('empty_lookups_non_negative', 'empty_lookups >= 0')
    op.execute(sa.text(
        "UPDATE card_payments SET answered_5xx = :yes, empty_lookups = 0, error_code = NULL "
        "WHERE error_code = :marker").bindparams(yes=True, marker=STRIPE_5XX))
    op.execute(sa.text(
        "UPDATE card_payments SET answered_5xx = :yes, empty_lookups = 1, error_code = NULL "
        "WHERE error_code = :marker").bindparams(yes=True, marker=STRIPE_5XX_LOOKED_ONCE))


def downgrade():
    op.execute(sa.text(
        "UPDATE card_payments SET error_code = :marker "
        "WHERE answered_5xx = :yes AND empty_lookups = 0").bindparams(yes=True,
                                                                      marker=STRIPE_5XX))
    op.execute(sa.text(
        "UPDATE card_payments SET error_code = :marker "
        "WHERE answered_5xx = :yes AND empty_lookups > 0").bindparams(
            yes=True, marker=STRIPE_5XX_LOOKED_ONCE))
    with op.batch_alter_table('card_payments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_card_payments_empty_lookups_non_negative'),
                                 type_='check')
        batch_op.drop_column('empty_lookups')
        batch_op.drop_column('answered_5xx')
