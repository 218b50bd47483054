"""messages: the provider-id index leads with the provider's id, not the provider

A receipt names its message by (provider, provider id). Led by `provider`, the index let the
planner of a table without statistics yet (a new database's first minute) read every row of a
provider to find a group of receipts' messages; led by the id, whose values are all but unique,
each lookup reads only its own rows, whatever the statistics say.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 14:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_provider_message_id")
        batch_op.create_index(
            "ix_messages_provider_message_id", ["provider_message_id", "provider"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_provider_message_id")
        batch_op.create_index(
            "ix_messages_provider_message_id", ["provider", "provider_message_id"], unique=False
        )
