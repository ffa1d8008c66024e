"""memberships: a (member_id, community_id) index, so a member's other communities are one index range

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_memberships_member_community', 'memberships', ['member_id', 'community_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_memberships_member_community', table_name='memberships')
