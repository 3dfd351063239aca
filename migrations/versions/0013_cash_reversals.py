"""cash reversals and undone write-offs: a mistake is corrected by a new, audited record

Columns are only added (op.add_column, foreign keys inline), so SQLite never rebuilds
cash_payments or write_offs on the way up.

Revision ID: 0013_cash_reversals
Revises: 0012_pending_joins
Create Date: 2026-12-07 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_cash_reversals'
down_revision = '0012_pending_joins'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('cash_payments', sa.Column('reversed_at', sa.DateTime(), nullable=True))
    op.add_column('cash_payments', sa.Column(
        'reversed_by_id', sa.Integer(),
        sa.ForeignKey('users.id', name=op.f('fk_cash_payments_reversed_by_id_users')),
        nullable=True), inline_references=True)
    op.add_column('cash_payments', sa.Column('reversal_reason', sa.String(length=200),
                                             nullable=True))
    op.add_column('write_offs', sa.Column('undone_at', sa.DateTime(), nullable=True))
    op.add_column('write_offs', sa.Column(
        'undone_by_id', sa.Integer(),
        sa.ForeignKey('users.id', name=op.f('fk_write_offs_undone_by_id_users')),
        nullable=True), inline_references=True)


def downgrade():
    # The old schema has no way to say an entry was reversed: such rows would count
    # as paid again, so going down is refused while there are any.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM cash_payments WHERE reversed_at IS NOT NULL "
                            "UNION ALL SELECT count(*) FROM write_offs "
                            "WHERE undone_at IS NOT NULL")).scalars().all() != [0, 0]:
        raise RuntimeError("reversed cash or undone write-offs exist: not going down")
    # (A column's inline foreign key goes with it; SQLite copies the table to drop one.)
    with op.batch_alter_table('write_offs', schema=None) as batch_op:
        batch_op.drop_column('undone_by_id')
        batch_op.drop_column('undone_at')
    with op.batch_alter_table('cash_payments', schema=None) as batch_op:
        batch_op.drop_column('reversal_reason')
        batch_op.drop_column('reversed_by_id')
        batch_op.drop_column('reversed_at')
