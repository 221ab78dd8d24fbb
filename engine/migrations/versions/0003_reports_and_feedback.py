"""reports and feedback

The per-day rollup of closed dossiers and its watermark (engine.rollup), and
the indexes of the ledger and the dashboard. Citizen feedback needs no table
of its own: a feedback case is a dossier of procedure PAKN-01.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa
import engine.models.base

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

LIVE_COLUMNS = ['id', 'status', 'receiving_unit_id', 'jurisdiction_id', 'procedure_version_id', 'channel', 'due_at',
                'paused_since', 'finished_at', 'result_timing', 'supplement_requests', 'original_due_at', 'rating',
                'counting_from', 'paused_minutes']
COUNTS = ('received', 'finished', 'early', 'on_time', 'late', 'refused', 'withdrawn', 'online', 'counter',
          'post', 'rated', 'complaint', 'rating_sum', 'days_n')


def upgrade() -> None:
    op.create_table('report_day',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('receiving_unit_id', sa.Integer(), nullable=False),
    sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
    sa.Column('procedure_version_id', sa.Integer(), nullable=False),
    *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS],
    sa.Column('days_sum', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['jurisdiction_id'], ['jurisdiction.id'], name=op.f('fk_report_day_jurisdiction_id_jurisdiction')),
    sa.ForeignKeyConstraint(['procedure_version_id'], ['procedure_version.id'], name=op.f('fk_report_day_procedure_version_id_procedure_version')),
    sa.ForeignKeyConstraint(['receiving_unit_id'], ['unit.id'], name=op.f('fk_report_day_receiving_unit_id_unit')),
    sa.PrimaryKeyConstraint('day', 'receiving_unit_id', 'jurisdiction_id', 'procedure_version_id', name=op.f('pk_report_day'))
    )
    op.create_table('report_watermark',
    sa.Column('name', sa.String(length=20), nullable=False),
    sa.Column('closed_before', engine.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_report_watermark'))
    )
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.create_index('ix_dossier_received_at', ['received_at'], unique=False)
        batch_op.create_index('ix_dossier_closed_at', ['closed_at'], unique=False)
        batch_op.create_index('ix_dossier_unclosed_received', ['received_at'], unique=False,
                              postgresql_where=sa.text('closed_at IS NULL'), sqlite_where=sa.text('closed_at IS NULL'),
                              postgresql_include=LIVE_COLUMNS)
        batch_op.create_index('ix_dossier_open_received', ['received_at'], unique=False,
                              postgresql_where=sa.text("status IN ('processing', 'awaiting_supplement')"),
                              sqlite_where=sa.text("status IN ('processing', 'awaiting_supplement')"))

    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index('ix_task_open_dossier', ['dossier_id'], unique=False,
                              postgresql_where=sa.text("state = 'open'"), sqlite_where=sa.text("state = 'open'"),
                              postgresql_include=['unit_id'])


def downgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index('ix_task_open_dossier')
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_index('ix_dossier_open_received')
        batch_op.drop_index('ix_dossier_unclosed_received')
        batch_op.drop_index('ix_dossier_closed_at')
        batch_op.drop_index('ix_dossier_received_at')
    op.drop_table('report_watermark')
    op.drop_table('report_day')
