"""activity: the store order's name (#1001) as the merchant knows it

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 19:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("order_name", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_column("order_name")
