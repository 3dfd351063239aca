"""the impact report's per-round totals (round_impact): written when a round closes,
brought up to date when what arrived is saved and when it is cancelled after closing
(bulkbuy.services.impact), so the report never adds up pledge lines.

Only a new table: rounds, groups, households and statements are not touched (SQLite's
version triggers of 0008 stay). Rounds closed before this are filled in by
`flask --app bulkbuy impact-backfill`.

Revision ID: 0026_round_impact
Revises: 0025_languages_dropins_pictures
Create Date: 2026-12-20 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026_round_impact'
down_revision = '0025_languages_dropins_pictures'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('round_impact',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('failed_reason', sa.String(length=30), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=False),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('new_households', sa.Integer(), nullable=False),
    sa.Column('assisted_households', sa.Integer(), nullable=False),
    sa.Column('goods_pence', sa.Integer(), nullable=False),
    sa.Column('fees_pence', sa.Integer(), nullable=False),
    sa.Column('saving_pence', sa.Integer(), nullable=False),
    sa.Column('unpriced_lines', sa.Integer(), server_default='0', nullable=False),
    sa.Column('pot_pence', sa.Integer(), server_default='0', nullable=False),
    sa.Column('time_credit_pence', sa.Integer(), server_default='0', nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("outcome IN ('ran', 'failed', 'cancelled')",
                       name=op.f('ck_round_impact_outcome_known')),
    sa.CheckConstraint("failed_reason IS NULL OR failed_reason IN "
                       "('below_minimum', 'cancelled_after_close')",
                       name=op.f('ck_round_impact_failed_reason_known')),
    sa.CheckConstraint('households >= 0 AND new_households >= 0 AND '
                       'new_households <= households AND assisted_households >= 0 AND '
                       'assisted_households <= households',
                       name=op.f('ck_round_impact_counts_ok')),
    sa.CheckConstraint('goods_pence >= 0 AND fees_pence >= 0 AND pot_pence >= 0 AND '
                       'time_credit_pence >= 0',
                       name=op.f('ck_round_impact_money_non_negative')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'],
                            name=op.f('fk_round_impact_group_id_groups')),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'],
                            name=op.f('fk_round_impact_round_id_rounds')),
    sa.PrimaryKeyConstraint('round_id', name=op.f('pk_round_impact'))
    )
    with op.batch_alter_table('round_impact', schema=None) as batch_op:
        batch_op.create_index('ix_round_impact_group_id_closed_at',
                              ['group_id', 'closed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('round_impact', schema=None) as batch_op:
        batch_op.drop_index('ix_round_impact_group_id_closed_at')
    op.drop_table('round_impact')
