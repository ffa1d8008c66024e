"""Crawl generated worlds end to end through the ``resurface`` CLI and score the alerts against the labels.

    python -m evaluation.run --seeds 1000-1039 --out report.json

Per world: a fresh temporary folder and config (loopback servers of :mod:`evaluation.servers`,
``crawl.allow_private_addresses = true``, ``detect.alert_level = "possible"`` so that every level is
visible), ``watch add`` of the world's seeds, then for each phase ``crawl --once`` and ``detect`` twice (as
the service would), then ``alerts list --format json`` and ``leads list --state all --format json``.
Everything goes through :func:`cli.main` in this process; nothing of Resurface is imported otherwise.

Seed ranges — keep them apart:

- **TUNING seeds 0–99**: look at these while changing detection (weights, floors, rules).
- **REPORT seeds 1000–1099**: run only to report numbers (``docs/detection.md``); never tune on them.

Scoring (:func:`score_world`, pure): for each level L (possible, likely, strong) an alert *counts at L*
when its level is L or above. A label is expected at L when its ``min_level`` is L or above (a perfect
detector raises it at least that high); it is found when a counted alert of its kind matches its
source, target and evidence strings. A counted alert that matches no label at all, or breaks a
:class:`~evaluation.worlds.Forbid`, is a false positive; an alert matching a label expected only
below L is neither. "Strong alerts on live communities" counts strong alerts breaking a ``live`` rule.
A world whose crawl fails is reported with its error and left out of the sums.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from evaluation.servers import RunningWorld, serve_world
from evaluation.worlds import LEVELS, Forbid, Label, Params, Ref, World, generate

log = logging.getLogger(__name__)

TUNING_SEEDS = range(0, 100)
REPORT_SEEDS = range(1000, 1100)

#: Fake Reddit credentials, set only while a world runs (the servers accept anything).
REDDIT_ENV = {"REDDIT_CLIENT_ID": "eval-client", "REDDIT_CLIENT_SECRET": "eval-secret",
              "REDDIT_USER_AGENT": "resurface-eval/0.1 (loopback)"}
KEY_ENV = {"RESURFACE_PSEUDONYM_KEY": "evaluation-pseudonym-key-0123456789abcdef"}


#: The crawl command's last line when sources failed ("error: 4 of 4 sources failed: ...").
_ALL_FAILED = re.compile(r"(\d+) of (\d+) sources failed")


class CliFailed(RuntimeError):
    """A CLI command that must succeed did not (its exit code and stderr are in the message)."""


@dataclass
class WorldResult:
    seed: int
    language: str
    scenarios: list[str]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    leads: list[dict[str, Any]] = field(default_factory=list)
    crawl_exit_codes: list[int] = field(default_factory=list)
    crawl_errors: list[str] = field(default_factory=list)  # what crawls that exited 1 said
    error: str | None = None
    seconds: float = 0.0
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # (server, path, status) served


# --------------------------------------------------------------------------------------------- CLI


@contextlib.contextmanager
def environment(values: dict[str, str], drop: Sequence[str] = ("RESURFACE_CONFIG",)) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in (*values, *drop)}
    for key in drop:
        os.environ.pop(key, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    """Run ``resurface --config CONFIG ARGS`` in this process: (exit code, stdout, stderr)."""
    from cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["--config", str(config), *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def _must(config: Path, *args: str) -> str:
    code, out, err = cli(config, *args)
    if code != 0:
        raise CliFailed(f"resurface {' '.join(args)} exited {code}: {err.strip()[-500:]}")
    return out


def write_config(folder: Path, running: RunningWorld) -> Path:
    config = folder / "resurface.toml"
    config.write_text(f"""# evaluation world {running.world.seed}: loopback servers only
data_dir = "data"

[crawl]
allow_private_addresses = true
default_rate_limit = 500.0
max_retries = 0
timeout_seconds = 10.0
max_pages = 2

[telegram]
web_base_url = "{running.tme_url}"

[reddit]
oauth_url = "{running.reddit_url}"
reddit_url = "{running.reddit_url}"
comments_per_post = 0

