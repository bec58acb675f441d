"""accounts: the pages' language each officer chose (Bahasa Indonesia unless English)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 12:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('accounts') as batch:
        batch.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False,
                                   server_default='id'))


def downgrade() -> None:
    with op.batch_alter_table('accounts') as batch:
        batch.drop_column('language')
