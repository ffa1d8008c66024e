"""Mutation testing of the victim-safety code with cosmic-ray (``make mutation``).

Each safety-critical module is mutated (one small change at a time: an operator, a constant, a
comparison, a removed ``not`` ...) and run against the tests that exercise it. A mutant the tests do
not notice *survives*: either a test is missing, or the mutant is equivalent (behaves identically),
which ``mutation/equivalent.toml`` must then say, with the reason; docs/privacy.md has the report.

Cosmic-ray edits the module in place while it runs, so everything happens in a throw-away copy of the
working tree: other people's test runs never see a mutant.

    python mutation/run.py                 # every module; exit 1 on an unexplained survivor
    python mutation/run.py store/pseudonym.py
    python mutation/run.py --check-hash    # CI: only the modules whose files (module, its tests, the
                                           # equivalence list) changed since their recorded clean run
    python mutation/run.py --record        # after a clean run: record those hashes (checked.sha256)
    python mutation/run.py M --sessions DIR                      # keep M's cosmic-ray session in DIR
    python mutation/run.py M --sessions DIR --retest-survivors   # after adding tests: only its survivors

Mutants inside type annotations are marked skipped, never run (see skip_annotation_mutants).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "mutation"
HASH_FILE = HERE / "checked.sha256"
EQUIVALENT_FILE = HERE / "equivalent.toml"


@dataclass(frozen=True)
class Target:
    module: str
    tests: tuple[str, ...]
    timeout: float = 60.0
    #: False when the tests need no fixture from tests/conftest.py: pytest then skips importing the
    #: whole application (service.app), which is most of a run's time for a small test file.
    conftest: bool = True


#: The safety-critical modules and the tests that exercise them (kept small: 2 shared cores). Every
#: test file named here is part of the module's hash: editing it re-runs the module in CI.
TARGETS = (
    Target("store/pseudonym.py", ("tests/test_pseudonyms.py",)),
    Target("alerts/privacy.py", ("tests/test_alerts_render.py", "tests/test_privacy_mutants.py"), conftest=False),
    Target("alerts/render.py", ("tests/test_alerts_render.py", "tests/test_render_mutants.py"), conftest=False),
    Target("store/retention.py", ("tests/test_retention.py", "tests/test_retention_mutants.py")),
    Target("crawlers/safety.py", ("tests/test_safety.py", "tests/test_safety_mutants.py"), conftest=False),
    # The fast pure-function tests first: with -x most mutants die in them, in a second.
    Target("crawlers/media.py", ("tests/test_media_mutants.py", "tests/test_media.py")),
)

#: pytest plugins the mutated modules' tests do not use; loading them (hypothesis' schema tooling
#: through schemathesis) costs about a second per mutant.
UNUSED_PLUGINS = ("cacheprovider", "schemathesis", "anyio")


def target_hash(target: Target) -> str:
    """SHA-256 over one module, the tests that exercise it and its own entries of the equivalence list
    (so that listing another module's survivors does not re-run this one)."""
    digest = hashlib.sha256()
    for name in (target.module, *target.tests):
        path = ROOT / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"<missing>") + b"\0")
    own = [e for e in _equivalences() if e.module == target.module]
    digest.update(json.dumps([[list(e.lines), e.operator, e.reason] for e in own]).encode())
    return digest.hexdigest()


def recorded_hashes() -> dict[str, str]:
    """module -> hash of the last clean run (``mutation/checked.sha256``: "<hash>  <module>" lines)."""
    if not HASH_FILE.exists():
        return {}
    pairs = (line.split() for line in HASH_FILE.read_text(encoding="utf-8").splitlines() if line.strip())
    return {module: digest for digest, module in pairs}