[detect]
alert_level = "possible"
""", encoding="utf-8")
    return config


def seed_url(ref: Ref, running: RunningWorld) -> list[str]:
    """The ``watch add`` arguments for a seed."""
    if ref.platform == "telegram":
        return [f"https://t.me/{ref.name}"]
    if ref.platform == "reddit":
        return [f"https://www.reddit.com/r/{ref.name}"]
    key = next(k for phase in running.world.phases for k, f in phase.forums.items() if f.title == ref.name)
    return [running.forum_urls[key] + "/", "--platform", ref.platform]


def run_world(world: World, folder: Path) -> WorldResult:
    """Crawl ``world`` end to end through the CLI in ``folder``; failures are kept in ``error``."""
    result = WorldResult(world.seed, world.language, list(world.scenarios))
    started = time.perf_counter()
    try:
        with serve_world(world) as running, environment({**REDDIT_ENV, **KEY_ENV}):
            config = write_config(folder, running)
            all_failed = 0
            for index, phase in enumerate(world.phases):
                running.phase_index = index
                for ref in phase.watch:
                    _must(config, "watch", "add", *seed_url(ref, running))
                for _ in range(2):
                    code, _, err = cli(config, "crawl", "--once")
                    if code not in (0, 1):  # 1: some source failed, which worlds do on purpose
                        raise CliFailed(f"crawl --once exited {code}: {err.strip()[-500:]}")
                    result.crawl_exit_codes.append(code)
                    if code:
                        result.crawl_errors.append(err.strip()[-300:])
                    every = _ALL_FAILED.search(err) if code else None
                    all_failed = all_failed + 1 if every and every.group(1) == every.group(2) else 0
                    if all_failed == 2:  # twice in a row: a broken install or server, not a flaky source
                        raise CliFailed(f"crawl --once: every source failed twice: {err.strip()[-300:]}")
                    _must(config, "detect")
            result.alerts = json.loads(_must(config, "alerts", "list", "--format", "json", "--limit", "1000"))
            result.leads = json.loads(_must(config, "leads", "list", "--state", "all", "--format", "json",
                                            "--limit", "1000"))
            result.requests = list(running.requests)
    except Exception as exc:  # a world that fails is reported, not fatal
        log.exception("world %d failed", world.seed)
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = round(time.perf_counter() - started, 2)
    return result


# ----------------------------------------------------------------------------------------- scoring


def level_rank(level: str | None) -> int:
    return LEVELS.index(level) if level in LEVELS else -1


def ref_matches(ref: Ref | None, community: dict[str, Any] | None) -> bool:
    """Does the alert's community (``{"platform", "handle", "title", "url"}``) name ``ref``?"""
    if ref is None:
        return True
    if not community:
        return False
    name = ref.name.lower()
    handle = str(community.get("handle") or "").lower()
    title = str(community.get("title") or "").lower()
    url = str(community.get("url") or "").lower().rstrip("/")
    if ref.platform == "discourse":  # forums are named by their title
        return title == name
    return community.get("platform") == ref.platform and (handle == name.lstrip("@") or url.endswith("/" + name))


def alert_matches_label(alert: dict[str, Any], label: Label) -> bool:
    if alert.get("kind") != label.kind:
        if not (label.kind == "surge" and alert.get("kind") == "migration"
                and any("surge" in str(s.get("name")) for s in alert.get("signals") or [])):
            return False
        return ref_matches(label.source, alert.get("target")) and _has_evidence(alert, label.evidence)
    if not ref_matches(label.source, alert.get("source")):
        return False
    if label.target is not None and not ref_matches(label.target, alert.get("target")):
        return False
    return _has_evidence(alert, label.evidence)


def _has_evidence(alert: dict[str, Any], wanted: Sequence[str]) -> bool:
    text = json.dumps(alert, ensure_ascii=False).lower()
    return all(w.lower() in text for w in wanted)


def is_recovered(alert: dict[str, Any]) -> bool:
    """Marked recovered: its state says so, or its evidence carries ``"recovered": true``."""
    if alert.get("state") == "recovered":
        return True
    return any(isinstance(item, dict) and item.get("recovered") is True
               for s in alert.get("signals") or [] for item in s.get("evidence") or [])


