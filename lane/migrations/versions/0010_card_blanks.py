"""the biometric capture's references kept with the visit; the card blank log

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 13:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('visits') as batch:
        for name in ('photo_ref', 'signature_ref', 'fingerprint_ref'):
            batch.add_column(sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    op.create_table(
        'card_blanks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('serial', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('job_key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('lane', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('visit_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('card_copy', sa.Integer(), nullable=False),
        sa.Column('printer', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column('spoiled_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('issued_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('card_blanks') as batch:
        batch.create_index(batch.f('ix_card_blanks_serial'), ['serial'], unique=True)
        batch.create_index(batch.f('ix_card_blanks_job_key'), ['job_key'], unique=True)
        batch.create_index(batch.f('ix_card_blanks_visit_id'), ['visit_id'], unique=False)
        batch.create_index(batch.f('ix_card_blanks_issued_at'), ['issued_at'], unique=False)


def downgrade() -> None:
    op.drop_table('card_blanks')
    with op.batch_alter_table('visits') as batch:
        for name in ('fingerprint_ref', 'signature_ref', 'photo_ref'):
            batch.drop_column(name)
