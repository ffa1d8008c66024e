"""Incremental detection: a cycle that works from what changed since the last one finds what a full
rebuild of the same store finds, and ``resurface detect`` and the scheduler's job work that way."""

from __future__ import annotations

import json
import random
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import CrawlSettings, DetectSettings, Settings
from detect.changes import load_watermark, save_watermark
from model import records as r
from service.app import App
from service.detection import run_detection
from service.jobs import detect as detect_job
from store import models as m
from store.db import Store, open_store
from store.ingest import IngestContext, ingest
from tests.conftest import TEST_KEY
from tests.detect_scenarios import cases
from tests.detect_scenarios.builder import Chan, World, load, pdq_variant, random_pdq
from tests.detect_scenarios.cases import SHUTDOWN
from tests.support.cli import call

pytestmark = pytest.mark.timeout(240)


def _settings(workdir: Path) -> Settings:
    return Settings(data_dir=str(workdir), crawl=CrawlSettings(allow_private_addresses=True))


def _late_world() -> tuple[World, World, dict[str, Chan]]:
    """Before: a watched channel A living its life and failing once; a busy background channel;
    a channel that will rename. After: A fails twice more (the same snapshot row counts the
    repetitions), its successor B appears with A's images re-encoded and most of A's members, the
    background channel posts more, the other renames."""
    rng = random.Random(7)
    a = Chan("late-A", "latesource", "Archivio Notturno", created=SHUTDOWN - timedelta(days=400))
    b = Chan("late-B", "archivio_bis", "Archivio Bis", created=SHUTDOWN + timedelta(days=2))
    busy = Chan("late-busy", "busychat", "Chiacchiere", created=SHUTDOWN - timedelta(days=500))
    renamer = Chan("late-rn", "vecchionome", "Vecchio Nome", created=SHUTDOWN - timedelta(days=500))
    members = [f"late-a{i}" for i in range(40)]
    pdqs = [random_pdq(rng) for _ in range(6)]
    before = World(seeds=[a, renamer])
    start = SHUTDOWN - timedelta(days=60)
    for chan, users in ((a, members), (busy, [f"late-busy{i}" for i in range(30)]),
                        (renamer, [f"late-rn{i}" for i in range(20)])):
        records: list[r.Record] = [chan.snap(start, members=len(users) * 10), *chan.joins(users, start)]
        for i in range(20):
            at = start + timedelta(days=2 * i + 1)
            media = [pdqs[i]] if chan is a and i < len(pdqs) else []
            records.append(chan.post(at, rng.choice(cases.FILLER), user=rng.choice(users), media=media))
        before.add(records)
    before.add(a.down(SHUTDOWN))
    # C shut down before the first cycle; D, where a few of C's members went, grows only afterwards
    # (a pair whose source did not change at all).
    c = Chan("late-C", "vecchiocanale", "Canale Chiuso", created=SHUTDOWN - timedelta(days=300))
    d = Chan("late-D", "canale_nuovo", "Canale Nuovo", created=SHUTDOWN + timedelta(days=1))
    before.seeds.append(c)
    c_members = [f"late-c{i}" for i in range(30)]
    c_pdqs = [random_pdq(rng) for _ in range(5)]
    before.add([c.snap(start, members=300), *c.joins(c_members, start),
                *(c.post(start + timedelta(days=i + 1), rng.choice(cases.FILLER), user=c_members[i],
                         media=[c_pdqs[i]] if i < len(c_pdqs) else []) for i in range(10))])
    before.add(c.down(SHUTDOWN - timedelta(days=5), r.CommunityStatus.BANNED))
    d_start = SHUTDOWN + timedelta(days=1)
    before.add([d.snap(d_start, members=100), *d.joins([*c_members[:3], "late-d-own"], d_start),
                d.post(d_start + timedelta(hours=1), "ciao a tutti", user="late-d-own")])
    after_d: list[r.Record] = [d.snap(d_start + timedelta(days=3), members=100),
                               *d.joins(c_members[3:25], d_start + timedelta(days=2))]
    after_d.extend(d.post(d_start + timedelta(days=2, hours=i), rng.choice(cases.FILLER), user=c_members[3 + i],
                          media=[pdq_variant(c_pdqs[i], 4, rng)]) for i in range(5))
    after = World()
    after.add(after_d)
    after.add(a.down(SHUTDOWN + timedelta(hours=1)))
    after.add(a.down(SHUTDOWN + timedelta(hours=2)))
    movers = rng.sample(members, 28)
    b_start = SHUTDOWN + timedelta(days=2)
    b_records: list[r.Record] = [b.snap(b_start, members=300),
                                 *b.joins([*movers, "late-b-new1", "late-b-new2"], b_start + timedelta(hours=3))]
    for i in range(12):
        media = [pdq_variant(pdqs[i], 5, rng)] if i < len(pdqs) else []
        b_records.append(b.post(b_start + timedelta(hours=6 * i + 4), rng.choice(cases.FILLER), user=movers[i],
                                media=media))
    after.add(b_records)
    after.add([busy.post(SHUTDOWN + timedelta(days=1, hours=i), rng.choice(cases.FILLER), user="late-busy1")
               for i in range(5)])
    after.add(renamer.snap(SHUTDOWN + timedelta(days=1), title="Nome Nuovo", members=200))
    return before, after, {"a": a, "b": b, "renamer": renamer, "c": c, "d": d}


