"""people and accounts: invites (staff and household), two-step sign-in, households
merged or removed, erasure requests

Columns are only added (op.add_column, foreign keys inline), so SQLite never rebuilds
users, groups or households on the way up and keeps the cache-version triggers of 0008.

Revision ID: 0019_people
Revises: 0018_delivery_notices
Create Date: 2026-12-13 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019_people'
down_revision = '0018_delivery_notices'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('totp_secret', sa.String(length=64), nullable=True))
    op.add_column('users', sa.Column('totp_enabled_at', sa.DateTime(), nullable=True))
    op.add_column('users', sa.Column('totp_last_step', sa.Integer(), nullable=True))
    op.add_column('users', sa.Column('erased_at', sa.DateTime(), nullable=True))
    op.add_column('groups', sa.Column('require_two_step', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.add_column('households', sa.Column('removed_at', sa.DateTime(), nullable=True))
    op.add_column('households', sa.Column(
        'merged_into_id', sa.Integer(),
        sa.ForeignKey('households.id', name=op.f('fk_households_merged_into_id_households')),
        nullable=True), inline_references=True)
    op.add_column('households', sa.Column('erased_at', sa.DateTime(), nullable=True))

    op.create_table('invites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=True),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('used_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("(kind = 'staff' AND role IN ('worker', 'organiser') "
                       "AND household_id IS NULL) OR (kind = 'household' AND role IS NULL "
                       "AND household_id IS NOT NULL)", name=op.f('ck_invites_kind_fits')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'],
                            name=op.f('fk_invites_group_id_groups')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'],
                            name=op.f('fk_invites_household_id_households')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'],
                            name=op.f('fk_invites_created_by_id_users')),
    sa.ForeignKeyConstraint(['used_by_id'], ['users.id'],
                            name=op.f('fk_invites_used_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invites')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invites_token_hash'))
    )
    with op.batch_alter_table('invites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invites_group_id'), ['group_id'], unique=False)

    op.create_table('recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_recovery_codes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_user_id'), ['user_id'],
                              unique=False)

    op.create_table('erasure_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('erased', 'refused')",
                       name=op.f('ck_erasure_requests_outcome_known')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'],
                            name=op.f('fk_erasure_requests_household_id_households')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'],
                            name=op.f('fk_erasure_requests_requested_by_id_users')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'],
                            name=op.f('fk_erasure_requests_decided_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasure_requests'))
    )
    with op.batch_alter_table('erasure_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_erasure_requests_household_id'),
                              ['household_id'], unique=False)


def downgrade():
    with op.batch_alter_table('erasure_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_erasure_requests_household_id'))
    op.drop_table('erasure_requests')
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_user_id'))
    op.drop_table('recovery_codes')
    with op.batch_alter_table('invites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invites_group_id'))
    op.drop_table('invites')
    with op.batch_alter_table('households', recreate='never') as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('removed_at')
    with op.batch_alter_table('groups', recreate='never') as batch_op:
        batch_op.drop_column('require_two_step')
    with op.batch_alter_table('users', recreate='never') as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_enabled_at')
        batch_op.drop_column('totp_secret')