def breaks(alert: dict[str, Any], rule: Forbid) -> bool:
    if rule.unless_recovered and is_recovered(alert):
        return False
    return (alert.get("kind") == rule.kind and level_rank(alert.get("level")) >= level_rank(rule.level)
            and (ref_matches(rule.source, alert.get("source")) or
                 (rule.kind == "shutdown" and ref_matches(rule.source, alert.get("target"))))
            and (rule.target is None or ref_matches(rule.target, alert.get("target"))))


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Counts) -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn

    @property
    def precision(self) -> float | None:
        return None if self.tp + self.fp == 0 else self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        return None if self.tp + self.fn == 0 else self.tp / (self.tp + self.fn)


@dataclass
class WorldScore:
    per_level: dict[str, Counts]
    per_class: dict[str, dict[str, Counts]]  # class -> level -> counts (fp: broken rules of that class)
    strong_on_live: int
    found_as_lead: list[str]  # labels missed as alerts whose target is a lead needing a human
    misses: list[str]
    false_alarms: list[str]


def _forbidden_excess(alerts: list[dict[str, Any]], rule: Forbid, level: str) -> list[dict[str, Any]]:
    hits = [a for a in alerts if breaks(a, rule) and level_rank(a.get("level")) >= level_rank(level)]
    return hits[rule.max_count:]


def _allowed_recovered(alert: dict[str, Any], rule: Forbid) -> bool:
    """A shutdown of a source that came back, marked recovered: right when raised, so no false positive."""
    return rule.unless_recovered and is_recovered(alert) and breaks(alert, replace(rule, unless_recovered=False))


def score_world(world: World, alerts: list[dict[str, Any]], leads: list[dict[str, Any]] | None = None
                ) -> WorldScore:
    """Compare one world's alerts with its labels (pure)."""
    per_level = {lvl: Counts() for lvl in LEVELS}
    classes = sorted({lb.cls for lb in world.labels} | {f.cls for f in world.forbidden})
    per_class = {c: {lvl: Counts() for lvl in LEVELS} for c in classes}
    misses: list[str] = []
    false_alarms: list[str] = []
    for level in LEVELS:
        counted = [a for a in alerts if level_rank(a.get("level")) >= level_rank(level)]
        for label in world.labels:
            if level_rank(label.min_level) < level_rank(level):
                continue
            found = any(alert_matches_label(a, label) for a in counted)
            bucket = per_class[label.cls][level]
            if found:
                per_level[level].tp += 1
                bucket.tp += 1
            else:
                per_level[level].fn += 1
                bucket.fn += 1
                if level == label.min_level:
                    misses.append(f"{label.kind} {label.source} → {label.target or '-'} ({label.cls}, "
                                  f"min {label.min_level})")
        flagged: set[int] = set()
        for rule in world.forbidden:
            excess = _forbidden_excess(alerts, rule, level)
            per_class[rule.cls][level].fp += len(excess)
            for alert in excess:
                flagged.add(id(alert))
        for alert in counted:
            unlabelled = not any(alert_matches_label(alert, lb) for lb in world.labels) and not any(
                _allowed_recovered(alert, rule) for rule in world.forbidden)
            if id(alert) in flagged or unlabelled:
                per_level[level].fp += 1
                if level == "possible" or id(alert) in flagged:
                    false_alarms.append(f"{level}: {alert.get('kind')} {alert.get('level')} "
                                        f"{_name(alert.get('source'))} → {_name(alert.get('target'))}")
    strong_on_live = len({id(a) for rule in world.forbidden if rule.live
                          for a in alerts if breaks(a, rule) and a.get("level") == "strong"})
    lead_urls = {str(ld.get("url") or "") for ld in leads or []}
    found_as_lead = [str(lb.target) for lb in world.labels if lb.target is not None and lb.kind == "migration"
                     and any(u.endswith("/" + lb.target.name) for u in lead_urls)
                     and not any(alert_matches_label(a, lb) for a in alerts)]
    return WorldScore(per_level, per_class, strong_on_live, found_as_lead, misses, sorted(set(false_alarms)))


