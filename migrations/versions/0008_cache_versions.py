"""cache versions: rounds.version, groups.settings_version, groups.households_version,
kept by the database itself (triggers)

Every kept page or fragment is keyed by these numbers (and pledge_version), never by a
list of fields: whatever writes the rows (a use case, a bulk UPDATE, a hand-typed SQL
fix), the database bumps the number in the same transaction.

- rounds.version: any change to a round other than its pledge_version; any product of
  the round added, removed or changed in what pages show; its supplier renamed.
- groups.settings_version: any change to the group's own row.
- groups.households_version: a household of the group added, removed, renamed or moved,
  or someone joining or leaving one.

SQLite drops a table's triggers when a batch migration rebuilds the table: a later
migration that rebuilds rounds, round_items, suppliers, groups or households must
create this revision's triggers again (see TRIGGERS below).

Revision ID: 0008_cache_versions
Revises: 0007_payment_retry_state
Create Date: 2026-12-07 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_cache_versions'
down_revision = '0007_payment_retry_state'
branch_labels = None
depends_on = None

COLUMNS = (
    ('rounds', 'version'),
    ('groups', 'settings_version'),
    ('groups', 'households_version'),
)

# (name, table, event, condition, body): the body is one SQL statement, run per row.
_BUMP_ROUND_NEW = "UPDATE rounds SET version = version + 1 WHERE id = NEW.round_id"
_BUMP_ROUND_OLD = "UPDATE rounds SET version = version + 1 WHERE id = OLD.round_id"
_BUMP_HOMES_NEW = ("UPDATE groups SET households_version = households_version + 1 "
                   "WHERE id = NEW.group_id")
_BUMP_HOMES_OLD = ("UPDATE groups SET households_version = households_version + 1 "
                   "WHERE id = OLD.group_id")
_SHOWN_ITEM_COLUMNS = "name, unit_description, case_size, case_price_pence, round_id"
TRIGGERS = (
    ('bb_round_items_added', 'round_items', 'INSERT', None, _BUMP_ROUND_NEW),
    ('bb_round_items_removed', 'round_items', 'DELETE', None, _BUMP_ROUND_OLD),
    ('bb_round_items_changed', 'round_items', f'UPDATE OF {_SHOWN_ITEM_COLUMNS}', None,
     _BUMP_ROUND_NEW),
    ('bb_round_items_moved', 'round_items', 'UPDATE OF round_id',
     'NEW.round_id <> OLD.round_id', _BUMP_ROUND_OLD),
    ('bb_suppliers_renamed', 'suppliers', 'UPDATE OF name', None,
     "UPDATE rounds SET version = version + 1 WHERE supplier_id = NEW.id"),
    ('bb_households_added', 'households', 'INSERT', None, _BUMP_HOMES_NEW),
    ('bb_households_removed', 'households', 'DELETE', None, _BUMP_HOMES_OLD),
    ('bb_households_changed', 'households', 'UPDATE OF label, block, group_id', None,
     _BUMP_HOMES_NEW),
    ('bb_households_moved', 'households', 'UPDATE OF group_id',
     'NEW.group_id <> OLD.group_id', _BUMP_HOMES_OLD),
    # Who is in a household decides whose pledges count as a helper's ("Entered at the
    # drop-in with ...").
    ('bb_memberships_added', 'memberships', 'INSERT', None, _BUMP_HOMES_NEW),
    ('bb_memberships_removed', 'memberships', 'DELETE', None, _BUMP_HOMES_OLD),
    ('bb_memberships_changed', 'memberships', 'UPDATE OF household_id, user_id, group_id',
     None, _BUMP_HOMES_NEW),
    ('bb_memberships_moved', 'memberships', 'UPDATE OF group_id',
     'NEW.group_id <> OLD.group_id', _BUMP_HOMES_OLD),
)
# A row's own version: bumped by any UPDATE that leaves its version numbers alone (an
# UPDATE that sets one, such as a pledge's pledge_version + 1, is the writer's own).
OWN_VERSIONS = (
    ('bb_rounds_version', 'rounds', 'version',
     'NEW.version = OLD.version AND NEW.pledge_version = OLD.pledge_version'),
    ('bb_groups_settings_version', 'groups', 'settings_version',
     'NEW.settings_version = OLD.settings_version '
     'AND NEW.households_version = OLD.households_version'),
)


def _sqlite_up():
    for name, table, event, condition, body in TRIGGERS:
        when = f" WHEN {condition}" if condition else ""
        op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when} "
                   f"BEGIN {body}; END")
    for name, table, column, condition in OWN_VERSIONS:
        # SQLite's recursive_triggers is off, and the inner UPDATE changes the version:
        # it never fires this trigger again.
        op.execute(f"CREATE TRIGGER {name} AFTER UPDATE ON {table} FOR EACH ROW "
                   f"WHEN {condition} BEGIN UPDATE {table} SET {column} = {column} + 1 "
                   f"WHERE id = NEW.id; END")


def _postgresql_up():
    for name, table, event, condition, body in TRIGGERS:
        row = "OLD" if event == 'DELETE' else "NEW"
        op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN {body}; RETURN {row}; END $$")
        when = f" WHEN ({condition})" if condition else ""
        op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when} "
                   f"EXECUTE FUNCTION {name}()")
    for name, table, column, condition in OWN_VERSIONS:
        op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN NEW.{column} := OLD.{column} + 1; RETURN NEW; END $$")
        op.execute(f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW "
                   f"WHEN ({condition}) EXECUTE FUNCTION {name}()")


def upgrade():
    for table, column in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(column, sa.Integer(), server_default='0',
                                          nullable=False))
    if op.get_bind().dialect.name == 'postgresql':
        _postgresql_up()
    else:
        _sqlite_up()


def downgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    names = [(name, table) for name, table, *_rest in TRIGGERS]
    names += [(name, table) for name, table, *_rest in OWN_VERSIONS]
    for name, table in names:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table, column in reversed(COLUMNS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column(column)
