"""the role of the officer whose action waits (a supervisor's approval is checked again after a restart)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 09:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('officer_actions', sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                               server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('officer_actions') as batch:
        batch.drop_column('role')
