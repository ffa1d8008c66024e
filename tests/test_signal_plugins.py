"""Signals are plugins behind one protocol (detect/signals), and their evidence carries its privacy class.

- Every evidence key a registered signal writes, on the labelled scenario set (tests/detect_scenarios)
  and on a private-invite and a surging successor, is declared in its ``evidence_fields``: a key cannot
  slip in undeclared.
- A signal's declaration and the NGO allow-list (alerts/privacy.py) never disagree, and what a signal
  declares investigator-only (post URLs, invite details ...) really is dropped for an NGO.
- Adding a signal is one module and one registration: a signal registered here, and nowhere else, is
  scored and its evidence reaches the pair's score; one that finds pairs of its own makes candidates of
  pairs no built-in signal finds, through the normal detection path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import detect.signals as registry
from alerts.privacy import field_class, ngo_scalar_ok
from alerts.render import for_audience
from config.settings import CrawlSettings, DetectSettings, Settings
from detect.pipeline import Context
from detect.scoring import Announcement, PairEvidence, Signal, score_pair
from detect.signals.base import MigrationSignal, PairFinder
from model import records as r
from model.privacy import FieldClass, Privacy, Shape
from store import models as m
from store.db import open_store
from tests.detect_scenarios.builder import Chan, World, candidate_level, community_id, detect, load
from tests.detect_scenarios.cases import SHUTDOWN
from tests.detect_scenarios.evaluate import run

SIGNALS = {s.name: s for s in registry.signals()}
DECLARED = sorted((s.name, key, cls) for s in SIGNALS.values() for key, cls in s.evidence_fields.items())


@dataclass
class Recording:
    """A registered signal, unchanged, that also keeps every evidence item it returns."""

    inner: MigrationSignal
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def weighted(self) -> bool:
        return self.inner.weighted

    @property
    def evidence_fields(self) -> Mapping[str, FieldClass]:
        return self.inner.evidence_fields

    @property
    def discovery_order(self) -> int:
        return self.inner.discovery_order if isinstance(self.inner, PairFinder) else 0

    def discover(self, ctx: Context) -> None:
        if isinstance(self.inner, PairFinder):
            self.inner.discover(ctx)

    def score(self, ev: PairEvidence, settings: DetectSettings) -> Signal | None:
        found = self.inner.score(ev, settings)
        if found is not None:
            self.items.extend(found.evidence)
        return found


def _invite_and_surge(workdir: Path) -> None:
    """Two successors the scenario set lacks: a private invite read from its public page (issue 15,
    class 3) and a community whose member count surges right after its source is banned (class 9)."""
    store = open_store(f"sqlite:///{workdir / 'extra.db'}")
    settings = Settings(data_dir=str(workdir), crawl=CrawlSettings(allow_private_addresses=True))
    try:
        a = Chan("p-9003", "rifugio_segreto", "Il Rifugio Segreto")
        b = Chan("p-9005", "rifugio_nuovo", "Il Rifugio")
        c = Chan("p-9006", "cortile_grande", "Il Cortile Grande")
        world = World(seeds=[a, c])
        world.add(a.snap(SHUTDOWN - timedelta(days=1), members=300))
        world.add(b.snap(SHUTDOWN - timedelta(hours=20), members=40))
        world.add(a.post(SHUTDOWN - timedelta(hours=2), "Entrate nel gruppo di riserva 👉 https://t.me/+QwErTy123456",
                         user="u1"))
        world.add(a.post(SHUTDOWN - timedelta(hours=1), "Ci siamo spostati qui: https://t.me/rifugio_nuovo", user="u1"))
        world.add(a.down(SHUTDOWN, status=r.CommunityStatus.BANNED))
        world.add(b.snap(SHUTDOWN + timedelta(hours=5), members=480))
        world.add(c.snap(SHUTDOWN - timedelta(days=2), members=900))
        load(store, world)
        detect(store, settings)
        page = World()
        page.add(r.CommunitySnapshot(platform=r.Platform.TELEGRAM, native_id=None, handle="+qwerty123456",
                                     url="https://t.me/+qwerty123456", fetched_at=SHUTDOWN, title="Il Rifugio ♻️",
                                     description="solo amici", status=r.CommunityStatus.ACTIVE, member_count=412,
                                     source_url="https://t.me/+QwErTy123456"))
        load(store, page)
        detect(store, settings)
    finally:
        store.close()


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Every evidence item each registered signal returned while detection ran over the fixtures."""
    recordings = [Recording(s) for s in registry.signals()]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(registry, "_SIGNALS", recordings)
        run(tmp_path_factory.mktemp("scenarios"))
        _invite_and_surge(tmp_path_factory.mktemp("extra"))
    yield {rec.name: rec.items for rec in recordings}


