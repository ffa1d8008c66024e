"""Run the labelled scenario set through ingest and one detection cycle; precision and recall per level.

All cases share one store, as they would in production: names repeat across cases ("Mia Moglie"
appears in several), so a detector that matched on names alone would pay in precision here.

``python -m tests.detect_scenarios.evaluate`` prints the table that docs/detection.md quotes.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from config.settings import CrawlSettings, Settings
from model.vocab import LEVELS, level_rank
from store.db import open_store
from tests.detect_scenarios.builder import community_id, detect, load
from tests.detect_scenarios.cases import Case, all_cases, background


@dataclass(frozen=True)
class Outcome:
    case: str
    pair: tuple[str, str]
    label: str | None
    predicted: str | None
    score: float | None


@dataclass(frozen=True)
class LevelMetrics:
    level: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0


def run(workdir: Path, cases: list[Case] | None = None) -> list[Outcome]:
    cases = list(all_cases()) if cases is None else cases
    store = open_store(f"sqlite:///{workdir / 'scenarios.db'}")
    settings = Settings(data_dir=str(workdir), crawl=CrawlSettings(allow_private_addresses=True))
    try:
        merged = background()
        for case in cases:
            merged.seeds.extend(case.world.seeds)
            merged.batches.extend(case.world.batches)
        load(store, merged)
        report = detect(store, settings)
        ids = {}
        labelled: dict[tuple[int, int], tuple[str, tuple[str, str], str | None]] = {}
        for case in cases:
            for (a, b), label in case.labels.items():
                ids[a], ids[b] = community_id(store, a), community_id(store, b)
                labelled[(ids[a], ids[b])] = (case.name, (a, b), label)
        predicted = {(c["source_id"], c["target_id"]): c for c in report.candidates}
        outcomes = []
        for key in sorted(set(labelled) | set(predicted)):
            name, pair, label = labelled.get(key, ("(unlabelled)", (str(key[0]), str(key[1])), None))
            cand = predicted.get(key)
            outcomes.append(Outcome(name, pair, label, cand["level"] if cand else None,
                                    cand["score"] if cand else None))
        return outcomes
    finally:
        store.close()


def metrics(outcomes: list[Outcome]) -> list[LevelMetrics]:
    """At each level L: a pair is predicted positive when its level is at least L, and actually
    positive when its label is at least L."""
    out = []
    for level in LEVELS:
        rank = level_rank(level)
        tp = sum(1 for o in outcomes if level_rank(o.predicted) >= rank and level_rank(o.label) >= rank)
        fp = sum(1 for o in outcomes if level_rank(o.predicted) >= rank > level_rank(o.label))
        fn = sum(1 for o in outcomes if level_rank(o.label) >= rank > level_rank(o.predicted))
        out.append(LevelMetrics(level, tp, fp, fn))
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = run(Path(tmp))
    cases = {o.case for o in outcomes}
    print(f"{len(cases)} cases, {len(outcomes)} labelled or predicted pairs")
    print("| level (at least) | precision | recall | TP | FP | FN |")
    print("|---|---|---|---|---|---|")
    for m in metrics(outcomes):
        print(f"| {m.level} | {m.precision:.2f} | {m.recall:.2f} | {m.true_positives} | {m.false_positives} "
              f"| {m.false_negatives} |")
    misses = [o for o in outcomes if o.label != o.predicted]
    for o in misses:
        print(f"mismatch: {o.case}: labelled {o.label}, predicted {o.predicted} (score {o.score})", file=sys.stderr)


if __name__ == "__main__":
    main()
