"""One detection cycle over records ingested the way crawlers deliver them: the scenarios of issue 6."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from config.settings import CrawlSettings, DetectSettings, Settings, TelegramSettings
from detect.candidates import set_candidate_state
from model import records as r
from service.app import App
from service.crawl import crawl_once
from store import models as m
from store.db import Store
from tests.conftest import TEST_KEY
from tests.detect_scenarios import cases
from tests.detect_scenarios.builder import Chan, World, community_id, detect, load
from tests.detect_scenarios.cases import SHUTDOWN
from tests.fixtures.telegram.builder import read
from tests.support.httpserver import HttpServer, Reply

pytestmark = pytest.mark.timeout(120)


def with_background(case: cases.Case) -> World:
    world = cases.background()
    world.seeds.extend(case.world.seeds)
    world.batches.extend(case.world.batches)
    return world


def alerts(store: Store) -> list[m.Alert]:
    with store.session() as s:
        return list(s.scalars(select(m.Alert).order_by(m.Alert.id)))


def counts(store: Store) -> dict[str, int]:
    with store.session() as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0
                for t in (m.Event, m.Lead, m.Candidate, m.Alert, m.Delivery, m.Community)}


def test_explicit_announcement_of_a_reserve_group_before_the_shutdown(any_store: Store, settings: Settings) -> None:
    case = cases.explicit_announcement("it", 0.5, 1, seed=7)
    load(any_store, with_background(case))
    report = detect(any_store, settings)
    a, b = community_id(any_store, "ann-it-50-1-A"), community_id(any_store, "ann-it-50-1-B")

    (cand,) = [c for c in report.candidates if (c["source_id"], c["target_id"]) == (a, b)]
    assert cand["level"] == "strong"
    by_kind = {al.kind: al for al in alerts(any_store)}
    assert set(by_kind) == {"shutdown", "migration"}
    migration = by_kind["migration"]
    assert (migration.source_community_id, migration.target_community_id, migration.level) == (a, b, "strong")
    signals = {sig["name"]: sig for sig in migration.payload["signals"]}
    announcement = signals["announcement"]["evidence"][0]
    assert announcement["post_url"].startswith("https://t.me/miamoglie7/")
    assert "it:gruppo di riserva" in announcement["phrases"]
    assert signals["members"]["evidence"][0]["shared_members"] == 20
    assert by_kind["shutdown"].payload["signals"][0]["evidence"][0]["status"] == "banned"

    with any_store.session() as s:  # the link made B a lead of the same case, with its provenance
        target = s.get(m.Community, b)
        assert target is not None
        assert (target.watch_state, target.origin_community_id, target.depth, target.case_name) == (
            "lead", a, 1, "test-case")
        lead = s.scalars(select(m.Lead).where(m.Lead.community_id == b)).one()
        assert (lead.state, lead.source_community_id) == ("watching", a)
        assert lead.source_post_id == target.origin_post_id is not None


def test_rerunning_on_unchanged_data_creates_nothing(any_store: Store, settings: Settings) -> None:
    load(any_store, with_background(cases.explicit_announcement("en", 0.5, 1, seed=8)))
    detect(any_store, settings)
    before = counts(any_store)
    again = detect(any_store, settings)
    assert counts(any_store) == before
    assert (again.events, again.leads, again.alerts) == ([], [], [])
    assert all(not c["new"] for c in again.candidates)


def test_silent_successor_found_by_members_and_reposted_images(sqlite_store: Store, settings: Settings) -> None:
    load(sqlite_store, with_background(cases.silent_successor(0.8, 6, False, seed=9)))
    detect(sqlite_store, settings)
    (migration,) = [al for al in alerts(sqlite_store) if al.kind == "migration"]
    signals = {sig["name"]: sig for sig in migration.payload["signals"]}
    assert signals["announcement"]["score"] == 0 and signals["name"]["score"] == 0
    assert signals["members"]["evidence"][0]["shared_members"] == 32
    assert signals["members"]["evidence"][0]["first_seen_in_target_after_event"] == 32
    assert signals["content"]["evidence"][0]["media_matches"] >= 5
    assert migration.level == "strong"


@pytest.mark.parametrize(("title", "handle"), [("𝕄𝕚𝕒 𝕄𝕠𝕘𝕝𝕚𝕖 2", "m1a_m0glie_backup"), ("Міа Моglіе", "miamoglie_ris")])
def test_homoglyph_and_leetspeak_names_match(sqlite_store: Store, settings: Settings, title: str, handle: str) -> None:
    load(sqlite_store, with_background(cases.homoglyph_name(title, handle, 0.5, seed=10)))
    report = detect(sqlite_store, settings)
    (cand,) = [c for c in report.candidates if c["target"] == f"telegram:{handle}"]
    assert cand["signals"]["name"] == 1.0 and cand["level"] == "likely"
    (migration,) = [al for al in alerts(sqlite_store) if al.kind == "migration"]
    name = next(sig for sig in migration.payload["signals"] if sig["name"] == "name")
    assert name["evidence"][0]["target_name"] in (title, handle)


def test_rename_of_the_same_channel_id_is_a_rebrand_not_a_migration(any_store: Store, settings: Settings) -> None:
    chan = Chan("5005", "cortile_segreto", "Il Cortile Segreto")
    world = World(seeds=[chan])
    world.add(chan.snap(SHUTDOWN - timedelta(days=2), members=900))
    world.add(chan.post(SHUTDOWN - timedelta(days=1), "ciao", user="u1"))
    world.add(chan.snap(SHUTDOWN, title="𝕀𝕝 ℂ𝕠𝕣𝕥𝕚𝕝𝕖 2.0", handle="c0rtile_2", members=910))
    load(any_store, world)
    report = detect(any_store, settings)
    assert {e["kind"] for e in report.events} == {"rename"}
    assert report.candidates == []
    (rebrand,) = alerts(any_store)
    # one rebrand old → new (issue 15, class 4): the source names the old handle and its link, the
    # target is the same channel under its new handle
    assert (rebrand.kind, rebrand.level) == ("rebrand", "strong")
    assert rebrand.target_community_id == rebrand.source_community_id
    changes = {(ev["field"], ev["old"], ev["new"]) for ev in rebrand.payload["signals"][0]["evidence"]}
    assert changes == {("title", "Il Cortile Segreto", "𝕀𝕝 ℂ𝕠𝕣𝕥𝕚𝕝𝕖 2.0"), ("handle", "cortile_segreto", "c0rtile_2")}
    assert rebrand.payload["source"]["handle"] == "cortile_segreto"
    assert rebrand.payload["source"]["url"].endswith("/cortile_segreto")
    assert rebrand.payload["target"]["handle"] == "c0rtile_2"


def test_one_failed_fetch_raises_no_shutdown(any_store: Store, settings: Settings) -> None:
    load(any_store, with_background(cases.flaky_fetch(seed=11)))
    report = detect(any_store, settings)
    assert [e for e in report.events if e["kind"] == "shutdown"] == []
    assert alerts(any_store) == []


def test_confirmed_unreachable_raises_a_shutdown_alert(sqlite_store: Store, settings: Settings) -> None:
    chan = Chan("6006", "segreti_roma", "Segreti di Roma")
    world = World(seeds=[chan])
    world.add(chan.snap(SHUTDOWN - timedelta(days=1)))
    load(sqlite_store, world)
    for hour in range(settings.detect.shutdown_confirmations):
        detect(sqlite_store, settings)
        assert alerts(sqlite_store) == []
        load(sqlite_store, World(batches=[[chan.down(SHUTDOWN + timedelta(hours=hour))]]))
    detect(sqlite_store, settings)
    (alert,) = alerts(sqlite_store)
    assert (alert.kind, alert.level) == ("shutdown", "likely")
    assert alert.payload["signals"][0]["evidence"][0]["failed_observations"] == 3


def test_unrelated_community_with_a_similar_generic_name_is_no_successor(any_store: Store, settings: Settings) -> None:
    case = cases.unrelated_generic_name(seed=12)
    load(any_store, with_background(case))
    report = detect(any_store, settings)
    assert report.candidates == []
    assert [al.kind for al in alerts(any_store)] == ["shutdown"]


def test_directory_channel_does_not_make_a_successor_storm(sqlite_store: Store, settings: Settings) -> None:
    case = cases.directory(25, seed=13)
    world = with_background(case)
    world.add(world.seeds[-1].down(SHUTDOWN + timedelta(days=1), r.CommunityStatus.BANNED))  # even when it dies
    load(sqlite_store, world)
    report = detect(sqlite_store, settings)
    assert [c for c in report.candidates if c["level"] in ("likely", "strong")] == []
    assert [al.kind for al in alerts(sqlite_store)] == ["shutdown"]
    assert len(report.leads) == 25  # every advertised group is still a lead to crawl


def test_dismissed_pair_alerts_again_only_after_the_margin(sqlite_store: Store, settings: Settings) -> None:
    case = cases.explicit_announcement("fr", 0.0, 3, seed=14)
    load(sqlite_store, with_background(case))
    detect(sqlite_store, settings)
    a, b = community_id(sqlite_store, "ann-fr-0-3-A"), community_id(sqlite_store, "ann-fr-0-3-B")
    with sqlite_store.session() as s:
        row = set_candidate_state(s, a, b, "dismissed")
        assert row.dismissed_score == pytest.approx(0.45)
    # more of the same kind of evidence: a second announcement does not move the score enough
    chan_a = case.world.seeds[0]
    load(sqlite_store, World(batches=[[chan_a.post(SHUTDOWN - timedelta(days=2), "nouveau groupe t.me/riserva14_x",
                                                   user="ann-fr-0-3-a1")]]))
    before = len(alerts(sqlite_store))
    detect(sqlite_store, settings)
    assert len(alerts(sqlite_store)) == before
    # then A's members move to B: the score rises well past the margin, so it alerts again
    movers = [f"ann-fr-0-3-a{i}" for i in range(30)]
    target = Chan("ann-fr-0-3-B", "riserva14_x", "Riserva privata")
    joins: list[r.Record] = [*target.joins(movers, SHUTDOWN + timedelta(days=1))]
    load(sqlite_store, World(batches=[joins]))
    report = detect(sqlite_store, settings)
    (again,) = report.alerts
    assert (again["kind"], again["level"]) == ("migration", "strong")
    with sqlite_store.session() as s:
        cand = s.scalars(select(m.Candidate).where(m.Candidate.source_id == a, m.Candidate.target_id == b)).one()
        assert cand.state == "open"


def test_set_candidate_state_rejects_unknown_pairs_and_states(sqlite_store: Store) -> None:
    from model.errors import UsageError

    with sqlite_store.session() as s, pytest.raises(UsageError, match="no migration candidate"):
        set_candidate_state(s, 1, 2, "dismissed")
    with sqlite_store.session() as s, pytest.raises(UsageError, match="must be one of"):
        set_candidate_state(s, 1, 2, "maybe")


class FakeRedditSearch:
    """What the Reddit crawler will provide: a name search on one platform."""

    def __init__(self, results: dict[str, Sequence[tuple[str, str | None, str]]]) -> None:
        self.results = results
        self.queries: list[tuple[str, str]] = []

    def __call__(self, platform: str, query: str) -> Sequence[tuple[str, str | None, str]]:
        self.queries.append((platform, query))
        return self.results.get(platform, [])


def test_shutdown_searches_for_similarly_named_communities(sqlite_store: Store, settings: Settings) -> None:
    chan = Chan("7007", "miamoglie_it", "Mia Moglie")
    world = World(seeds=[chan])
    world.add(chan.snap(SHUTDOWN - timedelta(days=3)))
    world.add(chan.down(SHUTDOWN, r.CommunityStatus.BANNED))
    load(sqlite_store, world)
    search = FakeRedditSearch({"reddit": [
        ("M1aMoglie_backup", "Mia Moglie backup", "https://www.reddit.com/r/M1aMoglie_backup"),
        ("cooking", "Cooking", "https://www.reddit.com/r/cooking"),
    ]})
    detect(sqlite_store, settings, search=search)
    assert ("reddit", "Mia Moglie") in search.queries
    with sqlite_store.session() as s:
        found = s.scalars(select(m.Community).where(m.Community.watch_state == "candidate")).all()
        assert [(c.platform, c.handle, c.origin_community_id) for c in found] == [
            ("reddit", "M1aMoglie_backup", community_id(sqlite_store, "7007"))]
        lead = s.scalars(select(m.Lead).where(m.Lead.kind == "search")).one()
        assert lead.attrs["similarity"] == 1.0
    detect(sqlite_store, settings, search=search)  # no second search for the same shutdown
    assert len(search.queries) == len(settings.crawl.lead_platforms)


def test_private_invites_wait_for_a_human_and_depth_limits_apply(sqlite_store: Store, tmp_path: object) -> None:
    settings = Settings(data_dir=str(tmp_path), crawl=CrawlSettings(
        allow_private_addresses=True, lead_depth=1, lead_platforms=["telegram"]))
    seed = Chan("8008", "seed_channel", "Seed")
    world = World(seeds=[seed])
    world.add(seed.snap(SHUTDOWN))
    world.add(seed.post(SHUTDOWN, "entrate t.me/+AbCdEf12345 e discord.gg/xyz, poi t.me/lead_one e https://www.reddit.com/r/somesub",
                        user="u1"))
    load(sqlite_store, world)
    report = detect(sqlite_store, settings)
    states = {lead["url"]: lead["state"] for lead in report.leads}
    assert states == {"https://t.me/+AbCdEf12345": "needs_human", "https://discord.gg/xyz": "needs_human",
                      "https://t.me/lead_one": "watching", "https://www.reddit.com/r/somesub": "new"}
    with sqlite_store.session() as s:
        assert s.scalar(select(func.count()).select_from(m.Community).where(m.Community.watch_state == "lead")) == 1
    # the lead's own links are depth 2: recorded, not watched
    lead = Chan("8009", "lead_one", "Lead One")
    load(sqlite_store, World(batches=[[lead.snap(SHUTDOWN), lead.post(SHUTDOWN, "vedi t.me/depth_two", user="u2")]]))
    report = detect(sqlite_store, settings)
    assert [(x["url"], x["state"], x["depth"]) for x in report.leads] == [("https://t.me/depth_two", "new", 2)]


def test_small_leads_are_not_watched(sqlite_store: Store, tmp_path: object) -> None:
    settings = Settings(data_dir=str(tmp_path), crawl=CrawlSettings(allow_private_addresses=True,
                                                                   lead_min_members=100))
    seed, tiny = Chan("9009", "seed_two", "Seed"), Chan("9010", "tiny_group", "Tiny")
    world = World(seeds=[seed])
    world.add(tiny.snap(SHUTDOWN, members=12), seed.snap(SHUTDOWN))
    world.add(seed.post(SHUTDOWN, "t.me/tiny_group", user="u1"))
    load(sqlite_store, world)
    (lead,) = detect(sqlite_store, settings).leads
    assert lead["state"] == "ignored" and "lead_min_members" in lead["reason"]


def test_alert_level_setting_controls_migration_alerts(sqlite_store: Store, tmp_path: object) -> None:
    settings = Settings(data_dir=str(tmp_path), detect=DetectSettings(alert_level="strong"))
    load(sqlite_store, with_background(cases.explicit_announcement("de", 0.0, 3, seed=15)))
    report = detect(sqlite_store, settings)
    assert [c["level"] for c in report.candidates] == ["likely"]
    assert [al.kind for al in alerts(sqlite_store)] == ["shutdown"]


def test_detection_scales_to_a_random_busy_world(sqlite_store: Store, settings: Settings) -> None:
    """Hostile-ish input: many channels linking to each other at random, shared members, no shutdowns;
    detection finishes and raises nothing above "possible"."""
    rng = random.Random(3)
    chans = [Chan(f"r{i}", f"rand_chan_{i}", f"Canale {i}") for i in range(30)]
    world = World(seeds=chans[:10])
    for chan in chans:
        users = [f"ru{rng.randrange(300)}" for _ in range(25)]
        world.add(chan.snap(SHUTDOWN), *chan.joins(users, SHUTDOWN))
        world.add(*(chan.post(SHUTDOWN - timedelta(hours=k), f"guarda t.me/rand_chan_{rng.randrange(30)}",
                              user=rng.choice(users)) for k in range(5)))
    load(sqlite_store, world)
    report = detect(sqlite_store, settings)
    assert [c for c in report.candidates if c["level"] != "possible"] == []
    assert alerts(sqlite_store) == []


def test_a_post_pointing_back_at_a_closed_predecessor_is_no_migration_into_it(sqlite_store: Store,
                                                                               settings: Settings) -> None:
    """A watched forum writes "the channel was closed, backup here" linking to the dead channel: the
    channel may have moved to the forum, never the forum to the channel."""
    closed, forum = Chan("1101", "cortile_chiuso", "Il Cortile"), Chan("1102", "forum_scatti", "Forum Scatti")
    world = World(seeds=[closed, forum])
    world.add(closed.snap(SHUTDOWN - timedelta(days=30)), forum.snap(SHUTDOWN - timedelta(days=300)))
    world.add(closed.post(SHUTDOWN - timedelta(days=2), "ciao", user="u1"))
    world.add(closed.down(SHUTDOWN, r.CommunityStatus.BANNED))
    world.add(forum.post(SHUTDOWN + timedelta(days=1), "Il canale t.me/cortile_chiuso è stato chiuso, ecco il "
                         "backup. The group got banned, backup here.", user="u2"))
    load(sqlite_store, world)
    report = detect(sqlite_store, settings)
    a, f = community_id(sqlite_store, "1101"), community_id(sqlite_store, "1102")
    assert [c for c in report.candidates if (c["source_id"], c["target_id"]) == (f, a)] == []
    assert not [al for al in alerts(sqlite_store) if al.kind == "migration" and al.source_community_id == f]
    (back,) = [c for c in report.candidates if (c["source_id"], c["target_id"]) == (a, f)]
    assert back["signals"]["announcement"] > 0


def test_a_link_to_a_persons_account_never_stores_the_person_as_a_community(
        tmp_path: Path, http_server: HttpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """"contact t.me/ray_handle" in a watched channel makes the handle a public lead; crawling it
    finds a person's profile. The crawl fails (InvalidTarget) and the person's name and bio are
    stored nowhere: no snapshot, no title or description on the lead's community row."""
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", TEST_KEY.decode())
    settings = Settings(data_dir=str(tmp_path / "data"), crawl=CrawlSettings(
        allow_private_addresses=True, lead_platforms=["telegram"], max_retries=0, default_rate_limit=200.0),
        telegram=TelegramSettings(web_base_url=http_server.base_url))
    settings.base_dir = tmp_path
    http_server.route("/s/ray_handle", Reply.redirect("/ray_handle"))
    http_server.route("/ray_handle", Reply.html(read("user_profile.html")))
    app = App(settings)
    try:
        seed = Chan("8108", "seed_three", "Seed")
        world = World(seeds=[seed])
        world.add(seed.snap(SHUTDOWN), seed.post(SHUTDOWN, "backup list: contact t.me/ray_handle"))
        load(app.store, world)
        (lead,) = detect(app.store, settings).leads
        assert (lead["url"], lead["state"]) == ("https://t.me/ray_handle", "watching")
        with app.store.session() as s:
            person_id = s.scalars(select(m.Community.id).where(m.Community.handle == "ray_handle")).one()
        (result,) = crawl_once(app, ids=[person_id])
        assert result.outcome == "failed" and result.error is not None
        assert "is a person's account, not a community; not stored" in result.error
        with app.store.session() as s:
            row = s.get(m.Community, person_id)
            assert row is not None and (row.title, row.native_id, row.status) == (None, None, "active")
            assert s.scalars(select(m.Snapshot).where(m.Snapshot.community_id == person_id)).all() == []
            # A lead that is no community is not followed again (only the handle from the link is kept).
            assert row.watch_state == "ignored"
        raw = app.store.engine.raw_connection()
        try:
            assert raw.driver_connection is not None
            dumped = "\n".join(raw.driver_connection.iterdump())
        finally:
            raw.close()
        assert "Ray Quill" not in dumped and "backup list. Milano" not in dumped
    finally:
        app.close()