# --- the registry ------------------------------------------------------------------------------------


def test_the_built_in_signals_are_registered_in_alert_order() -> None:
    assert list(SIGNALS) == ["announcement", "name", "members", "content", "timing", "surge", "private_invite"]
    assert all(isinstance(s, MigrationSignal) for s in SIGNALS.values())


def test_every_weighted_signal_has_a_default_weight_and_every_weight_a_signal() -> None:
    weighted = {s.name for s in SIGNALS.values() if s.weighted}
    assert weighted == set(DetectSettings().weights)
    assert {"surge", "private_invite"} == set(SIGNALS) - weighted


def test_a_second_signal_under_a_taken_name_is_refused() -> None:
    impostor = Recording(SIGNALS["members"])
    with pytest.raises(ValueError, match="already registered"):
        registry.register(impostor)
    with pytest.raises(TypeError):
        registry.register(object())  # type: ignore[arg-type]
    assert registry.signals() == list(SIGNALS.values())


# --- (a) every emitted key is declared ---------------------------------------------------------------


def test_the_fixtures_exercise_every_signal(emitted: dict[str, list[dict[str, Any]]]) -> None:
    assert {name for name, items in emitted.items() if items} == set(SIGNALS)


def test_every_evidence_key_a_signal_writes_is_declared(emitted: dict[str, list[dict[str, Any]]]) -> None:
    undeclared = {(name, key) for name, items in emitted.items() for item in items for key in item
                  if key not in SIGNALS[name].evidence_fields}
    assert undeclared == set()


def test_every_value_declared_for_ngos_has_its_declared_shape(emitted: dict[str, list[dict[str, Any]]]) -> None:
    """A value of the wrong shape under an NGO field would be silently dropped: its class would lie."""
    ngo_fields = {name: {k for k, c in s.evidence_fields.items() if c.privacy is Privacy.NGO}
                  for name, s in SIGNALS.items()}
    wrong = {(name, key, repr(value)) for name, items in emitted.items() for item in items
             for key, value in item.items() if key in ngo_fields[name] and not ngo_scalar_ok(key, value)}
    assert wrong == set()


# --- (b) the declarations and the NGO allow-list agree -----------------------------------------------


@pytest.mark.parametrize(("signal", "key", "declared"), DECLARED)
def test_a_declared_class_is_the_allow_lists_class(signal: str, key: str, declared: FieldClass) -> None:
    listed = field_class(key)
    assert (declared.privacy is Privacy.NGO) == (listed.privacy is Privacy.NGO)
    if declared.privacy is Privacy.NGO:
        assert declared.shape is listed.shape


SAMPLE = {Shape.NUMBER: 31, Shape.NAME: "Il Rifugio", Shape.TIME: "2026-03-01T12:00:00+00:00"}
SECRET = {Shape.NUMBER: 73_019_482_617, Shape.NAME: "SECRET https://t.me/rifugio/5 ciao",
          Shape.TIME: "2026-03-01T12:00:00.123457+00:00"}


def _alert(signal: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"id": 1, "kind": "migration", "level": "likely", "score": 0.5, "state": "new", "escalations": 0,
            "source": None, "target": None, "signals": [{"name": signal, "score": 0.5, "evidence": [item]}]}


