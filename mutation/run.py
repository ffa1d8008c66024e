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
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
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


#: The safety-critical modules and the tests that exercise them (kept small: 2 shared cores).
TARGETS = (
    Target("store/pseudonym.py", ("tests/test_pseudonyms.py",)),
    Target("alerts/privacy.py", ("tests/test_alerts_render.py",)),
    Target("alerts/render.py", ("tests/test_alerts_render.py",)),
    Target("store/retention.py", ("tests/test_retention.py",)),
    Target("crawlers/safety.py", ("tests/test_safety.py",)),
    Target("crawlers/media.py", ("tests/test_media.py",)),
)


def target_hash(target: Target) -> str:
    """SHA-256 over one module, the tests that exercise it and the equivalence list."""
    digest = hashlib.sha256()
    for name in (target.module, *target.tests, "mutation/equivalent.toml"):
        path = ROOT / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"<missing>") + b"\0")
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


def _mutant_id(job: dict[str, object]) -> str:
    mutation = job["mutations"][0]  # type: ignore[index]
    return (f"{mutation['module_path']}:{mutation['start_pos'][0]}:{mutation['operator_name']}"
            f":{mutation['occurrence']}")


def run_target(target: Target, workdir: Path, python: str) -> tuple[int, int, list[str]]:
    """Mutate one module in ``workdir``; returns (mutants, killed, surviving mutant ids)."""
    tests = " ".join(target.tests)
    config = workdir / f"cr-{Path(target.module).stem}.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{target.module}"\n'
        f"timeout = {target.timeout}\n"
        "excluded-modules = []\n"
        f'test-command = "{python} -m pytest -x -q -p no:cacheprovider {tests}"\n\n'
        '[cosmic-ray.distributor]\nname = "local"\n', encoding="utf-8")
    session = workdir / f"cr-{Path(target.module).stem}.sqlite"
    cr = [python, "-m", "cosmic_ray.cli"]
    env = {**os.environ, "CI": "", "HYPOTHESIS_PROFILE": "default"}
    subprocess.run([*cr, "init", str(config), str(session)], cwd=workdir, check=True, env=env)
    subprocess.run([*cr, "baseline", str(config)], cwd=workdir, check=True, env=env)
    subprocess.run([*cr, "exec", str(config), str(session)], cwd=workdir, check=True, env=env)
    dump = subprocess.run([*cr, "dump", str(session)], cwd=workdir, check=True, capture_output=True, text=True,
                          env=env).stdout
    mutants = killed = 0
    survivors: list[str] = []
    for line in dump.splitlines():
        job, result = json.loads(line)
        if result is None:
            continue
        mutants += 1
        if result.get("test_outcome") == "survived":
            survivors.append(_mutant_id(job) + "  " + (result.get("diff") or "").replace("\n", "\\n")[:400])
        else:
            killed += 1
    return mutants, killed, survivors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="only these modules (default: all listed in TARGETS)")
    parser.add_argument("--check-hash", action="store_true", help="skip when the safety files are unchanged")
    parser.add_argument("--record", action="store_true", help="record the safety files' hash after a clean run")
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
            mutants, killed, survivors = run_target(target, workdir, python)
            def explained_by(survivor: str) -> bool:
                return any(e.covers(survivor.split("  ")[0]) for e in equivalences)

            explained = [s for s in survivors if explained_by(s)]
            print(f"{target.module}: {mutants} mutants, {killed} killed, {len(explained)} equivalent, "
                  f"{len(survivors) - len(explained)} unexplained survivors")
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
