"""languages, drop-in sessions, last calls and pictures (issue: every household reached):
the language a person (users.locale), a household (households.locale: its e-mails and
slips) and a tablet turn (tablet_visits.locale) use; whether a household wants its news
on paper (households.paper_slips); the group's drop-in times and places
(drop_in_sessions); the one "last call to fill a box" per round item (last_calls); and a
product's picture (products.picture: the stored file's name).

users, households, tablet_visits and products only get columns (op.add_column), so
SQLite never rebuilds households (its version triggers of 0008 stay).

Revision ID: 0025_languages_dropins_pictures
Revises: 0024_time_credits
Create Date: 2026-12-19 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025_languages_dropins_pictures'
down_revision = '0024_time_credits'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('locale', sa.String(length=8), nullable=True))
    op.add_column('households', sa.Column('locale', sa.String(length=8), nullable=True))
    op.add_column('households', sa.Column('paper_slips', sa.Boolean(), nullable=False,
                                          server_default=sa.false()))
    op.add_column('tablet_visits', sa.Column('locale', sa.String(length=8), nullable=True))
    op.add_column('products', sa.Column('picture', sa.String(length=80), nullable=True))
    op.create_table('drop_in_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=True),
    sa.Column('on_date', sa.Date(), nullable=True),
    sa.Column('starts', sa.Time(), nullable=False),
    sa.Column('ends', sa.Time(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('removed_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('(weekday IS NULL) <> (on_date IS NULL)',
                       name=op.f('ck_drop_in_sessions_weekly_or_once')),
    sa.CheckConstraint('weekday IS NULL OR (weekday >= 0 AND weekday <= 6)',
                       name=op.f('ck_drop_in_sessions_weekday_known')),
    sa.CheckConstraint('ends > starts', name=op.f('ck_drop_in_sessions_ends_after_start')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'],
                            name=op.f('fk_drop_in_sessions_group_id_groups')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drop_in_sessions'))
    )
    with op.batch_alter_table('drop_in_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drop_in_sessions_group_id'), ['group_id'],
                              unique=False)
    op.create_table('last_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('round_item_id', sa.Integer(), nullable=False),
    sa.Column('units_short', sa.Integer(), nullable=False),
    sa.Column('saving_per_unit_pence', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('units_short > 0', name=op.f('ck_last_calls_units_short_positive')),
    sa.CheckConstraint('saving_per_unit_pence >= 0',
                       name=op.f('ck_last_calls_saving_non_negative')),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'],
                            name=op.f('fk_last_calls_round_id_rounds')),
    sa.ForeignKeyConstraint(['round_item_id'], ['round_items.id'],
                            name=op.f('fk_last_calls_round_item_id_round_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_last_calls')),
    sa.UniqueConstraint('round_item_id', name=op.f('uq_last_calls_round_item_id'))
    )
    with op.batch_alter_table('last_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_last_calls_round_id'), ['round_id'], unique=False)


def downgrade():
    with op.batch_alter_table('last_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_last_calls_round_id'))
    op.drop_table('last_calls')
    with op.batch_alter_table('drop_in_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drop_in_sessions_group_id'))
    op.drop_table('drop_in_sessions')
    for table, columns in (('products', ['picture']), ('tablet_visits', ['locale']),
                           ('households', ['paper_slips', 'locale']), ('users', ['locale'])):
        with op.batch_alter_table(table, recreate='never') as batch_op:
            for column in columns:
                batch_op.drop_column(column)
