"""Issue 15, one end-to-end test per class: a small generated world (:mod:`evaluation.worlds`) served on
loopback as t.me, Reddit and Discourse answer (:mod:`evaluation.servers`), crawled through the
``resurface`` CLI (`watch add`, then per phase `crawl --once` and `detect` twice) by
:func:`evaluation.run.run_world`, and the alerts read back with `alerts list --format json`.

Each test asserts what an investigator would check in the alert: who, where, and the evidence.
Classes that detection got wrong before issue 15 were strict xfails; all pass now and carry no marker.
A crash of the harness is an error, never an expected failure.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evaluation.run import WorldResult, alert_matches_label, is_recovered, level_rank, ref_matches, run_world
from evaluation.worlds import Label, Params, Ref, World, generate

SEED = 7


def world_of(cls: str, seed: int = SEED) -> World:
    """The class's scenario alone: no decoys, dates relative to now (the crawl happens now)."""
    return generate(seed, Params(classes=(cls,), max_scenarios=1, decoy_rate=0.0),
                    now=datetime.now(UTC).replace(microsecond=0))


_CRAWLED: dict[tuple[int, str], WorldResult] = {}


def crawled(world: World, tmp_path: Path) -> WorldResult:
    """The world crawled end to end (once per module: the two class-8 tests read the same run)."""
    key = (world.seed, "+".join(world.scenarios))
    if key not in _CRAWLED:
        result = run_world(world, tmp_path)
        if result.error is not None:
            raise RuntimeError(f"world {world.seed} did not run: {result.error}")  # never an expected failure
        _CRAWLED[key] = result
    return _CRAWLED[key]


def label_of(world: World, cls: str, kind: str | None = None) -> Label:
    labels = [lb for lb in world.labels if lb.cls == cls and (kind is None or lb.kind == kind)]
    if len(labels) != 1:
        raise LookupError(f"world {world.seed} has {len(labels)} labels of class {cls}")  # a harness bug
    return labels[0]


def alerts_of(result: WorldResult, kind: str, source: Ref | None = None, target: Ref | None = None,
              at_least: str = "possible") -> list[dict[str, Any]]:
    return [a for a in result.alerts if a["kind"] == kind and level_rank(a["level"]) >= level_rank(at_least)
            and (source is None or ref_matches(source, a["source"]))
            and (target is None or ref_matches(target, a["target"]))]


def one(alerts: list[dict[str, Any]], what: str) -> dict[str, Any]:
    assert len(alerts) == 1, f"expected one {what}, got {len(alerts)}: {alerts}"
    return alerts[0]


def signal(alert: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in alert["signals"] if s["name"] == name)


def gone_source(world: World, label: Label) -> None:
    """The world really did what the class needs: the source existed before and not after."""
    before, after = world.phases
    assert label.source.name in before.telegram and label.source.name not in after.telegram


# ---------------------------------------------------------------------------------------------------


def test_c1_silent_successor_found_by_reposts_and_forwards(tmp_path: Path) -> None:
    world = world_of("c1")
    label = label_of(world, "c1")
    gone_source(world, label)
    result = crawled(world, tmp_path)
    assert alerts_of(result, "shutdown", label.source, at_least="strong")
    alert = one(alerts_of(result, "migration", label.source, label.target, at_least="likely"), "migration alert")
    content = signal(alert, "content")
    assert content["score"] > 0 and content["evidence"], "the reposts and forwards are the evidence"


def test_c2_directory_successor_is_the_one_reposting(tmp_path: Path) -> None:
    world = world_of("c2")
    label = label_of(world, "c2")
    listed_only = [rule.target for rule in world.forbidden if rule.cls == "c2"]
    assert len(listed_only) >= 6  # the directory lists many; one of them is the successor
    result = crawled(world, tmp_path)
    alert = one(alerts_of(result, "migration", label.source, label.target, at_least="likely"), "migration alert")
    assert signal(alert, "content")["score"] > 0
    for other in listed_only:
        assert not alerts_of(result, "migration", label.source, other), f"{other} is only listed"


def test_c3_private_invite_is_a_migration_naming_the_invite(tmp_path: Path) -> None:
    world = world_of("c3")
    label = label_of(world, "c3")
    invite = world.phases[0].invites[label.target.name]  # type: ignore[union-attr]
    result = crawled(world, tmp_path)
    # today: the invite is a lead waiting for a human
    assert any(lead["url"].endswith("/" + invite.code) and lead["state"] == "needs_human" for lead in result.leads)
    alerts = [a for a in alerts_of(result, "migration", label.source, at_least="likely")
              if str((a["target"] or {}).get("url", "")).endswith(invite.code)]
    assert len(alerts) == 1
    text = json.dumps(alerts[0], ensure_ascii=False)
    assert invite.title in text and str(invite.members) in text, "what the invite page shows without joining"
    assert "human" in text, "marked as needing a person"


