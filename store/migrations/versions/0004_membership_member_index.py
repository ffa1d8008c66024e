"""memberships: (member_id, community_id) and (community_id, first_seen) indexes

A member's other communities are then one index range (the shared members of a community that shut
down), and the member count and first sightings per community (detection's watermark) are read from an
index alone.

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
    op.create_index('ix_memberships_community_first_seen', 'memberships', ['community_id', 'first_seen'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_memberships_community_first_seen', table_name='memberships')
    op.drop_index('ix_memberships_member_community', table_name='memberships')
