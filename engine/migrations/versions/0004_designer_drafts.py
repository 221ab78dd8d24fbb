"""designer drafts

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa
import engine.models.base

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('procedure_draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('procedure_code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('base_version_id', sa.Integer(), nullable=True),
    sa.Column('file_name', sa.String(length=300), nullable=False),
    sa.Column('source', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', engine.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', engine.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['base_version_id'], ['procedure_version.id'], name=op.f('fk_procedure_draft_base_version_id_procedure_version')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'], name=op.f('fk_procedure_draft_updated_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_procedure_draft'))
    )
    with op.batch_alter_table('procedure_draft', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_procedure_draft_procedure_code'), ['procedure_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('procedure_draft', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_procedure_draft_procedure_code'))
    op.drop_table('procedure_draft')