@pytest.mark.parametrize(("signal", "key", "declared"), [d for d in DECLARED if d[2].privacy is Privacy.INVESTIGATOR])
def test_an_investigator_only_field_never_reaches_an_ngo(signal: str, key: str, declared: FieldClass) -> None:
    value = SECRET[declared.shape]
    alert = _alert(signal, {key: value, "score": 0.5})
    (ngo_signal,) = for_audience(alert, "ngo")["signals"]
    assert ngo_signal["evidence"] == [{"score": 0.5}]
    assert str(value) not in json.dumps(for_audience(alert, "ngo"))
    assert for_audience(alert, "investigator")["signals"][0]["evidence"] == [{key: value, "score": 0.5}]


@pytest.mark.parametrize(("signal", "key", "declared"), [d for d in DECLARED if d[2].privacy is Privacy.NGO])
def test_an_ngo_field_reaches_an_ngo(signal: str, key: str, declared: FieldClass) -> None:
    (ngo_signal,) = for_audience(_alert(signal, {key: SAMPLE[declared.shape]}), "ngo")["signals"]
    assert ngo_signal["evidence"] == [{key: SAMPLE[declared.shape]}]


def test_the_post_address_the_wording_and_the_invite_are_investigator_only() -> None:
    """What issue 19 is about, named: the fields that identify a post or an invite."""
    inv = {(name, key) for name, key, cls in DECLARED if cls.privacy is Privacy.INVESTIGATOR}
    assert {("announcement", "post_url"), ("announcement", "phrases"), ("content", "post_url"),
            ("content", "matched_post_url"), ("private_invite", "invite_url"), ("private_invite", "invite_title"),
            ("private_invite", "invite_description"), ("private_invite", "source_url")} <= inv


# --- (c) one module and one registration -------------------------------------------------------------


@dataclass(frozen=True)
class EchoNames:
    """A test signal: how many announcements name a successor wording (not a built-in signal)."""

    name: str = "test_wording"
    weighted: bool = True
    evidence_fields: Mapping[str, FieldClass] = field(
        default_factory=lambda: {"count": FieldClass(Privacy.NGO, Shape.NUMBER),
                                 "phrases": FieldClass(Privacy.INVESTIGATOR, Shape.NAME)})

    def score(self, ev: PairEvidence, settings: DetectSettings) -> Signal | None:
        worded = [a for a in ev.announcements if a.phrases]
        if not ev.announcements:
            return None
        return Signal(self.name, len(worded) / len(ev.announcements),
                      [{"count": len(worded), "phrases": sorted({p for a in worded for p in a.phrases})}])


@pytest.fixture
def test_signal() -> Iterator[EchoNames]:
    plugin = EchoNames()
    registry.register(plugin)
    try:
        yield plugin
    finally:
        registry.unregister(plugin.name)


PAIR = PairEvidence(1, 2, announcements=(
    Announcement("https://t.me/a/5", SHUTDOWN, ("it:gruppo di riserva",), 1, 1),
    Announcement("https://t.me/a/6", SHUTDOWN, (), 1, 1)))


def test_a_registered_signal_is_scored_with_no_other_file_touched(test_signal: EchoNames) -> None:
    scored = score_pair(PAIR, DetectSettings(weights={"announcement": 1.0, "test_wording": 1.0}))
    # after the built-in ones that had something to say (surge and private_invite had not)
    assert [s.name for s in scored.signals] == ["announcement", "name", "members", "content", "timing",
                                                "test_wording"]
    found = scored.signal("test_wording")
    assert found is not None and found.as_dict() == {
        "name": "test_wording", "score": 0.5, "evidence": [{"count": 1, "phrases": ["it:gruppo di riserva"]}]}
    # its weight counts in the mean: the worded announcement scores 1.0, the new signal 0.5
    assert score_pair(PAIR, DetectSettings(weights={"announcement": 1.0})).score == pytest.approx(1.0)
    assert scored.score == pytest.approx(0.75)


