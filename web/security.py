"""Who is asking: server-side sessions, CSRF tokens, the sign-in rate limit, role checks."""

from __future__ import annotations

import secrets
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from store import models as m

SESSION_COOKIE = "rs_session"
LOGIN_CSRF_COOKIE = "rs_login_csrf"

#: Roles that see post text, pseudonyms, leads, search and the evidence bundle.
FULL_DETAIL_ROLES = frozenset({"investigator", "analyst", "admin"})


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of one request."""

    user_id: int
    name: str
    role: str
    csrf: str
    session_id: str | None = None

    @property
    def actor(self) -> str:
        return f"web:{self.name}"

    @property
    def detail(self) -> str:
        """The alert detail this user gets: ``ngo`` (the NGO deliveries' allow-list) or ``investigator``."""
        return "investigator" if self.role in FULL_DETAIL_ROLES else "ngo"

    @property
    def full(self) -> bool:
        return self.role in FULL_DETAIL_ROLES


def viewer_of(session_row: m.WebSession | None, user: m.WebUser) -> Viewer:
    return Viewer(user.id, user.name, user.role, session_row.csrf if session_row else "",
                  session_row.id if session_row else None)


def same_token(given: str | None, expected: str) -> bool:
    return bool(given) and bool(expected) and secrets.compare_digest(str(given), expected)


class LoginLimiter:
    """At most ``per_minute`` failed sign-ins per (name, address) in any 60 seconds, by the app's clock."""

    def __init__(self, per_minute: int, clock: Callable[[], datetime]) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[datetime]] = defaultdict(deque)

    def _recent(self, key: tuple[str, str]) -> deque[datetime]:
        window = self._failures[key]
        cutoff = self.clock() - timedelta(minutes=1)
        while window and window[0] <= cutoff:
            window.popleft()
        return window

    def blocked(self, name: str, address: str) -> bool:
        return len(self._recent((name.lower(), address))) >= self.per_minute

    def failed(self, name: str, address: str) -> None:
        self._recent((name.lower(), address)).append(self.clock())

    def succeeded(self, name: str, address: str) -> None:
        self._failures.pop((name.lower(), address), None)
