"""initial schema: shops, activity, note entries

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 09:54:47.525462
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('shop', sa.String(length=255), nullable=False),
    sa.Column('store_order_id', sa.String(length=32), nullable=False),
    sa.Column('print_order_id', sa.String(length=64), nullable=True),
    sa.Column('topic', sa.String(length=64), nullable=True),
    sa.Column('status_seen', sa.String(length=32), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index('ix_activity_created', ['created_at'], unique=False)
        batch_op.create_index('ix_activity_shop_order', ['shop', 'store_order_id'], unique=False)

    op.create_table('note_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop', sa.String(length=255), nullable=False),
    sa.Column('store_order_id', sa.String(length=32), nullable=False),
    sa.Column('print_order_id', sa.String(length=64), nullable=False),
    sa.Column('entry_key', sa.String(length=128), nullable=False),
    sa.Column('ref', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('shop', 'store_order_id', 'print_order_id', 'entry_key', name='uq_note_entry')
    )
    op.create_table('shops',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('token_kind', sa.String(length=16), nullable=False),
    sa.Column('access_token', sa.Text(), nullable=True),
    sa.Column('access_token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refresh_token', sa.Text(), nullable=True),
    sa.Column('refresh_token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('scopes', sa.String(length=1024), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('cancel_and_replace', sa.Boolean(), nullable=False),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('uninstalled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_reconciled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('domain')
    )


def downgrade() -> None:
    op.drop_table('shops')
    op.drop_table('note_entries')
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_index('ix_activity_shop_order')
        batch_op.drop_index('ix_activity_created')

    op.drop_table('activity')
