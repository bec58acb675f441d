"""alerts: a cause, when their cause ended, when they were acknowledged

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 10:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.add_column(sa.Column('cause', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch.add_column(sa.Column('acknowledged_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('cleared_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.create_index(batch.f('ix_alerts_cleared_at'), ['cleared_at'], unique=False)
    # Alerts raised before this revision never cleared: their causes are long gone.
    op.execute("UPDATE alerts SET cleared_at = at WHERE cleared_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.drop_index(batch.f('ix_alerts_cleared_at'))
        batch.drop_column('cleared_at')
        batch.drop_column('acknowledged_at')
        batch.drop_column('cause')