class FakeTelegramSearchClient:
    """The Telegram thin client's ``search`` call over real ``telethon.tl.types`` objects."""

    def __init__(self, found: Any) -> None:
        self.found = found
        self.queries: list[str] = []

    def search(self, query: str, limit: int) -> Any:
        self.queries.append(query)
        return self.found

    def close(self) -> None:
        pass


def test_a_shut_down_telegram_community_finds_its_public_namesake_on_telegram(
        sqlite_store: Store, settings: Settings) -> None:
    from telethon.tl import types as tl
    from telethon.tl.types import contacts as tlc

    from crawlers.telegram.api import name_search

    chan = Chan("7117", "miamoglie_it", "Mia Moglie")
    world = World(seeds=[chan])
    world.add(chan.snap(SHUTDOWN - timedelta(days=3)))
    world.add(chan.down(SHUTDOWN, r.CommunityStatus.BANNED))
    load(sqlite_store, world)
    namesake = tl.Channel(id=5501, title="Mia Moglie Backup", photo=tl.ChatPhotoEmpty(), date=SHUTDOWN,
                          megagroup=True, username="MiaMoglie_Backup")
    unlisted = tl.Channel(id=5502, title="Mia Moglie", photo=tl.ChatPhotoEmpty(), date=SHUTDOWN, broadcast=True)
    person = tl.User(id=5503, first_name="Mia Moglie", username="mia_moglie")
    client = FakeTelegramSearchClient(tlc.Found(my_results=[], results=[], chats=[namesake, unlisted],
                                                users=[person]))
    detect(sqlite_store, settings, search=name_search(settings, client=client))  # type: ignore[arg-type]
    assert client.queries == ["Mia Moglie"]
    with sqlite_store.session() as s:
        found = s.scalars(select(m.Community).where(m.Community.watch_state == "candidate")).all()
        assert [(c.platform, c.handle, c.origin_community_id) for c in found] == [
            ("telegram", "miamoglie_backup", community_id(sqlite_store, "7117"))]
        lead = s.scalars(select(m.Lead).where(m.Lead.kind == "search")).one()
        assert lead.url == "https://t.me/miamoglie_backup"
        assert s.scalar(select(func.count()).select_from(m.Community).where(
            m.Community.handle == "mia_moglie")) == 0  # people are never made communities