def test_a_registered_signal_without_a_weight_only_adds_its_evidence(test_signal: EchoNames) -> None:
    with_it = score_pair(PAIR, DetectSettings())
    registry.unregister(test_signal.name)
    without = score_pair(PAIR, DetectSettings())
    registry.register(test_signal)
    assert with_it.score == without.score and with_it.level == without.level
    assert with_it.signal("test_wording") is not None and without.signal("test_wording") is None


def test_a_weighted_signal_with_nothing_to_say_counts_as_zero(test_signal: EchoNames) -> None:
    quiet = PairEvidence(1, 2, name=(1.0, "Il Rifugio", "Il Rifugio"))
    scored = score_pair(quiet, DetectSettings(weights={"name": 1.0, "test_wording": 1.0}))
    assert scored.signal("test_wording") is None
    assert scored.score == pytest.approx(0.5)


def test_unregistering_restores_the_built_in_signals(test_signal: EchoNames) -> None:
    assert registry.signals()[-1] is test_signal
    registry.unregister(test_signal.name)
    assert registry.signals() == list(SIGNALS.values())
    registry.register(test_signal)  # the fixture unregisters it again


@dataclass(frozen=True)
class TipOffs:
    """A test signal that finds pairs of its own: successors an outside partner named (handle of the gone
    community → handle of its successor), which no built-in signal would pair: no link, name, member or
    picture joins them."""

    tips: Mapping[str, str]
    name: str = "tip_off"
    weighted: bool = True
    discovery_order: int = 0
    evidence_fields: Mapping[str, FieldClass] = field(
        default_factory=lambda: {"named_by": FieldClass(Privacy.NGO, Shape.NAME)})

    def discover(self, ctx: Context) -> None:
        by_handle = {info.handle: cid for cid, info in ctx.communities.items() if info.handle}
        found = ctx.found.setdefault(self.name, {})
        for gone, successor in self.tips.items():
            a, b = by_handle.get(gone), by_handle.get(successor)
            if a is not None and b is not None and a in ctx.gone and ctx.touched(a, b):
                ctx.pairs.add((a, b))
                found[(a, b)] = "partner list"

    def score(self, ev: PairEvidence, settings: DetectSettings) -> Signal | None:
        named_by = ev.found.get(self.name)
        return Signal(self.name, 1.0, [{"named_by": named_by}]) if named_by else None


def test_a_registered_signal_finds_its_own_pairs_and_detection_scores_them(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'tips.db'}")
    settings = Settings(data_dir=str(tmp_path), crawl=CrawlSettings(allow_private_addresses=True),
                        detect=DetectSettings(weights={"tip_off": 1.0}))
    a = Chan("t-1", "circolo_vecchio", "Il Circolo")
    b = Chan("t-2", "pagine_gialle_x", "Annunci Vari")
    world = World(seeds=[a, b])
    world.add(a.snap(SHUTDOWN - timedelta(days=1), members=300))
    world.add(b.snap(SHUTDOWN - timedelta(days=3), members=40))
    world.add(a.down(SHUTDOWN, status=r.CommunityStatus.BANNED))
    try:
        load(store, world)
        source, target = community_id(store, "t-1"), community_id(store, "t-2")
        assert candidate_level(detect(store, settings), source, target) is None  # nothing pairs them
        assert not detect(store, settings).full  # nothing changed: the next cycle is incremental
        plugin = registry.register(TipOffs({"circolo_vecchio": "pagine_gialle_x"}))
        try:
            # the store did not change, the registered signals did: every pair is looked at again
            report = detect(store, settings)
        finally:
            registry.unregister(plugin.name)
        assert report.full
        (row,) = [c for c in report.candidates if (c["source_id"], c["target_id"]) == (source, target)]
        assert row["signals"]["tip_off"] == 1.0 and row["level"] is not None
        with store.session() as session:
            stored = session.scalars(select(m.Candidate).where(m.Candidate.source_id == source,
                                                               m.Candidate.target_id == target)).one()
            assert {"name": "tip_off", "score": 1.0, "evidence": [{"named_by": "partner list"}]} in stored.signals
    finally:
        store.close()
