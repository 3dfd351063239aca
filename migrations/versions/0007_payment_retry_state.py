"""payment retry state as real columns

Revision ID: 0007_payment_retry_state
Revises: 0006_write_offs
Create Date: 2026-12-06 04:50:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0007_payment_retry_state'
down_revision = '0006_write_offs'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