def test_c4_handle_change_is_one_rebrand_old_to_new_and_no_shutdown(tmp_path: Path) -> None:
    world = world_of("c4")
    label = label_of(world, "c4")
    old, new = label.source.name, label.target.name  # type: ignore[union-attr]
    before, after = world.phases
    assert before.telegram[old].channel_id == after.telegram[new].channel_id and old not in after.telegram
    result = crawled(world, tmp_path)
    assert not alerts_of(result, "shutdown"), "the channel is alive under its new handle"
    rebrands = alerts_of(result, "rebrand")
    assert len(rebrands) == 1
    assert alert_matches_label(rebrands[0], label), f"expected one rebrand {old} → {new}: {rebrands[0]}"


def test_c5_banned_subreddit_moves_to_its_forum(tmp_path: Path) -> None:
    world = world_of("c5")
    label = label_of(world, "c5")
    result = crawled(world, tmp_path)
    shutdown = one(alerts_of(result, "shutdown", label.source, at_least="strong"), "strong shutdown")
    assert "banned" in json.dumps(shutdown)
    alert = one(alerts_of(result, "migration", label.source, label.target, at_least="likely"), "migration alert")
    assert signal(alert, "members")["score"] > 0, "the usernames checking in are the evidence"


def test_c6_small_community_sixteen_of_eighteen_members(tmp_path: Path) -> None:
    world = world_of("c6")
    label = label_of(world, "c6")
    gone_source(world, label)
    result = crawled(world, tmp_path)
    alert = one(alerts_of(result, "migration", label.source, label.target, at_least="likely"), "migration alert")
    evidence = signal(alert, "members")["evidence"]
    assert evidence and evidence[0]["shared_members"] == 16


def test_c7_successor_created_before_the_shutdown(tmp_path: Path) -> None:
    world = world_of("c7")
    label = label_of(world, "c7")
    before, after = world.phases
    successor = after.telegram[label.target.name]  # type: ignore[union-attr]
    assert label.target.name in before.telegram and successor.members > 10 * before.telegram[successor.handle].members
    result = crawled(world, tmp_path)
    alert = one(alerts_of(result, "migration", label.source, label.target, at_least="likely"), "migration alert")
    assert signal(alert, "timing")["score"] > 0


def test_c8_one_bare_answer_is_never_a_shutdown(tmp_path: Path) -> None:
    world = world_of("c8")
    flaky = world.phases[1].flaky
    assert sorted(v for v in flaky.values() if isinstance(v, int)) == [403, 404]
    result = crawled(world, tmp_path)
    served = {status for _, _, status in result.requests}
    assert {403, 404} <= served, "the bare answers were served"
    for rule in world.forbidden:
        if rule.cls == "c8" and not rule.unless_recovered:
            hits = [a for a in result.alerts if a["kind"] == "shutdown" and ref_matches(rule.source, a["source"])]
            assert not hits, f"{rule.source} answered one bare status and then normally: {hits}"


def test_c8_source_back_after_a_private_answer_is_marked_recovered(tmp_path: Path) -> None:
    world = world_of("c8")
    (rule,) = [r for r in world.forbidden if r.unless_recovered]
    result = crawled(world, tmp_path)
    assert any(path.endswith("about/?raw_json=1") and status == 403 for _, path, status in result.requests)
    hits = [a for a in result.alerts if a["kind"] == "shutdown" and ref_matches(rule.source, a["source"])]
    assert all(is_recovered(a) for a in hits), f"{rule.source} is public again: {hits}"


def test_c9_successor_surge_is_news(tmp_path: Path) -> None:
    world = world_of("c9")
    label = label_of(world, "c9", "surge")
    result = crawled(world, tmp_path)
    assert alerts_of(result, "migration", at_least="likely"), "the announced successor itself is found"
    assert any(alert_matches_label(a, label) for a in result.alerts), "a surge alert naming 40 and 480 members"


def test_c10_rename_names_the_old_title_and_history_is_not_a_rebrand(tmp_path: Path) -> None:
    world = world_of("c10")
    label = label_of(world, "c10")
    chat_before = world.phases[0].telegram[label.source.name]
    assert sum(p.service for p in chat_before.posts) == 2  # two renames already in the history
    result = crawled(world, tmp_path)
    rebrands = alerts_of(result, "rebrand", label.source)
    assert len(rebrands) == 1, "the renames in the first crawl's history are history"
    assert alert_matches_label(rebrands[0], label)
    rename = one(signal(rebrands[0], "rename")["evidence"], "rename")
    assert (rename["old"], rename["new"]) == label.evidence
    assert not alerts_of(result, "shutdown")
