"""posts: a partial index of the forwarded posts

Detection's forwards signal reads every forwarded post each cycle; without an index that is a scan of
every post, though few are forwarded.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 19:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

FORWARDED = "fwd_native_id IS NOT NULL OR fwd_handle IS NOT NULL"


def upgrade() -> None:
    op.create_index('ix_posts_forwarded', 'posts', ['id'], unique=False, sqlite_where=sa.text(FORWARDED),
                    postgresql_where=sa.text(FORWARDED))


def downgrade() -> None:
    op.drop_index('ix_posts_forwarded', table_name='posts')