def _copy_tree(dest: Path) -> None:
    """The working tree as it is now (tracked and new files, not ignored ones) into ``dest``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = Path(raw.decode())
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


@dataclass(frozen=True)
class Equivalence:
    """Survivors of ``module`` on one of ``lines`` whose operator starts with ``operator``: equivalent."""

    module: str
    lines: tuple[int, ...]
    operator: str
    reason: str

    def covers(self, mutant_id: str) -> bool:
        module, line, operator, _ = mutant_id.split(":")
        return module == self.module and int(line) in self.lines and operator.startswith(self.operator)


def _equivalences() -> list[Equivalence]:
    if not EQUIVALENT_FILE.exists():
        return []
    data = tomllib.loads(EQUIVALENT_FILE.read_text(encoding="utf-8"))
    return [Equivalence(str(e["module"]), tuple(int(n) for n in e["lines"]), str(e["operator"]), str(e["reason"]))
            for e in data.get("equivalent", [])]


def skip_annotation_mutants(module: Path, session: Path) -> int:
    """Mark the mutants inside type annotations as skipped; returns how many.

    In a module with ``from __future__ import annotations`` an annotation is a string that is never
    evaluated, so ``str | None`` mutated into ``str + None`` changes nothing: running the tests on
    those mutants only spends time (they were most of the survivors of the first runs). A module
    without that import keeps all its mutants.
    """
    from cosmic_ray.work_db import use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    tree = ast.parse(module.read_text(encoding="utf-8"))
    if not any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
               and any(alias.name == "annotations" for alias in node.names) for node in tree.body):
        return 0
    spans: list[tuple[tuple[int, int], tuple[int, int]]] = []
    for node in ast.walk(tree):
        annotations: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            annotations.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for ann in annotations:
            if ann is not None and ann.end_lineno is not None and ann.end_col_offset is not None:
                spans.append(((ann.lineno, ann.col_offset), (ann.end_lineno, ann.end_col_offset)))

    def inside(start: tuple[int, int], end: tuple[int, int]) -> bool:
        return any(lo <= start and end <= hi for lo, hi in spans)

    skipped = 0
    with use_db(str(session)) as db:
        for item in list(db.work_items):
            if all(inside(tuple(m.start_pos), tuple(m.end_pos)) for m in item.mutations):
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED,
                                                      output="inside a type annotation (never evaluated)"))
                skipped += 1
    return skipped


def _mutant_id(job: dict[str, object]) -> str:
    mutation = job["mutations"][0]  # type: ignore[index]
    return (f"{mutation['module_path']}:{mutation['start_pos'][0]}:{mutation['operator_name']}"
            f":{mutation['occurrence']}")


@dataclass
class Outcome:
    mutants: int = 0  # every mutant cosmic-ray made, including the annotation ones
    annotations: int = 0  # inside annotations: not run (see skip_annotation_mutants)
    killed: int = 0
    survivors: list[str] = field(default_factory=list)


def _module_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _reopen_survivors(session: Path) -> int:
    """Forget the results of the mutants that survived, so that ``exec`` runs only them again."""
    with sqlite3.connect(session) as db:
        return db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'").rowcount


def run_target(target: Target, workdir: Path, python: str, sessions: Path | None = None,
               retest: bool = False) -> Outcome:
    """Mutate one module in ``workdir``; returns what happened to its mutants.

    ``sessions``: a folder keeping each module's cosmic-ray session (and the digest of the module it
    mutated) after the run. ``retest``: start from the kept session and run only its survivors again.
    That is sound while the module is byte-for-byte the same (checked) and its tests were only added
    to: a mutant killed before is still killed. A change to the module needs a full run.
    """
    tests = " ".join(target.tests)
    options = " ".join(f"-p no:{plugin}" for plugin in UNUSED_PLUGINS) + ("" if target.conftest else " --noconftest")
    config = workdir / f"cr-{Path(target.module).stem}.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{target.module}"\n'
        f"timeout = {target.timeout}\n"
        "excluded-modules = []\n"
        f'test-command = "{python} -m pytest -x -q {options} {tests}"\n\n'
        '[cosmic-ray.distributor]\nname = "local"\n', encoding="utf-8")
    session = workdir / f"cr-{Path(target.module).stem}.sqlite"
    cr = [python, "-m", "cosmic_ray.cli"]
    env = {**os.environ, "CI": "", "HYPOTHESIS_PROFILE": "default"}
    stem = Path(target.module).stem
    kept, kept_digest = (sessions / f"{stem}.sqlite", sessions / f"{stem}.module.sha256") if sessions else (None, None)
    if retest:
        if kept is None or kept_digest is None or not kept.exists() or not kept_digest.exists():
            raise SystemExit(f"mutation: no kept session for {target.module}; run it in full with --sessions first")
        if kept_digest.read_text(encoding="utf-8").strip() != _module_digest(workdir / target.module):
            raise SystemExit(f"mutation: {target.module} changed since its kept session; run it in full")
        shutil.copy2(kept, session)
        print(f"{target.module}: re-testing {_reopen_survivors(session)} survivors of the kept session", flush=True)
        annotations = sum(1 for _ in sqlite3.connect(session).execute(
            "SELECT 1 FROM work_results WHERE worker_outcome = 'SKIPPED'"))
        outcome = Outcome(annotations=annotations)
    else:
        subprocess.run([*cr, "init", str(config), str(session)], cwd=workdir, check=True, env=env)
        outcome = Outcome(annotations=skip_annotation_mutants(workdir / target.module, session))
    subprocess.run([*cr, "baseline", str(config)], cwd=workdir, check=True, env=env)
    subprocess.run([*cr, "exec", str(config), str(session)], cwd=workdir, check=True, env=env)
    if kept is not None and kept_digest is not None:
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(session, kept)
        kept_digest.write_text(_module_digest(workdir / target.module) + "\n", encoding="utf-8")
    dump = subprocess.run([*cr, "dump", str(session)], cwd=workdir, check=True, capture_output=True, text=True,
                          env=env).stdout
    for line in dump.splitlines():
        job, result = json.loads(line)
        if result is None:
            continue
        outcome.mutants += 1
        if result.get("worker_outcome") == "skipped":
            continue
        if result.get("test_outcome") == "survived":
            outcome.survivors.append(_mutant_id(job) + "  " + (result.get("diff") or "").replace("\n", "\\n")[:400])
        else:
            outcome.killed += 1
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="only these modules (default: all listed in TARGETS)")
    parser.add_argument("--check-hash", action="store_true", help="skip when the safety files are unchanged")
    parser.add_argument("--record", action="store_true", help="record the safety files' hash after a clean run")
    parser.add_argument("--sessions", type=Path, help="keep each module's cosmic-ray session in this folder")
    parser.add_argument("--retest-survivors", action="store_true",
                        help="with --sessions: run only the kept sessions' survivors again (module unchanged)")
    args = parser.parse_args(argv)
    targets = [t for t in TARGETS if not args.modules or t.module in args.modules]
    recorded = recorded_hashes()
    if args.check_hash:
        # A module never recorded has not had its first clean run yet (a full run takes longer than CI
        # allows): it is named, not run; `make mutation MODULES=...` and --record bring it in.
        for t in targets:
            if t.module not in recorded:
                print(f"mutation: {t.module} has no recorded clean run yet; run `make mutation MODULES={t.module}`")
        targets = [t for t in targets if t.module in recorded and recorded[t.module] != target_hash(t)]
        if not targets:
            print("mutation: safety-critical files unchanged since the last clean run; skipped")
            return 0
    equivalences = _equivalences()
    unexplained: list[str] = []
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="resurface-mutation-") as tmp:
        workdir = Path(tmp)
        _copy_tree(workdir)
        for target in targets:
            started = time.monotonic()
            outcome = run_target(target, workdir, python, args.sessions, args.retest_survivors)
            minutes, seconds = divmod(round(time.monotonic() - started), 60)

            def explained_by(survivor: str) -> bool:
                return any(e.covers(survivor.split("  ")[0]) for e in equivalences)

            survivors = outcome.survivors
            explained = [s for s in survivors if explained_by(s)]
            print(f"{target.module}: {outcome.mutants} mutants, {outcome.annotations} in annotations (not run), "
                  f"{outcome.killed} killed, {len(explained)} equivalent, "
                  f"{len(survivors) - len(explained)} unexplained survivors; {minutes} min {seconds} s")
            for survivor in survivors:
                if not explained_by(survivor):
                    unexplained.append(survivor)
                    print(f"  SURVIVED {survivor}")
    if unexplained:
        print(f"mutation: {len(unexplained)} survivors are neither killed by a test nor listed in "
              f"{EQUIVALENT_FILE.relative_to(ROOT)} with a reason")
        return 1
    if args.record:
        recorded.update({t.module: target_hash(t) for t in targets})
        HASH_FILE.write_text("".join(f"{recorded[t.module]}  {t.module}\n" for t in TARGETS if t.module in recorded),
                             encoding="utf-8")
        print(f"mutation: recorded {HASH_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
