"""store.resolve: one set of rules for which stored community a native id, handle or URL means."""

from __future__ import annotations

from datetime import timedelta

from model import records as r
from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest
from store.resolve import CommunityResolver, find_by_handle
from tests import factories as f
from tests.conftest import TEST_KEY
from tests.factories import T0


def _store_world(store: Store) -> dict[str, int]:
    """A channel renamed from old_cortile to cortile_segreto; later another channel takes old_cortile's name
    (a case-variant of it); a subreddit; and a channel that was banned under the handle it had."""
    ids: dict[str, int] = {}
    with store.session() as s:
        ingest(s, [f.snapshot(handle="old_cortile", at=T0),
                   f.snapshot(handle="cortile_segreto", at=T0 + timedelta(days=1))], IngestContext(key=TEST_KEY))
        ingest(s, [f.snapshot(native_id="2002", handle="Old_Cortile", title="Squatter", at=T0 + timedelta(days=2))],
               IngestContext(key=TEST_KEY))
        ingest(s, [f.snapshot(native_id="t5_abc", handle="MiaMoglie", platform=r.Platform.REDDIT)],
               IngestContext(key=TEST_KEY))
        ingest(s, [f.snapshot(native_id="3003", handle="banned_chan", at=T0),
                   f.snapshot(native_id="3003", handle="reborn_chan", status=r.CommunityStatus.BANNED,
                              at=T0 + timedelta(days=1))], IngestContext(key=TEST_KEY))
        for native in ("1001", "2002", "t5_abc", "3003"):
            ids[native] = CommunityResolver.load(s).by_native[
                (r.Platform.REDDIT if native.startswith("t5") else r.Platform.TELEGRAM, native)]
    return ids


def test_a_native_id_beats_a_handle_and_a_current_handle_beats_an_old_one(sqlite_store: Store) -> None:
    ids = _store_world(sqlite_store)
    with sqlite_store.session() as s:
        resolver = CommunityResolver.load(s)
    tg = r.Platform.TELEGRAM
    assert resolver.resolve(tg, "1001", "old_cortile") == ids["1001"]
    assert resolver.resolve(tg, None, "CORTILE_SEGRETO") == ids["1001"]  # handles compare case-folded
    assert resolver.resolve(tg, None, "old_cortile") == ids["2002"]  # now someone else's current handle
    assert resolver.resolve(r.Platform.REDDIT, None, "miamoglie") == ids["t5_abc"]
    assert resolver.resolve(tg, None, "miamoglie") is None  # a handle is per platform
    assert resolver.resolve(tg, "t5_abc") is None  # and so is a native id


def test_an_old_handle_reaches_the_renamed_community_but_not_one_read_while_gone(sqlite_store: Store) -> None:
    ids = _store_world(sqlite_store)
    with sqlite_store.session() as s:
        resolver = CommunityResolver.load(s)
    assert resolver.resolve(r.Platform.TELEGRAM, None, "banned_chan") == ids["3003"]  # readable, then banned
    assert resolver.resolve(r.Platform.TELEGRAM, None, "reborn_chan") is None  # only seen on the ban page


def test_a_reference_with_neither_resolves_by_url_and_build_takes_native_ids_apart(sqlite_store: Store) -> None:
    ids = _store_world(sqlite_store)
    with sqlite_store.session() as s:
        resolver = CommunityResolver.load(s)
    assert resolver.resolve(None, None, None, "HTTPS://t.me/cortile_segreto/") == ids["1001"]
    assert resolver.resolve(None) is None
    again = CommunityResolver.build([], {}, [(1, "x")])  # an old handle of an unknown community: ignored
    assert again.by_handle == {}


def test_ingest_resolves_a_handle_to_the_seed_not_yet_read(sqlite_store: Store) -> None:
    """Two rows with one current handle: a watched seed with no native id yet is the one a first snapshot
    fills in, so ingest's query prefers it over an older row."""
    with sqlite_store.session() as s:
        ingest(s, [f.snapshot(native_id="2002", handle="cortile_segreto", status=r.CommunityStatus.ACTIVE)],
               IngestContext(key=TEST_KEY))
        seed = m.Community(platform=r.Platform.TELEGRAM, handle="cortile_segreto", url="https://t.me/cortile_segreto",
                           watch_state="seed", first_seen=T0, last_seen=T0, labels=[], attrs={})
        s.add(seed)
        s.flush()
        found = find_by_handle(s, r.Platform.TELEGRAM, "Cortile_Segreto")
        assert found is not None and found.id == seed.id
        ingest(s, [f.snapshot(native_id="1001", handle="cortile_segreto", at=T0 + timedelta(hours=1))],
               IngestContext(key=TEST_KEY))
        s.refresh(seed)
        assert seed.native_id == "1001"