def test_configured_name_search_skips_what_is_not_configured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from service.detection import configured_name_search

    for name in ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USER_AGENT", "TELEGRAM_API_ID",
                 "TELEGRAM_API_HASH"):
        monkeypatch.delenv(name, raising=False)
    plain = Settings(data_dir=str(tmp_path / "data"))
    with caplog.at_level("INFO", logger="resurface.detect"):
        assert configured_name_search(plain) is None
    assert "no Reddit name search" in caplog.text and "REDDIT_CLIENT_ID" in caplog.text
    assert "no Telegram name search: telegram.use_api is false" in caplog.text

    caplog.clear()
    api = Settings(data_dir=str(tmp_path / "data"), telegram=TelegramSettings(use_api=True))
    monkeypatch.setenv("TELEGRAM_API_ID", "12345")
    monkeypatch.setenv("TELEGRAM_API_HASH", "abc")
    from crawlers.telegram.api import session_path

    session_path(api).parent.mkdir(parents=True, exist_ok=True)
    session_path(api).touch()
    with caplog.at_level("INFO", logger="resurface.detect"):
        search = configured_name_search(api)
    assert search is not None
    assert "no Reddit name search" in caplog.text and "Telegram" not in caplog.text
    assert search("reddit", "Mia Moglie") == []  # Telegram answers only for Telegram, without connecting


def test_a_failing_name_search_does_not_stop_detection(monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    import crawlers.reddit.source
    from config.settings import Settings
    from crawlers.errors import TransientError
    from service.detection import configured_name_search

    def down(platform: str, query: str) -> list[tuple[str, str | None, str]]:
        raise TransientError("https://oauth.reddit.example/subreddits/search: connection refused")

    monkeypatch.setattr(crawlers.reddit.source, "name_search", lambda settings: down)
    search = configured_name_search(Settings())
    assert search is not None
    with caplog.at_level(logging.WARNING, "resurface.detect"):
        assert list(search("reddit", "mia moglie")) == []
    assert "connection refused" in caplog.text
