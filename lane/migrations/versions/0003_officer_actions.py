"""officer actions kept until the workflow takes them

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 18:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('officer_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lane', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('visit_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('taken_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_officer_actions_lane'), 'officer_actions', ['lane'], unique=False)
    op.create_index(op.f('ix_officer_actions_visit_id'), 'officer_actions', ['visit_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_officer_actions_visit_id'), table_name='officer_actions')
    op.drop_index(op.f('ix_officer_actions_lane'), table_name='officer_actions')
    op.drop_table('officer_actions')
