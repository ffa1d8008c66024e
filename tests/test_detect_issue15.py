"""Issue 15 at unit level: each class's rule in detection, without a served world (the end-to-end tests
through the CLI are in tests/test_eval_classes.py).

- class 8: a shutdown alert whose community reads normally again is marked recovered, once, and every
  audience is told (a further delivery); NGOs see the flag and when.
- classes 1/2: decisive content (forwards from A, or several reposts) after A's end reaches likely; one
  popular picture does not.
- class 6: most of a small gone community's members in B reach likely, and the population of the
  hypergeometric test is the platforms' own member counts, not the members we happen to know.
- class 7: created before the end and surging after it scores on timing.
- class 9: growth ×5 or more with no earlier readings is a surge, attached to the migration with its counts.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

import crawlers.registry as registry
from alerts.render import redact_for_ngo
from alerts.summary import summarise
from config.settings import AudienceSettings, DetectSettings, Settings
from detect.events import SnapshotView, member_count_surges
from detect.scoring import ContentEvidence, MemberEvidence, PairEvidence, score_pair
from model import records as r
from store import models as m
from store.db import Store
from tests.detect_scenarios.builder import Chan, World, detect, load
from tests.factories import T0

END = T0 + timedelta(days=10)


def evidence(**kw: object) -> PairEvidence:
    base: dict[str, object] = {"source_id": 1, "target_id": 2, "source_event": "shutdown", "source_event_at": END,
                               "source_last_post_at": END - timedelta(hours=5)}
    base.update(kw)
    return PairEvidence(**base)  # type: ignore[arg-type]


# --- class 8: recovered ------------------------------------------------------------------------------


def _with_audiences(settings: Settings) -> Settings:
    settings.alerts.audiences = {
        "ngo": AudienceSettings(urls=["json://127.0.0.1:9/ngo"], detail="ngo", min_level="likely"),
        "inv": AudienceSettings(urls=["json://127.0.0.1:9/inv"], detail="investigator", min_level="possible"),
    }
    return settings


def test_a_shutdown_whose_community_comes_back_is_marked_recovered_once(sqlite_store: Store,
                                                                       settings: Settings) -> None:
    settings = _with_audiences(settings)
    chan = Chan("9001", "giardino_chiuso", "Il Giardino Chiuso")
    world = World(seeds=[chan])
    world.add(chan.snap(END - timedelta(days=1), members=500))
    world.add(chan.down(END, status=r.CommunityStatus.BANNED))
    load(sqlite_store, world)
    detect(sqlite_store, settings)
    with sqlite_store.session() as s:
        (alert,) = s.scalars(select(m.Alert))
        assert (alert.kind, alert.level) == ("shutdown", "strong")
        assert not any(sig["name"] == "recovered" for sig in alert.payload["signals"])
        before = {d.idempotency_key for d in s.scalars(select(m.Delivery))}
    assert before == {f"{alert.id}:ngo:strong", f"{alert.id}:inv:strong"}

    back = World()
    back.add(chan.snap(END + timedelta(hours=2), members=505))
    load(sqlite_store, back)
    detect(sqlite_store, settings)
    detect(sqlite_store, settings)  # a second cycle tells nobody twice
    with sqlite_store.session() as s:
        (alert,) = s.scalars(select(m.Alert))
        doc = dict(alert.payload, id=alert.id, state=alert.state)
        keys = sorted(d.idempotency_key for d in s.scalars(select(m.Delivery)))
    recovered = [sig for sig in doc["signals"] if sig["name"] == "recovered"]
    assert len(recovered) == 1
    (item,) = recovered[0]["evidence"]
    assert item["recovered"] is True and item["status"] == "active"
    assert item["recovered_at"].startswith((END + timedelta(hours=2)).date().isoformat())
    assert keys == sorted([*before, f"{alert.id}:ngo:recovered", f"{alert.id}:inv:recovered"])
    # what an NGO receives keeps the flag and the time (allow-listed in alerts/privacy.py)
    ngo = redact_for_ngo(doc)
    (ngo_recovered,) = [sig for sig in ngo["signals"] if sig["name"] == "recovered"]
    assert ngo_recovered["evidence"][0]["recovered"] is True
    assert ngo_recovered["evidence"][0]["recovered_at"] == item["recovered_at"]


def test_a_community_still_gone_is_not_recovered(sqlite_store: Store, settings: Settings) -> None:
    chan = Chan("9002", "porta_chiusa", "La Porta Chiusa")
    world = World(seeds=[chan])
    world.add(chan.snap(END - timedelta(days=1)))
    world.add(chan.down(END, status=r.CommunityStatus.BANNED))
    world.add(chan.down(END + timedelta(hours=2), status=r.CommunityStatus.BANNED))
    load(sqlite_store, world)
    detect(sqlite_store, settings)
    with sqlite_store.session() as s:
        (alert,) = s.scalars(select(m.Alert))
        assert not any(sig["name"] == "recovered" for sig in alert.payload["signals"])
        assert not list(s.scalars(select(m.Event).where(m.Event.kind == "recovered")))


def test_a_handle_change_found_after_the_old_handle_was_called_gone_recovers_it(sqlite_store: Store,
                                                                               settings: Settings) -> None:
    """Class 4, late: the old handle answered "does not exist" twice before anything led Resurface to the
    new one (on report seeds this happens when the only mention of the new handle sits in a channel that
    answered with an error on the first crawl). The strong shutdown is what the store said then; once the
    channel is read under its new handle, the investigator gets the rebrand and the shutdown alert is
    marked recovered, so it no longer reads as a dead channel."""
    settings = _with_audiences(settings)
    chan = Chan("9003", "vecchio_nome", "Il Vecchio Canale")
    world = World(seeds=[chan])
    world.add(chan.snap(END - timedelta(days=1), members=900))
    for hours in (0, 2):
        gone = chan.down(END + timedelta(hours=hours), status=r.CommunityStatus.DELETED)
        world.add(replace(gone, extra={**gone.extra, r.STATUS_DEFINITIVE: True}))
    load(sqlite_store, world)
    detect(sqlite_store, settings)
    with sqlite_store.session() as s:
        (shutdown,) = s.scalars(select(m.Alert))
        assert (shutdown.kind, shutdown.level) == ("shutdown", "strong")

    moved = World()
    moved.add(chan.snap(END + timedelta(hours=5), handle="nuovo_nome", members=905))
    load(sqlite_store, moved)
    detect(sqlite_store, settings)
    with sqlite_store.session() as s:
        alerts = {a.kind: a for a in s.scalars(select(m.Alert))}
        recovered = [sig for sig in alerts["shutdown"].payload["signals"] if sig["name"] == "recovered"]
        rebrand = alerts["rebrand"].payload
    assert len(recovered) == 1
    assert rebrand["source"]["handle"] == "vecchio_nome"
    assert rebrand["target"]["handle"] == "nuovo_nome"


def _moved_world(chan: Chan, hub: Chan, mention: str) -> World:
    """``chan`` read, then "does not exist" twice; ``hub`` (watched) posts a link to ``mention`` meanwhile."""
    world = World(seeds=[chan, hub])
    world.add(chan.snap(END - timedelta(days=1), members=900), hub.snap(END - timedelta(days=1), members=300))
    for hours in (0, 2):
        gone = chan.down(END + timedelta(hours=hours), status=r.CommunityStatus.DELETED)
        world.add(replace(gone, extra={**gone.extra, r.STATUS_DEFINITIVE: True}))
    world.add(hub.post(END + timedelta(hours=1), f"guardate qui https://t.me/{mention}"))
    return world


def _shutdown(store: Store) -> m.Alert:
    with store.session() as s:
        alert = s.scalar(select(m.Alert).where(m.Alert.kind == "shutdown"))
        assert alert is not None
        s.expunge(alert)
        return alert


def _item(alert: m.Alert) -> dict[str, object]:
    (signal,) = [sig for sig in alert.payload["signals"] if sig["name"] == "shutdown"]
    item: dict[str, object] = signal["evidence"][0]
    return item


def test_a_gone_handle_is_held_at_likely_while_a_link_found_since_is_unread_then_marked_recovered(
        sqlite_store: Store, settings: Settings) -> None:
    """Class 4, late (the case report seeds 3000-3039 missed twice): the old handle says "does not exist"
    twice while the only link to the new handle has just been found and not yet crawled. From the old
    handle alone a deleted channel and a moved one look the same, so the shutdown says "likely", with the
    number of unread links; read under its new handle, the channel's shutdown is marked recovered and
    never became strong, and the rebrand names old and new."""
    settings = _with_audiences(settings)
    chan, hub = Chan("9004", "vecchio_nome", "Il Vecchio Canale"), Chan("9005", "piazza", "La Piazza")
    load(sqlite_store, _moved_world(chan, hub, "nuovo_nome"))
    detect(sqlite_store, settings)
    held = _shutdown(sqlite_store)
    assert held.level == "likely"
    item = _item(held)
    assert item["pending_leads"] == 1 and item["pending_lead_urls"] == ["https://t.me/nuovo_nome"]
    ngo = redact_for_ngo(held.payload)
    ngo_item = ngo["signals"][0]["evidence"][0]
    assert ngo_item["pending_leads"] == 1 and "pending_lead_urls" not in ngo_item  # a count, not where
    assert "1 link found since it was last read is not read yet: this stays likely" in summarise(ngo, "en")
    assert "1 link trovato da quando è stato letto l'ultima volta non è ancora stato letto" in summarise(ngo, "it")

    detect(sqlite_store, settings)  # nothing read yet: still held, not escalated
    assert _shutdown(sqlite_store).level == "likely"

    moved = World()
    moved.add(chan.snap(END + timedelta(hours=5), handle="nuovo_nome", members=905))
    load(sqlite_store, moved)
    detect(sqlite_store, settings)
    after = _shutdown(sqlite_store)
    assert after.level == "likely" and after.escalations == 0
    assert any(sig["name"] == "recovered" for sig in after.payload["signals"])
    with sqlite_store.session() as s:
        rebrand = s.scalar(select(m.Alert).where(m.Alert.kind == "rebrand"))
        assert rebrand is not None
        assert (rebrand.payload["source"]["handle"], rebrand.payload["target"]["handle"]) == (
            "vecchio_nome", "nuovo_nome")


def test_a_held_shutdown_becomes_strong_once_the_links_are_read_and_none_was_the_channel(
        sqlite_store: Store, settings: Settings) -> None:
    """A channel really deleted: the link found meanwhile leads to another channel. Once it has been read
    the shutdown is raised to strong (an escalation, so the audiences that wait for strong hear of it)."""
    settings = _with_audiences(settings)
    chan, hub = Chan("9006", "chiuso_davvero", "Chiuso Davvero"), Chan("9007", "piazza_due", "La Piazza Due")
    load(sqlite_store, _moved_world(chan, hub, "altro_canale"))
    detect(sqlite_store, settings)
    assert _shutdown(sqlite_store).level == "likely"
    other = Chan("9008", "altro_canale", "Un Altro Canale")
    read = World()
    read.add(other.snap(END + timedelta(hours=5), members=40))
    load(sqlite_store, read)
    detect(sqlite_store, settings)
    strong = _shutdown(sqlite_store)
    assert (strong.level, strong.escalations) == ("strong", 1)
    item = _item(strong)
    assert item["leads_read"] == 1 and "pending_leads" not in item and "held_until" not in item
    assert "The 1 link found since it was last read was read; it did not lead to it" in summarise(
        redact_for_ngo(strong.payload), "en")
    with sqlite_store.session() as s:
        levels = sorted(d.level for d in s.scalars(select(m.Delivery).where(m.Delivery.alert_id == strong.id)))
    assert levels == ["likely", "likely", "strong", "strong"]


def test_a_hold_that_runs_out_raises_the_shutdown_to_strong_and_says_so(sqlite_store: Store,
                                                                        settings: Settings) -> None:
    settings = _with_audiences(settings)
    chan, hub = Chan("9009", "mai_letto", "Mai Letto"), Chan("9010", "piazza_tre", "La Piazza Tre")
    load(sqlite_store, _moved_world(chan, hub, "irraggiungibile"))
    detect(sqlite_store, settings)
    with sqlite_store.session() as s:  # time passes: the hold's end is now behind us
        alert = s.scalar(select(m.Alert).where(m.Alert.kind == "shutdown"))
        assert alert is not None and alert.level == "likely"
        payload = copy.deepcopy(alert.payload)
        payload["signals"][0]["evidence"][0]["held_until"] = (m.utcnow() - timedelta(minutes=1)).isoformat()
        alert.payload = payload
    detect(sqlite_store, settings)
    strong = _shutdown(sqlite_store)
    assert strong.level == "strong"
    item = _item(strong)
    assert item["leads_read"] == 0 and "held_until" in item
    assert "could not all be read in time" in summarise(strong.payload, "en")


def test_without_a_hold_or_off_platform_a_gone_handle_is_strong_at_once(sqlite_store: Store,
                                                                        settings: Settings) -> None:
    settings = _with_audiences(settings)
    settings.detect.shutdown_hold_hours = 0
    chan, hub = Chan("9011", "senza_attesa", "Senza Attesa"), Chan("9012", "piazza_quattro", "La Piazza Quattro")
    load(sqlite_store, _moved_world(chan, hub, "nuovo_posto"))
    detect(sqlite_store, settings)
    assert _shutdown(sqlite_store).level == "strong"


def test_the_hold_follows_the_platform_plugin_saying_its_addresses_move(sqlite_store: Store, settings: Settings,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # the same world as the held one above, but Telegram's recogniser no longer says a channel can move
    settings = _with_audiences(settings)
    fixed = tuple(replace(rec, addresses_move=False) for rec in registry.link_recognisers())
    monkeypatch.setattr(registry, "_links", fixed)
    chan, hub = Chan("9013", "non_si_sposta", "Non Si Sposta"), Chan("9014", "piazza_cinque", "La Piazza Cinque")
    load(sqlite_store, _moved_world(chan, hub, "altro_posto"))
    detect(sqlite_store, settings)
    assert _shutdown(sqlite_store).level == "strong"


# --- classes 1, 2, 6, 7: scoring --------------------------------------------------------------------


def test_reposts_and_forwards_of_a_gone_channel_are_likely_on_their_own() -> None:
    silent = evidence(content=ContentEvidence(media_matches=6, text_matches=0, forwards=4))
    assert score_pair(silent, DetectSettings()).level == "likely"
    popular = evidence(content=ContentEvidence(media_matches=1, text_matches=0, forwards=0))
    assert score_pair(popular, DetectSettings()).level is None
    live = evidence(content=ContentEvidence(6, 0, 4), source_event=None, source_event_at=None)
    assert score_pair(live, DetectSettings()).level != "likely"  # a sister channel of a live one


def test_most_of_a_small_gone_group_moving_is_likely() -> None:
    moved = MemberEvidence(shared=16, size_a=18, size_b=18, overlap_coefficient=16 / 18, jaccard=16 / 20,
                           significance=6.0)
    assert score_pair(evidence(members=moved), DetectSettings()).level == "likely"
    by_chance = MemberEvidence(shared=16, size_a=18, size_b=18, overlap_coefficient=16 / 18, jaccard=16 / 20,
                               significance=0.0)
    assert score_pair(evidence(members=by_chance), DetectSettings()).level is None


def test_reserve_group_made_before_the_end_and_grown_after_scores_on_timing() -> None:
    # ten days after the end, a surge alone would score 0.64 and the early start alone 0.6
    ev = evidence(target_started_at=END - timedelta(days=4), target_surges=(END + timedelta(days=10),))
    timing = score_pair(ev, DetectSettings()).signal("timing")
    assert timing is not None and timing.score == 0.9
    assert timing.evidence[0]["started_days_before"] == 4.0 and timing.evidence[0]["days_after"] == 10.0


# --- class 9: surges ---------------------------------------------------------------------------------


def _snap(i: int, at_hours: float, members: int) -> SnapshotView:
    at = END + timedelta(hours=at_hours)
    return SnapshotView(i, 7, at, at, 1, "777", "riserva", "Riserva", "active", members)


def test_tenfold_growth_with_no_earlier_readings_is_a_surge() -> None:
    (surge,) = member_count_surges([_snap(1, -20, 40), _snap(2, 5, 480)], factor=3.0)
    assert (surge.evidence["from"], surge.evidence["to"]) == (40, 480)
    assert member_count_surges([_snap(1, -20, 40), _snap(2, 5, 90)], factor=3.0) == []


def test_the_successor_surge_is_attached_to_the_migration_with_its_counts() -> None:
    detail = {"measure": "member_count", "from": 40, "to": 480, "observed_at": (END + timedelta(hours=3)).isoformat()}
    score = score_pair(evidence(members=MemberEvidence(16, 18, 18, 16 / 18, 0.8, 6.0),
                                target_surge_details=(detail,)), DetectSettings())
    surge = score.signal("surge")
    assert surge is not None and (surge.evidence[0]["from"], surge.evidence[0]["to"]) == (40, 480)
    before = {**detail, "observed_at": (END - timedelta(days=3)).isoformat()}  # grew long before A's end
    assert score_pair(evidence(target_surge_details=(before,)), DetectSettings()).signal("surge") is None


# --- class 3: a private invite as the successor -----------------------------------------------------


def test_a_private_invite_is_read_from_its_public_page_and_named_in_the_migration(sqlite_store: Store,
                                                                                   settings: Settings) -> None:
    chan = Chan("9003", "rifugio_segreto", "Il Rifugio Segreto")
    world = World(seeds=[chan])
    world.add(chan.snap(END - timedelta(days=1), members=300))
    world.add(chan.post(END - timedelta(hours=1), "Entrate nel gruppo di riserva 👉 https://t.me/+QwErTy123456",
                        user="u1"))
    load(sqlite_store, world)
    detect(sqlite_store, settings)
    with sqlite_store.session() as s:
        lead = s.scalars(select(m.Lead)).one()
        invite = s.scalars(select(m.Community).where(m.Community.handle == "+QwErTy123456")).one()
        # a person decides about the invite; only its public page is read (watched as a candidate, never joined)
        assert lead.state == "needs_human" and lead.community_id == invite.id
        assert invite.watch_state == "candidate" and invite.attrs["private_invite"] is True
        assert invite.url == "https://t.me/+QwErTy123456"  # the code's case is kept
    # the crawler reads the invite page (title, member count) the way telegram_web yields it
    page = World()
    page.add(r.CommunitySnapshot(platform=r.Platform.TELEGRAM, native_id=None, handle="+qwerty123456",
                                 url="https://t.me/+qwerty123456", fetched_at=END, title="Il Rifugio ♻️",
                                 description="solo amici", status=r.CommunityStatus.ACTIVE, member_count=412,
                                 source_url="https://t.me/+QwErTy123456"))
    load(sqlite_store, page)
    detect(sqlite_store, settings)
    with sqlite_store.session() as s:
        (alert,) = s.scalars(select(m.Alert).where(m.Alert.kind == "migration"))
        assert alert.payload["target"]["url"] == "https://t.me/+QwErTy123456"
        (named,) = [sig for sig in alert.payload["signals"] if sig["name"] == "private_invite"]
    (item,) = named["evidence"]
    assert (item["invite_title"], item["invite_description"], item["invite_members"]) == ("Il Rifugio ♻️",
                                                                                         "solo amici", 412)
    assert item["needs_human"] is True and "never joined" in item["reason"]


# --- class 5: a cross-platform successor ------------------------------------------------------------


def test_a_gone_communitys_link_to_its_forum_and_shared_usernames_make_a_migration(sqlite_store: Store,
                                                                                   settings: Settings) -> None:
    # a Telegram group here (the builder watches Telegram seeds); the CLI test runs the subreddit itself
    sub = Chan("9004", "cortile_vecchio", "Cortile Vecchio")
    people = [f"u_person{i}" for i in range(14)]
    world = World(seeds=[sub])
    world.add(sub.snap(END - timedelta(days=3), members=4000))
    world.add(sub.post(END - timedelta(days=2), "Just in case, our forum: https://forum.cortile.example/",
                       user=people[0]))
    world.add(r.Membership(sub.ref, r.RawMember(r.Platform.TELEGRAM, f"id{i}", person), END - timedelta(days=5))
              for i, person in enumerate(people))
    world.add(sub.down(END, status=r.CommunityStatus.DELETED))
    load(sqlite_store, world)
    detect(sqlite_store, settings)
    with sqlite_store.session() as s:
        site = s.scalars(select(m.Community).where(m.Community.platform == r.Platform.WEB)).one()
        # the link in the gone subreddit makes its site a candidate (crawled as "web" until recognised)
        assert (site.url, site.watch_state) == ("https://forum.cortile.example", "candidate")
        assert site.origin_community_id == s.scalar(select(m.Community.id).where(m.Community.handle == sub.handle))
    # the crawler recognises Discourse and 11 of the 14 usernames check in there (other ids: another platform)
    forum_ref = r.CommunityRef(r.Platform.DISCOURSE, "https://forum.cortile.example", None,
                               "https://forum.cortile.example", "Cortile Forum")
    forum = World()
    with sqlite_store.session() as s:
        s.get(m.Community, site.id).platform = r.Platform.DISCOURSE  # what the crawl runner's relabelling does
        s.get(m.Community, site.id).native_id = "https://forum.cortile.example"
    forum.add(r.CommunitySnapshot(platform=r.Platform.DISCOURSE, native_id="https://forum.cortile.example",
                                  handle=None, url="https://forum.cortile.example", fetched_at=END + timedelta(hours=3),
                                  title="Cortile Forum", status=r.CommunityStatus.ACTIVE, member_count=60,
                                  kind=r.CommunityKind.FORUM))
    forum.add(r.Membership(forum_ref, r.RawMember(r.Platform.DISCOURSE, str(500 + i), person), END + timedelta(hours=2))
              for i, person in enumerate(people[:11]))
    load(sqlite_store, forum)
    detect(sqlite_store, settings)
    with sqlite_store.session() as s:
        (alert,) = s.scalars(select(m.Alert).where(m.Alert.kind == "migration"))
    assert alert.level in ("likely", "strong") and alert.target_community_id == site.id
    (members,) = [sig for sig in alert.payload["signals"] if sig["name"] == "members"]
    assert members["evidence"][0]["shared_members"] == 11


# --- class 4: the old handle of a channel that changed handle --------------------------------------


def test_the_old_handle_answering_does_not_exist_after_a_handle_change_is_no_shutdown() -> None:
    from detect.events import shutdown_event

    def view(i: int, hours: float, handle: str, status: str, native: str | None) -> SnapshotView:
        at = END + timedelta(hours=hours)
        return SnapshotView(i, 7, at, at, 1, native, handle, "Canale", status, 900)

    before = view(1, -20, "vecchio_nome", "active", "777")
    moved = view(2, 1, "nuovo_nome", "active", "777")
    old_gone = view(3, 2, "vecchio_nome", "deleted", None)  # crawled after the new handle
    assert shutdown_event(7, [before, moved, old_gone], confirmations=3) is None
    # the same answers without a new handle are a shutdown
    assert shutdown_event(7, [before, old_gone], confirmations=3) is not None
