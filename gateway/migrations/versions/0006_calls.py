"""calls: voice calls, their transitions and status callbacks, call-signing secrets

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.tables.columns

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AutoString = sqlmodel.sql.sqltypes.AutoString
UtcDateTime = gateway.tables.columns.UtcDateTime


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "call_signing_secrets",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("secret", AutoString(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=True),
        sa.Column("provider", AutoString(length=32), nullable=False),
        sa.Column("sender", AutoString(length=64), nullable=True),
        sa.Column("to", AutoString(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("voice", AutoString(length=64), nullable=True),
        sa.Column("language", AutoString(length=16), nullable=True),
        sa.Column("webhook_url", AutoString(length=2048), nullable=True),
        sa.Column("status", AutoString(length=16), nullable=False),
        sa.Column("provider_call_id", AutoString(length=128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", AutoString(length=64), nullable=True),
        sa.Column("error_message", AutoString(length=1000), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_calls_provider_call_id", "calls", ["provider", "provider_call_id"], unique=False)
    op.create_index("ix_calls_status_updated_at", "calls", ["status", "updated_at"], unique=False)
    op.create_index("ix_calls_tenant_id_id", "calls", ["tenant_id", "id"], unique=False)
    op.create_table(
        "call_callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", AutoString(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", AutoString(length=16), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", AutoString(length=500), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_call_callbacks_call_id_id", "call_callbacks", ["call_id", "id"], unique=False)
    op.create_index(
        "ix_call_callbacks_status_next_attempt_at",
        "call_callbacks",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "call_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("status", AutoString(length=16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("occurred_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_call_events_call_id_id", "call_events", ["call_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_call_events_call_id_id", table_name="call_events")
    op.drop_table("call_events")
    op.drop_index("ix_call_callbacks_status_next_attempt_at", table_name="call_callbacks")
    op.drop_index("ix_call_callbacks_call_id_id", table_name="call_callbacks")
    op.drop_table("call_callbacks")
    op.drop_index("ix_calls_tenant_id_id", table_name="calls")
    op.drop_index("ix_calls_status_updated_at", table_name="calls")
    op.drop_index("ix_calls_provider_call_id", table_name="calls")
    op.drop_table("calls")
    op.drop_table("call_signing_secrets")
