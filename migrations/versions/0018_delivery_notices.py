"""delivery notices: a delivery save records whose bill changed; the notification sweep
turns them into e-mails, so a big round's save does not render thousands of e-mails

A new table only, so SQLite rebuilds nothing (no version triggers are touched).

Revision ID: 0018_delivery_notices
Revises: 0017_spare_units
Create Date: 2026-12-12 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018_delivery_notices'
down_revision = '0017_spare_units'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('delivery_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('statement_id', sa.Integer(), nullable=False),
    sa.Column('delivery_version', sa.Integer(), nullable=False),
    sa.Column('card_back_pence', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('queued_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('card_back_pence >= 0',
                       name=op.f('ck_delivery_notices_card_back_non_negative')),
    sa.ForeignKeyConstraint(['statement_id'], ['statements.id'],
                            name=op.f('fk_delivery_notices_statement_id_statements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_notices'))
    )
    with op.batch_alter_table('delivery_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_notices_statement_id'),
                              ['statement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_notices_queued_at'),
                              ['queued_at'], unique=False)


def downgrade():
    with op.batch_alter_table('delivery_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_notices_queued_at'))
        batch_op.drop_index(batch_op.f('ix_delivery_notices_statement_id'))
    op.drop_table('delivery_notices')