def _name(ref: dict[str, Any] | None) -> str:
    if not ref:
        return "-"
    return f"{ref.get('platform')}:{ref.get('handle') or ref.get('title') or ref.get('url')}"


def _order(cls: str) -> tuple[int, str]:
    """c1, c2, …, c10, then base and decoy."""
    return (int(cls[1:]), "") if cls[:1] == "c" and cls[1:].isdigit() else (1000, cls)


def summarise(worlds: list[World], results: list[WorldResult]) -> dict[str, Any]:
    """Totals over the worlds that ran (JSON-ready)."""
    per_level = {lvl: Counts() for lvl in LEVELS}
    per_class: dict[str, dict[str, Counts]] = {}
    strong_on_live = 0
    details = []
    for world, result in zip(worlds, results, strict=True):
        entry: dict[str, Any] = {"seed": world.seed, "language": world.language, "scenarios": list(world.scenarios),
                                 "seconds": result.seconds, "error": result.error,
                                 "crawl_errors": result.crawl_errors}
        if result.error is None:
            score = score_world(world, result.alerts, result.leads)
            for lvl in LEVELS:
                per_level[lvl].add(score.per_level[lvl])
            for cls, levels in score.per_class.items():
                target = per_class.setdefault(cls, {lvl: Counts() for lvl in LEVELS})
                for lvl in LEVELS:
                    target[lvl].add(levels[lvl])
            strong_on_live += score.strong_on_live
            entry.update(misses=score.misses, false_alarms=score.false_alarms, found_as_lead=score.found_as_lead,
                         strong_on_live=score.strong_on_live)
        details.append(entry)

    return {
        "worlds": len(results), "failed": sum(r.error is not None for r in results),
        "seconds": round(sum(r.seconds for r in results), 1),
        "per_level": {lvl: _table(c) for lvl, c in per_level.items()},
        "per_class": {cls: {lvl: _table(c) for lvl, c in per_class[cls].items()}
                      for cls in sorted(per_class, key=_order)},
        "strong_alerts_on_live_communities": strong_on_live,
        "worlds_detail": details,
    }


def _counts(row: dict[str, Any]) -> Counts:
    return Counts(int(row["tp"]), int(row["fp"]), int(row["fn"]))


def _table(counts: Counts) -> dict[str, Any]:
    p, r = counts.precision, counts.recall
    return {**asdict(counts), "precision": None if p is None else round(p, 3),
            "recall": None if r is None else round(r, 3)}


