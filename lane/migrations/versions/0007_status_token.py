"""visits: the unguessable token of the driver's status page (QR on the receipt)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 11:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('visits') as batch:
        batch.add_column(sa.Column('status_token', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch.create_index(batch.f('ix_visits_status_token'), ['status_token'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('visits') as batch:
        batch.drop_index(batch.f('ix_visits_status_token'))
        batch.drop_column('status_token')