def _ingest(store: Store, world: World) -> None:
    with store.session() as session:
        for batch in world.batches:
            ingest(session, batch, IngestContext(key=TEST_KEY))


def _state(store: Store) -> dict[str, Any]:
    """What a user sees of a cycle: candidates (pair, score, level, signals, state) and alerts."""
    with store.session() as s:
        candidates = sorted((c.source_id, c.target_id, round(c.score, 9), c.level,
                             json.dumps(c.signals, sort_keys=True), c.state) for c in s.scalars(select(m.Candidate)))
        alerts = sorted((a.kind, a.dedup_key, a.level, round(a.score, 9), a.source_community_id, a.target_community_id,
                         a.escalations, json.dumps(a.payload.get("signals"), sort_keys=True))
                        for a in s.scalars(select(m.Alert)))
        events = sorted((e.kind, e.dedup_key, e.community_id, e.related_community_id)
                        for e in s.scalars(select(m.Event)))
        watched = sorted((c.id, c.watch_state) for c in s.scalars(select(m.Community)))
    return {"candidates": candidates, "alerts": alerts, "events": events, "watched": watched}


def _id(store: Store, native_id: str) -> int:
    with store.session() as s:
        cid = s.scalar(select(m.Community.id).where(m.Community.native_id == native_id))
        assert cid is not None
        return cid



def _announced_and_detected_twice(path: Path, settings: Settings) -> Store:
    """A background world plus one announced successor, after two cycles (the second looks again at the
    successor the first one started watching)."""
    store = open_store(f"sqlite:///{path}")
    world = cases.background()
    case = cases.explicit_announcement("it", 0.5, 1, seed=31)
    world.seeds.extend(case.world.seeds)
    world.batches.extend(case.world.batches)
    load(store, world)
    for _ in range(2):
        with store.session() as s:
            run_detection(s, settings)
    return store

