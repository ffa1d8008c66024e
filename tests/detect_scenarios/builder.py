"""Build realistic crawler records for detection scenarios and run detection over them.

A :class:`Chan` is one community as crawlers see it: snapshots (by stable native id), failed fetches
(no native id), posts whose links are extracted from their text the way crawlers do, participants and
media fingerprints (PDQ hex strings, no images).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from config.settings import Settings
from crawlers.links import extract_links
from detect.cycle import CycleReport
from detect.leads import NameSearch
from model import records as r
from service.detection import run_detection
from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest
from store.watchlist import add_watch, parse_target
from tests.conftest import TEST_KEY


def pdq_variant(base: str, flips: int, rng: random.Random) -> str:
    """A PDQ hash a few bits away from ``base`` (the same image, re-encoded)."""
    value = int(base, 16)
    for bit in rng.sample(range(256), flips):
        value ^= 1 << bit
    return f"{value:064x}"


def random_pdq(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def fingerprint(pdq: str) -> r.MediaFingerprint:
    return r.MediaFingerprint(sha256=hashlib.sha256(pdq.encode()).hexdigest(), pdq=pdq, pdq_quality=90)


@dataclass
class Chan:
    native_id: str
    handle: str
    title: str
    platform: str = r.Platform.TELEGRAM
    created: datetime | None = None
    _posts: int = 0
    first_handle: str = ""

    def __post_init__(self) -> None:
        self.first_handle = self.handle  # what an operator would have typed into `watch add`

    @property
    def url(self) -> str:
        return f"https://t.me/{self.handle}"

    @property
    def ref(self) -> r.CommunityRef:
        return r.CommunityRef(self.platform, self.native_id, self.handle)

    def snap(self, at: datetime, *, title: str | None = None, handle: str | None = None, members: int | None = None,
             status: str = r.CommunityStatus.ACTIVE) -> r.CommunitySnapshot:
        if handle:
            self.handle = handle
        if title:
            self.title = title
        return r.CommunitySnapshot(platform=self.platform, native_id=self.native_id, handle=self.handle,
                                   url=self.url, fetched_at=at, title=self.title, status=status,
                                   member_count=members, kind=r.CommunityKind.CHANNEL, created_at=self.created,
                                   source_url=f"https://t.me/s/{self.handle}")

    def down(self, at: datetime, status: str = r.CommunityStatus.UNREACHABLE) -> r.CommunitySnapshot:
        return r.CommunitySnapshot(platform=self.platform, native_id=None, handle=self.handle, url=self.url,
                                   fetched_at=at, status=status, source_url=self.url)

    def post(self, at: datetime, text: str | None = None, *, user: str | None = None,
             media: Sequence[str] = (), forwarded_from: Chan | None = None) -> r.Post:
        self._posts += 1
        n = self._posts
        fwd = (r.ForwardRef(forwarded_from.platform, forwarded_from.native_id, forwarded_from.handle, str(n))
               if forwarded_from else None)
        return r.Post(community=self.ref, native_post_id=str(n), url=f"https://t.me/{self.handle}/{n}",
                      fetched_at=at + timedelta(hours=1), created_at=at,
                      author=r.RawMember(self.platform, user) if user else None, text=text,
                      links=tuple(extract_links(text or "")), media=tuple(fingerprint(p) for p in media),
                      forwarded_from=fwd)

    def joins(self, users: Iterable[str], at: datetime) -> list[r.Membership]:
        return [r.Membership(self.ref, r.RawMember(self.platform, u), at, "participant") for u in users]


@dataclass
class World:
    """Records in crawl order (batches), and which communities are watched seeds."""

    batches: list[list[r.Record]] = field(default_factory=list)
    seeds: list[Chan] = field(default_factory=list)

    def add(self, *records: r.Record | Iterable[r.Record]) -> None:
        batch: list[r.Record] = []
        for item in records:
            if isinstance(item, r.CommunitySnapshot | r.Post | r.Membership | r.Checkpoint):
                batch.append(item)
            else:
                batch.extend(item)
        self.batches.append(batch)


def load(store: Store, world: World) -> None:
    """Watch the seeds, then ingest the batches in crawl order (one transaction: tests stay fast)."""
    with store.session() as session:
        for chan in world.seeds:
            add_watch(session, parse_target(f"@{chan.first_handle}"), case="test-case")
        for batch in world.batches:
            ingest(session, batch, IngestContext(key=TEST_KEY))


def detect(store: Store, settings: Settings, search: NameSearch | None = None) -> CycleReport:
    with store.session() as session:
        return run_detection(session, settings, search=search)


def community_id(store: Store, native_id: str) -> int:
    with store.session() as session:
        cid = session.scalar(select(m.Community.id).where(m.Community.native_id == native_id))
        assert cid is not None, native_id
        return cid


def candidate_level(report: CycleReport, source: int, target: int) -> str | None:
    found = [c for c in report.candidates if (c["source_id"], c["target_id"]) == (source, target)]
    return found[0]["level"] if found else None
