"""households.label_key: names that only look different are the same name

Adds the key (domain.labels.label_key of the label) and a unique index on
(group_id, label_key). Added without rebuilding the table, so SQLite keeps the
cache-version triggers of 0008 (and the column stays nullable in the schema;
the model always sets it). Where existing names of a group already share a key,
the later household's key gets "#<id>" so the index can be made; its name is
left as it was, for an organiser to change.

Revision ID: 0010_household_label_key
Revises: 0009_session_generation
Create Date: 2026-12-06 06:00:00

"""
from alembic import op
import sqlalchemy as sa

from bulkbuy.domain.labels import label_key


# revision identifiers, used by Alembic.
revision = '0010_household_label_key'
down_revision = '0009_session_generation'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('households', sa.Column('label_key', sa.String(length=120), nullable=True))
    households = sa.table('households', sa.column('id', sa.Integer),
                          sa.column('group_id', sa.Integer), sa.column('label', sa.String),
                          sa.column('label_key', sa.String))
    connection = op.get_bind()
    seen = set()
    rows = connection.execute(
        sa.select(households.c.id, households.c.group_id, households.c.label)
        .order_by(households.c.id)).all()
    for household_id, group_id, label in rows:
        key = label_key(label)
        if (group_id, key) in seen:
            key = f"{key}#{household_id}"
        seen.add((group_id, key))
        connection.execute(households.update().where(households.c.id == household_id)
                           .values(label_key=key))
    op.create_index('uq_households_group_id_label_key', 'households',
                    ['group_id', 'label_key'], unique=True)


def downgrade():
    op.drop_index('uq_households_group_id_label_key', table_name='households')
    with op.batch_alter_table('households', recreate='never') as batch_op:
        batch_op.drop_column('label_key')