def test_an_incremental_cycle_after_a_crawl_equals_a_full_rebuild_of_the_same_store(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    db = tmp_path / "incremental.db"
    store = open_store(f"sqlite:///{db}")
    world = cases.background()
    for case in list(cases.all_cases())[::3]:  # a third of the labelled scenarios: announcements, decoys, ...
        world.seeds.extend(case.world.seeds)
        world.batches.extend(case.world.batches)
    before, after, chans = _late_world()
    world.seeds.extend(before.seeds)
    world.batches.extend(before.batches)
    load(store, world)
    with store.session() as s:
        first = run_detection(s, settings)
    with store.session() as s:  # what the first cycle itself stored and watched is looked at once more
        settled = run_detection(s, settings)
    assert first.full and not settled.full
    _ingest(store, after)
    store.close()
    copy = tmp_path / "full.db"
    shutil.copyfile(db, copy)

    store = open_store(f"sqlite:///{db}")
    with store.session() as s:
        incremental = run_detection(s, settings, full=False)
    full_store = open_store(f"sqlite:///{copy}")
    with full_store.session() as s:
        rebuilt = run_detection(s, settings, full=True)
    try:
        assert not incremental.full and rebuilt.full
        assert incremental.pairs_scored < rebuilt.pairs_scored  # it did less work ...
        a, b = _id(store, chans["a"].native_id), _id(store, chans["b"].native_id)
        found = {(c["source_id"], c["target_id"]): c for c in incremental.candidates}
        assert found[(a, b)]["level"] == "strong"  # ... found the new successor ...
        c, d = _id(store, chans["c"].native_id), _id(store, chans["d"].native_id)
        assert found[(c, d)]["level"] == "strong"  # ... and the successor that grew since ...
        kinds = {e["kind"] for e in incremental.events}
        assert {"shutdown", "rename"} <= kinds  # ... confirmed A's shutdown from repeated failures ...
        assert _state(store) == _state(full_store)  # ... and left the store as a full rebuild does
        assert sorted(incremental.candidates, key=lambda c: (c["source_id"], c["target_id"])) == \
            sorted(rebuilt.candidates, key=lambda c: (c["source_id"], c["target_id"]))
        assert sorted((x["kind"], x["level"], x["source_community_id"], x["target_community_id"])
                      for x in incremental.alerts) == \
            sorted((x["kind"], x["level"], x["source_community_id"], x["target_community_id"]) for x in rebuilt.alerts)
    finally:
        store.close()
        full_store.close()


def test_nothing_new_scores_nothing_and_changes_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    store = _announced_and_detected_twice(tmp_path / 'quiet.db', settings)
    before = _state(store)
    with store.session() as s:
        again = run_detection(s, settings)
    assert not again.full and again.pairs_scored == 0
    assert (again.events, again.alerts) == ([], [])
    assert [c["level"] for c in again.candidates if c["level"] == "strong"] == ["strong"]  # still listed
    assert _state(store) == before
    store.close()


def test_changed_detect_settings_rebuild_everything(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'settings.db'}")
    load(store, cases.background())
    with store.session() as s:
        run_detection(s, _settings(tmp_path))
    changed = _settings(tmp_path).model_copy(update={"detect": DetectSettings(surge_factor=4.0)})
    with store.session() as s:
        assert run_detection(s, changed).full
    store.close()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", "cli-test-key-0123456789abcdefghij")
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    path = tmp_path / "resurface.toml"
    path.write_text('data_dir = "data"\n', encoding="utf-8")
    store = open_store(Settings(data_dir=str(tmp_path / "data")).store_url)
    world = cases.background()
    case = cases.explicit_announcement("de", 0.5, 1, seed=23)
    world.seeds.extend(case.world.seeds)
    world.batches.extend(case.world.batches)
    load(store, world)
    store.close()
    return path


def test_resurface_detect_is_incremental_and_full_rebuilds(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = []
    for extra in ([], [], [], ["--full"]):
        code, out, _ = call(capsys, "--config", str(config), "detect", "--format", "json", *extra)
        assert code == 0
        runs.append(json.loads(out))
    first, _, second, third = runs  # (the second run looks again at the successor the first started watching)
    assert first["full"] and not second["full"] and third["full"]  # the first cycle has no watermark yet
    assert second["pairs_scored"] == 0 < third["pairs_scored"]
    strong = [(c["source"], c["target"]) for c in first["candidates"] if c["level"] == "strong"]
    assert strong and all(strong == [(c["source"], c["target"]) for c in run["candidates"] if c["level"] == "strong"]
                          for run in (second, third))
    code, out, _ = call(capsys, "--config", str(config), "detect")
    assert "incremental" in out


def test_the_scheduler_job_is_incremental_with_a_full_rebuild_every_day(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.detect.full_every_hours == 24
    app = App(settings)
    try:
        load(app.store, cases.background())
        detect_job(app)
        with app.store.session() as s:
            mark = load_watermark(s)
            assert mark is not None
            first_full = mark.full_at
        detect_job(app)
        with app.store.session() as s:
            mark = load_watermark(s)
            assert mark is not None and mark.full_at == first_full  # the second run was incremental
            mark.full_at = (m.utcnow() - timedelta(hours=25)).isoformat()
            save_watermark(s, mark)
        detect_job(app)
        with app.store.session() as s:
            mark = load_watermark(s)
            assert mark is not None and mark.full_at > first_full  # a day later: a full rebuild
    finally:
        app.close()


def test_shared_members_counted_by_the_database_equal_the_in_memory_overlaps(any_store: Store) -> None:
    """An incremental cycle counts a newly gone community's shared members in SQL and takes the sizes from
    the watermark's member counts: the figures must be those a full cycle computes."""
    from detect.changes import community_digests
    from detect.cycle import _communities
    from detect.overlap import member_overlaps, overlaps_from_counts, platform_universes, shared_with_all
    from tests import factories as f

    def members(handle: str, native: str, users: range) -> list[r.Membership]:
        ref = f.ref(native, handle)
        return [r.Membership(ref, r.RawMember(r.Platform.TELEGRAM, f"user{u}"), f.T0) for u in users]

    with any_store.session() as s:
        ctx = IngestContext(key=TEST_KEY)
        ingest(s, [f.snapshot("1", "alpha"), f.snapshot("2", "beta"), f.snapshot("3", "gamma")], ctx)
        ingest(s, members("alpha", "1", range(0, 100)), ctx)
        ingest(s, members("beta", "2", range(60, 140)), ctx)  # 40 shared with alpha
        ingest(s, members("gamma", "3", range(98, 101)), ctx)  # 2 with alpha, 3 with beta
    with any_store.session() as s:
        ids = {h: i for i, h in s.execute(select(m.Community.id, m.Community.handle))}
        communities = _communities(s)
        sizes: dict[int, int] = {}
        community_digests(s, member_counts=sizes)
        universes = platform_universes(s)
        platforms = {cid: info.platform for cid, info in communities.items()}
        for gone in (["alpha"], ["gamma"], ["alpha", "beta"]):
            gone_ids = [ids[h] for h in gone]
            counted = shared_with_all(s, gone_ids, 3)
            assert overlaps_from_counts(counted, sizes, platforms, universes) == member_overlaps(
                s, gone_ids, min_shared=3, universes=universes)
        assert shared_with_all(s, [ids["gamma"]], 3) == {(min(ids["beta"], ids["gamma"]),
                                                          max(ids["beta"], ids["gamma"])): 3}


def test_a_damaged_watermark_row_means_one_full_rebuild_not_a_failing_cycle(
        sqlite_store: Store, caplog: pytest.LogCaptureFixture) -> None:
    from detect.changes import VERSION, WATERMARK_KEY, load_watermark

    with sqlite_store.session() as s:
        s.add(m.KeyValue(key=WATERMARK_KEY, value={"version": VERSION, "post_id": "many", "communities": [1, 2]},
                         updated_at=m.utcnow()))
    with sqlite_store.session() as s, caplog.at_level("WARNING", logger="resurface.detect"):
        assert load_watermark(s) is None
    assert "rebuilds in full" in caplog.text and "post_id" in caplog.text


def test_damaged_image_links_are_searched_afresh(sqlite_store: Store) -> None:
    from detect.changes import MEDIA_LINKS_KEY, VERSION, load_media_links

    with sqlite_store.session() as s:
        s.add(m.KeyValue(key=MEDIA_LINKS_KEY, value={"version": VERSION, "since": 9, "pairs": [["a", "b"]]},
                         updated_at=m.utcnow()))
    with sqlite_store.session() as s:
        links = load_media_links(s)
    assert (links.pairs, links.known) == ({}, False)


def test_a_damaged_name_key_row_is_rebuilt_by_the_next_cycle(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The names already reduced are kept between cycles and written only when they change: a damaged row
    is logged, its names reduced afresh and the row written again, and the cycle finds what it found."""
    from detect.changes import NAME_KEYS_KEY, VERSION, load_name_keys

    settings = _settings(tmp_path)
    store = _announced_and_detected_twice(tmp_path / 'names.db', settings)
    with store.session() as s:
        kept = load_name_keys(s)
        assert kept
        row = s.get(m.KeyValue, NAME_KEYS_KEY)
        assert row is not None
        row.value = {"version": VERSION, "keys": [["a", 1]]}
    before = _state(store)
    with store.session() as s, caplog.at_level("WARNING", logger="resurface.detect"):
        again = run_detection(s, settings)
    assert not again.full and "names are reduced afresh" in caplog.text
    assert _state(store) == before
    with store.session() as s:
        assert load_name_keys(s) == kept
    store.close()


def test_images_kept_between_cycles_give_the_figures_of_a_whole_store_read(
        any_store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """An incremental cycle reads only the images stored since the last one and searches them against the
    hashes kept in kv; what it counts for the changed communities is what reading every image counts. A
    damaged kept row, or an image deleted since, is logged and costs one read of every image."""
    from detect.changes import MEDIA_LINKS_KEY, load_media_links, save_media_links
    from detect.content import MediaLinks, content_overlaps

    before, after, chans = _late_world()
    load(any_store, before)
    with any_store.session() as s:
        kept = MediaLinks()
        content_overlaps(s, around=set(s.scalars(select(m.Community.id))), media_links=kept)
        save_media_links(s, kept)
    _ingest(any_store, after)
    around = {_id(any_store, chans[k].native_id) for k in ("b", "d")}

    def whole(s: Any) -> dict[Any, Any]:
        return {p: o for p, o in content_overlaps(s).items() if p[0] in around or p[1] in around}

    with any_store.session() as s:
        expected = whole(s)
        assert sum(o.media_matches for o in expected.values()) >= 10  # B's and D's re-encoded images
        links = load_media_links(s)
        assert links.known and links.files
        assert content_overlaps(s, around=around, media_links=links) == expected
        assert links.since == s.scalar(select(m.MediaFingerprint.id).order_by(m.MediaFingerprint.id.desc()).limit(1))

        row = s.get(m.KeyValue, MEDIA_LINKS_KEY)
        assert row is not None
        row.value = {**row.value, "pdqs": row.value["pdqs"][:-64]}
        s.flush()
        with caplog.at_level("WARNING", logger="resurface.detect"):
            damaged = load_media_links(s)
        assert "images are searched afresh" in caplog.text and not damaged.known
        assert content_overlaps(s, around=around, media_links=damaged) == expected

    with any_store.session() as s:  # an image of A deleted after it was kept
        kept = MediaLinks()
        content_overlaps(s, around=around, media_links=kept)
        a_post = s.scalar(select(m.MediaFingerprint.post_id).join(m.Post, m.Post.id == m.MediaFingerprint.post_id)
                          .where(m.Post.community_id == _id(any_store, chans["a"].native_id))
                          .order_by(m.MediaFingerprint.id).limit(1))
        s.execute(m.MediaFingerprint.__table__.delete().where(m.MediaFingerprint.post_id == a_post))
        expected = whole(s)
        with caplog.at_level("INFO", logger="resurface.detect"):
            assert content_overlaps(s, around=around, media_links=kept) == expected
        assert "every image is searched again" in caplog.text


def test_forwarded_posts_are_read_without_scanning_every_post(sqlite_store: Store) -> None:
    from detect.content import forwarded_posts

    with sqlite_store.session() as s:
        sql = str(forwarded_posts().compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(row[-1]) for row in s.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "ix_posts_forwarded" in plan


def test_successor_wording_is_kept_per_post_and_found_again_when_the_text_changed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Each post's successor wording is kept between cycles; a post whose text changed (edited, purged) is
    read again, and a damaged row is logged and the wording found afresh, with the same candidates."""
    from detect.changes import POST_PHRASES_KEY, load_post_phrases
    from detect.cycle import wording_digest

    settings = _settings(tmp_path)
    store = _announced_and_detected_twice(tmp_path / 'wording.db', settings)
    with store.session() as s:
        kept = load_post_phrases(s, wording_digest())
        worded = {pid: phrases for pid, (_, phrases) in kept.found.items() if phrases}
        assert worded
        pid, phrases = next(iter(worded.items()))
        text = s.scalar(select(m.Post.text).where(m.Post.id == pid))
        assert kept.of(pid, text) == phrases and not kept.changed
        assert kept.of(pid, None) == () and kept.changed  # purged: nothing said any more
        assert load_post_phrases(s, "another phrase list").found == {}
        row = s.get(m.KeyValue, POST_PHRASES_KEY)
        assert row is not None
        row.value = {**row.value, "digests": row.value["digests"][:-16]}
    before = _state(store)
    with store.session() as s, caplog.at_level("WARNING", logger="resurface.detect"):
        again = run_detection(s, settings, full=False)
    assert not again.full and "wording is found afresh" in caplog.text
    assert _state(store) == before
    with store.session() as s:
        assert load_post_phrases(s, wording_digest()).found.keys() <= kept.found.keys()
    store.close()
