"""Record builders for tests: realistic but fictional communities, posts and members."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from model import records as r

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def snapshot(native_id: str = "1001", handle: str = "cortile_segreto", title: str = "Il Cortile Segreto",
             status: str = r.CommunityStatus.ACTIVE, members: int | None = 5120, at: datetime = T0,
             platform: str = r.Platform.TELEGRAM, **kw: object) -> r.CommunitySnapshot:
    return r.CommunitySnapshot(platform=platform, native_id=native_id, handle=handle,
                               url=f"https://t.me/{handle}", fetched_at=at, title=title, status=status,
                               member_count=members, kind=r.CommunityKind.CHANNEL,
                               source_url=f"https://t.me/s/{handle}", **kw)  # type: ignore[arg-type]


def ref(native_id: str = "1001", handle: str = "cortile_segreto") -> r.CommunityRef:
    return r.CommunityRef(r.Platform.TELEGRAM, native_id, handle)


def post(n: int, *, native_id: str = "1001", handle: str = "cortile_segreto", user: str | None = "u1",
         user_handle: str | None = None, text: str | None = None, at: datetime = T0,
         links: tuple[r.ExtractedLink, ...] = (), media: tuple[r.MediaFingerprint, ...] = ()) -> r.Post:
    author = r.RawMember(r.Platform.TELEGRAM, user, user_handle) if (user or user_handle) else None
    return r.Post(community=ref(native_id, handle), native_post_id=str(n), url=f"https://t.me/{handle}/{n}",
                  fetched_at=at + timedelta(hours=1), created_at=at + timedelta(minutes=n), author=author,
                  text=text if text is not None else f"messaggio numero {n}", links=links, media=media)
