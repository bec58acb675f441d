"""stage_transitions: a note's message id and values, for pages to say it in their language

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 14:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stage_transitions') as batch:
        batch.add_column(sa.Column('note_facts', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stage_transitions') as batch:
        batch.drop_column('note_facts')