def merge(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One report from reports of separate runs (seed ranges run one after the other): counts add up,
    precision and recall are computed from the sums, the worlds' details are kept in order."""
    per_level = {lvl: Counts() for lvl in LEVELS}
    per_class: dict[str, dict[str, Counts]] = {}
    for report in reports:
        for lvl in LEVELS:
            per_level[lvl].add(_counts(report["per_level"][lvl]))
        for cls, levels in report["per_class"].items():
            target = per_class.setdefault(cls, {lvl: Counts() for lvl in LEVELS})
            for lvl in LEVELS:
                target[lvl].add(_counts(levels[lvl]))
    return {
        "worlds": sum(int(r["worlds"]) for r in reports), "failed": sum(int(r["failed"]) for r in reports),
        "seconds": round(sum(float(r["seconds"]) for r in reports), 1),
        "per_level": {lvl: _table(c) for lvl, c in per_level.items()},
        "per_class": {cls: {lvl: _table(c) for lvl, c in per_class[cls].items()}
                      for cls in sorted(per_class, key=_order)},
        "strong_alerts_on_live_communities": sum(int(r["strong_alerts_on_live_communities"]) for r in reports),
        "worlds_detail": [w for r in reports for w in r.get("worlds_detail", [])],
        "seeds": ",".join(str(r.get("seeds", "?")) for r in reports),
    }


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def markdown(report: dict[str, Any]) -> str:
    """The report's tables as Markdown (what ``docs/detection.md`` shows)."""
    lines = ["| level (at least) | precision | recall | TP | FP | FN |", "|---|---|---|---|---|---|"]
    for level, row in report["per_level"].items():
        lines.append(f"| {level} | {_cell(row['precision'])} | {_cell(row['recall'])} | {row['tp']} | {row['fp']} "
                     f"| {row['fn']} |")
    lines += ["", "| class | labels | recall possible | recall likely | recall strong | false positives (possible) |",
              "|---|---|---|---|---|---|"]
    for cls, levels in report["per_class"].items():
        labels = levels["possible"]["tp"] + levels["possible"]["fn"]
        recalls = " | ".join(_cell(levels[level]["recall"]) for level in LEVELS)
        lines.append(f"| {cls} | {labels} | {recalls} | {levels['possible']['fp']} |")
    lines += ["", f"Strong alerts on live communities: {report['strong_alerts_on_live_communities']}. "
              f"Worlds: {report['worlds']} ({report['failed']} failed), {report['seconds']:.0f} s of crawling."]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------- main


def parse_seeds(text: str) -> list[int]:
    """``100-139`` or ``1,2,5`` or a mix: ``0-9,20``."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            seeds.extend(range(int(low), int(high) + 1) if dash else [int(low)])
        except ValueError:
            raise argparse.ArgumentTypeError(f"--seeds: {part!r} is not a number or a range like 100-139") from None
    return seeds


def parse_params(text: str | None) -> Params:
    """``--params`` is JSON with any :class:`Params` field, e.g. ``{"languages": ["it"], "noise": 2}``."""
    if not text:
        return Params()
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--params: not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise argparse.ArgumentTypeError("--params: expected a JSON object")
    fields = set(Params.__dataclass_fields__)
    unknown = set(raw) - fields
    if unknown:
        raise argparse.ArgumentTypeError(f"--params: unknown field(s) {sorted(unknown)}; known: {sorted(fields)}")
    try:
        params = TypeAdapter(Params).validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise argparse.ArgumentTypeError(f"--params: {problems}") from None
    try:
        generate(0, params)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--params: {exc}") from None
    return params


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", help="e.g. 1000-1039 (REPORT) or 0-99 (TUNING)")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="REPORT",
                        help="instead of running worlds: combine the JSON reports of separate runs")
    parser.add_argument("--params", help="JSON object of Params fields")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    parser.add_argument("--keep", type=Path, help="keep each world's store and config in KEEP/<seed> to inspect")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown instead of JSON")
    args = parser.parse_args(argv)
    if args.merge:
        try:
            report = merge([json.loads(path.read_text(encoding="utf-8")) for path in args.merge])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            parser.error(f"cannot merge {' '.join(map(str, args.merge))}: {exc!r}")
        return _emit(report, args.out, args.markdown)
    if not args.seeds:
        parser.error("--seeds is required (or --merge REPORT ...)")
    try:
        seeds = parse_seeds(args.seeds)
        params = parse_params(args.params)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    worlds, results = [], []
    for seed in seeds:
        world = generate(seed, params, now=_now())  # dates relative to the moment the world is crawled
        worlds.append(world)
        if args.keep:
            folder = args.keep / str(seed)
            folder.mkdir(parents=True, exist_ok=False)
            result = run_world(world, folder)
        else:
            with tempfile.TemporaryDirectory(prefix=f"resurface-eval-{seed}-") as tmp:
                result = run_world(world, Path(tmp))
        results.append(result)
        print(f"world {seed} ({world.language}, {'+'.join(world.scenarios)}): {len(result.alerts)} alerts, "
              f"{result.seconds:.1f}s{' FAILED ' + result.error if result.error else ''}", file=sys.stderr)
    report = summarise(worlds, results)
    report["seeds"] = args.seeds
    report["params"] = asdict(params)
    return _emit(report, args.out, args.markdown)


def _emit(report: dict[str, Any], out: Path | None, as_markdown: bool) -> int:
    if out:
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if as_markdown:
        print(markdown(report))
    else:
        print(json.dumps({k: report[k] for k in ("worlds", "failed", "seconds", "per_level", "per_class",
                                                 "strong_alerts_on_live_communities")}, indent=2))
    return 0


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(microsecond=0)


if __name__ == "__main__":
    raise SystemExit(main())
