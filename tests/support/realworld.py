"""Access to the real recorded corpus (pages and API bodies saved from the real services by other
public projects). The corpus is never copied into this repository: tests read it from
``RESURFACE_REALWORLD_DIR`` (default ``../shared/realworld`` next to the checkout).

Where the corpus is absent a test skips with that reason; under ``CI=true`` its absence fails the
test instead, so the conformance suite can never silently stop running in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REALWORLD_ENV = "RESURFACE_REALWORLD_DIR"
_DEFAULT = Path(__file__).resolve().parents[2].parent / "shared" / "realworld"


def realworld_dir() -> Path:
    """The corpus root, or skip (fail under CI=true) when it is not there."""
    root = Path(os.environ.get(REALWORLD_ENV) or _DEFAULT)
    if not (root / "SOURCES.md").is_file():
        reason = f"real-world corpus not found at {root} (set {REALWORLD_ENV})"
        if os.environ.get("CI"):
            pytest.fail(reason + ": the conformance suite must run in CI")
        pytest.skip(reason)
    return root


def realworld_file(*parts: str) -> Path:
    """One recorded file; a missing file is a failure (the corpus is fixed, a typo is a bug)."""
    path = realworld_dir().joinpath(*parts)
    if not path.is_file():
        pytest.fail(f"recorded file missing from the corpus: {path}")
    return path


def realworld_bytes(*parts: str) -> bytes:
    return realworld_file(*parts).read_bytes()


def realworld_text(*parts: str) -> str:
    return realworld_file(*parts).read_text(encoding="utf-8")
