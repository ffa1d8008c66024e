"""Search documents built from the store (read-only): one per post and one per community."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from search.base import Doc
from store import models as m


def link_domain(url: str) -> str | None:
    """Host name of a link, lower case, without ``www.``; None for links without one (``tg://``)."""
    try:
        host = urlsplit(url if "://" in url else f"//{url}").hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.lower().removeprefix("www.")


def load_posts(session: Session, ids: Collection[int]) -> dict[int, Doc]:
    if not ids:
        return {}
    id_list = list(ids)
    rows = session.execute(
        select(m.Post.id, m.Post.community_id, m.Post.created_at, m.Post.fetched_at, m.Post.text,
               m.Post.thread_title, m.Post.url, m.Post.has_media, m.Post.kind, m.Community.platform,
               m.Community.handle, m.Community.title, m.Member.pseudonym)
        .join(m.Community, m.Community.id == m.Post.community_id)
        .outerjoin(m.Member, m.Member.id == m.Post.author_id)
        .where(m.Post.id.in_(id_list))
    ).all()
    links: dict[int, list[str]] = defaultdict(list)
    for post_id, url in session.execute(select(m.Link.post_id, m.Link.url).where(m.Link.post_id.in_(id_list))
                                        .order_by(m.Link.id)):
        if post_id is not None:
            links[post_id].append(url)
    media: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
    for post_id, sha, pdq in session.execute(
        select(m.MediaFingerprint.post_id, m.MediaFingerprint.sha256, m.MediaFingerprint.pdq)
        .where(m.MediaFingerprint.post_id.in_(id_list)).order_by(m.MediaFingerprint.id)
    ):
        media[post_id].append((sha, pdq))
    docs: dict[int, Doc] = {}
    for row in rows:
        post_links = tuple(dict.fromkeys(links.get(row.id, ())))
        domains = tuple(dict.fromkeys(d for d in (link_domain(u) for u in post_links) if d))
        fps = media.get(row.id, [])
        docs[row.id] = Doc(
            doc_type="post", doc_id=row.id, platform=row.platform, community_id=row.community_id,
            community=row.handle.lower() if row.handle else None, community_title=row.title,
            date=row.created_at or row.fetched_at, text=row.text, title=row.thread_title, url=row.url,
            author=row.pseudonym, links=post_links, domains=domains, has_media=bool(row.has_media or fps),
            sha256=tuple(dict.fromkeys(s for s, _ in fps)), pdq=tuple(dict.fromkeys(p for _, p in fps if p)),
            kind=row.kind,
        )
    return docs


def load_communities(session: Session, ids: Collection[int]) -> dict[int, Doc]:
    if not ids:
        return {}
    docs: dict[int, Doc] = {}
    for c in session.scalars(select(m.Community).where(m.Community.id.in_(list(ids)))):
        docs[c.id] = Doc(
            doc_type="community", doc_id=c.id, platform=c.platform, community_id=c.id,
            community=c.handle.lower() if c.handle else None, community_title=c.title,
            date=c.created_at_platform or c.first_seen, text=c.description, title=c.title, url=c.url,
            status=c.status, kind=c.kind,
        )
    return docs


def load(session: Session, doc_type: str, ids: Collection[int]) -> dict[int, Doc]:
    return load_posts(session, ids) if doc_type == "post" else load_communities(session, ids)


def count_all(session: Session) -> int:
    posts = session.scalar(select(func.count()).select_from(m.Post)) or 0
    communities = session.scalar(select(func.count()).select_from(m.Community)) or 0
    return posts + communities


def iter_all(session: Session, batch_size: int) -> Iterator[list[Doc]]:
    """Every community, then every post, in id order, ``batch_size`` at a time (for reindex)."""
    for doc_type, model in (("community", m.Community), ("post", m.Post)):
        last = 0
        while True:
            ids = list(session.scalars(select(model.id).where(model.id > last).order_by(model.id)
                                       .limit(batch_size)))
            if not ids:
                break
            docs = load(session, doc_type, ids)
            yield [docs[i] for i in ids if i in docs]
            last = ids[-1]
