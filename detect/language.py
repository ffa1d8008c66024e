"""Successor language: phrases like "nuovo gruppo" or "backup channel" that announce where a
community goes next. The phrases are data (``successor_phrases.json``), so analysts can add a language
or a phrase without touching code.

Texts and phrases go through the same folding as names (:func:`detect.names.skeleton`), so
"Nuovo  Grüppo", "ɴᴜᴏᴠᴏ ɢʀᴜᴘᴘᴏ"-style tricks with look-alikes and accents still match.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from detect.names import skeleton

PHRASES_FILE = "successor_phrases.json"


class PhraseFileError(ValueError):
    """The phrase file is malformed; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    language: str
    phrase: str


def _fold(text: str) -> str:
    return re.sub(r"[\s_\-'’]+", " ", skeleton(text)).strip()


def parse_phrases(data: object, origin: str) -> dict[str, tuple[str, ...]]:
    """Validate the JSON document: ``{language: [phrase, ...]}``; keys starting with "_" are comments."""
    if not isinstance(data, dict):
        raise PhraseFileError(f"{origin}: expected an object of language -> list of phrases")
    out: dict[str, tuple[str, ...]] = {}
    for lang, phrases in data.items():
        if str(lang).startswith("_"):
            continue
        if not isinstance(phrases, list) or not all(isinstance(p, str) and p.strip() for p in phrases):
            raise PhraseFileError(f"{origin}: {lang!r} must be a list of non-empty strings")
        out[str(lang)] = tuple(phrases)
    if not out:
        raise PhraseFileError(f"{origin}: no languages")
    return out


def load_phrases(path: Path | None = None) -> dict[str, tuple[str, ...]]:
    if path is None:
        origin = f"detect/{PHRASES_FILE}"
        text = resources.files("detect").joinpath(PHRASES_FILE).read_text(encoding="utf-8")
    else:
        origin = str(path)
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PhraseFileError(f"{origin}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    return parse_phrases(data, origin)


class PhraseMatcher:
    """One compiled alternation over every phrase; longest phrases first so "backup channel" wins
    over "backup"."""

    def __init__(self, phrases: dict[str, tuple[str, ...]]) -> None:
        self._by_folded: dict[str, PhraseMatch] = {}
        for lang, items in phrases.items():
            for phrase in items:
                self._by_folded.setdefault(_fold(phrase), PhraseMatch(lang, phrase))
        ordered = sorted(self._by_folded, key=len, reverse=True)
        self._pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(p) for p in ordered) + r")(?!\w)")

    def find(self, text: str | None) -> list[PhraseMatch]:
        if not text:
            return []
        seen: dict[str, PhraseMatch] = {}
        for found in self._pattern.finditer(_fold(text)):
            match = self._by_folded[found.group(1)]
            seen.setdefault(match.phrase, match)
        return list(seen.values())


@lru_cache(maxsize=1)
def default_matcher() -> PhraseMatcher:
    return PhraseMatcher(load_phrases())


def successor_phrases(text: str | None) -> list[PhraseMatch]:
    """The successor phrases in ``text`` (any language in the data file)."""
    return default_matcher().find(text)
