"""alerts: their facts (stage, device, plate, minutes...) for the console to say in its language

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 14:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.add_column(sa.Column('facts', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.drop_column('facts')
