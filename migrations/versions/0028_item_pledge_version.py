"""round_items.pledge_version: bumped by the database whenever a pledge line of the
product is added, changed or removed (triggers), so what one product of an open round
would come to can be kept per product (round_view.round_likely) and a pledge for one
product no longer throws away the others'.

round_items only gets a column (op.add_column), so SQLite never rebuilds it (the version
triggers of 0008 stay). An UPDATE of pledge_version names none of the columns 0008's
round_items triggers watch, so it does not bump rounds.version.

Also: a product's max_cases changed bumps rounds.version (0008 did not watch it: no
page showed it, but what a product would come to depends on it).

Revision ID: 0028_item_pledge_version
Revises: 0027_pot_gifts
Create Date: 2026-12-22 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0028_item_pledge_version'
down_revision = '0027_pot_gifts'
branch_labels = None
depends_on = None

_BUMP_NEW = ("UPDATE round_items SET pledge_version = pledge_version + 1 "
             "WHERE id = NEW.round_item_id")
_BUMP_OLD = ("UPDATE round_items SET pledge_version = pledge_version + 1 "
             "WHERE id = OLD.round_item_id")
# (name, event, condition, body): the body is one SQL statement, run per row.
TRIGGERS = (
    ('bb_pledge_lines_added', 'INSERT', None, _BUMP_NEW),
    ('bb_pledge_lines_removed', 'DELETE', None, _BUMP_OLD),
    ('bb_pledge_lines_changed', 'UPDATE', None, _BUMP_NEW),
    ('bb_pledge_lines_moved', 'UPDATE OF round_item_id',
     'NEW.round_item_id <> OLD.round_item_id', _BUMP_OLD),
)


# (name, table, event, condition, body)
ALL_TRIGGERS = (
    *(('pledge_lines', *trigger) for trigger in TRIGGERS),
    ('round_items', 'bb_round_items_capped', 'UPDATE OF max_cases', None,
     "UPDATE rounds SET version = version + 1 WHERE id = NEW.round_id"),
)


def upgrade():
    op.add_column('round_items', sa.Column('pledge_version', sa.Integer(), nullable=False,
                                           server_default='0'))
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for table, name, event, condition, body in ALL_TRIGGERS:
        if postgresql:
            row = "OLD" if event == 'DELETE' else "NEW"
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                       f"BEGIN {body}; RETURN {row}; END $$")
            when = f" WHEN ({condition})" if condition else ""
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW"
                       f"{when} EXECUTE FUNCTION {name}()")
        else:
            when = f" WHEN {condition}" if condition else ""
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW"
                       f"{when} BEGIN {body}; END")


def downgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for table, name, *_rest in ALL_TRIGGERS:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_column('round_items', 'pledge_version')
