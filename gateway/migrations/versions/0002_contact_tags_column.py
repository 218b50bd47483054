"""contacts.tags: the tags as a JSON list on the contact, read without a second query

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tags", sa.JSON(), server_default="[]", nullable=False))
    # Contacts created before this revision keep their tags: copy them from contact_tags.
    connection = op.get_bind()
    contacts = sa.table("contacts", sa.column("id", sa.Integer), sa.column("tags", sa.JSON))
    rows = connection.execute(sa.text("SELECT contact_id, tag FROM contact_tags ORDER BY id")).all()
    grouped: dict[int, list[str]] = {}
    for contact_id, tag in rows:
        grouped.setdefault(contact_id, []).append(tag)
    for contact_id, tags in grouped.items():
        connection.execute(sa.update(contacts).where(contacts.c.id == contact_id).values(tags=tags))


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("tags")
