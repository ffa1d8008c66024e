"""How a forum's HTTP answers map to the shared statuses (see :func:`crawlers.forums.common.status_from_answer`,
which also says which answers are definitive). Shared by the three forum plugins."""

from __future__ import annotations

from model.records import CommunityStatus

FORUM_STATUSES: dict[str, CommunityStatus] = {
    "http_410": CommunityStatus.DELETED,
    "http_451": CommunityStatus.REMOVED,
    "http_404": CommunityStatus.DELETED,
    "http_401": CommunityStatus.PRIVATE,
    "http_403": CommunityStatus.PRIVATE,
    "login_page": CommunityStatus.PRIVATE,
}
