"""visits remember when their personal data were purged

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 11:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('visits') as batch:
        batch.add_column(sa.Column('purged_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.create_index(batch.f('ix_visits_ended_at'), ['ended_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('visits') as batch:
        batch.drop_index(batch.f('ix_visits_ended_at'))
        batch.drop_column('purged_at')
