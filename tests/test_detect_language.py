"""Successor language comes from the data file, in at least en/it/de/fr/es."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detect.language import PhraseFileError, PhraseMatcher, load_phrases, successor_phrases


@pytest.mark.parametrize(("text", "language", "phrase"), [
    ("Ecco il nostro GRUPPO DI RISERVA 👉 t.me/x", "it", "gruppo di riserva"),
    ("Nuovo  gruppo qui", "it", "nuovo gruppo"),
    ("canale di backup in caso di ban", "it", "canale di backup"),
    ("We moved! New group here", "en", "we moved"),
    ("backup channel, join now", "en", "backup channel"),
    ("Neue Gruppe, wir sind umgezogen", "de", "neue gruppe"),
    ("Nouveau groupe : rejoignez-nous", "fr", "nouveau groupe"),
    ("Grupo de respaldo por si nos banean", "es", "grupo de respaldo"),
    ("ɴuovo gruppo", "it", "nuovo gruppo"),
])
def test_successor_phrases_in_five_languages(text: str, language: str, phrase: str) -> None:
    found = successor_phrases(text)
    assert any(p.language == language and p.phrase == phrase for p in found), found


@pytest.mark.parametrize("text", ["bella foto", "I keep backups of my photos", "nuovissimo", None, ""])
def test_ordinary_text_has_no_successor_language(text: str | None) -> None:
    assert [p for p in successor_phrases(text) if p.phrase != "backup"] == []
    if text == "I keep backups of my photos":
        assert successor_phrases(text) == []  # whole words only: "backups" is not "backup"


def test_data_file_covers_required_languages() -> None:
    phrases = load_phrases()
    assert {"en", "it", "de", "fr", "es"} <= set(phrases)


def test_custom_phrase_file_is_data_not_code(tmp_path: Path) -> None:
    path = tmp_path / "phrases.json"
    path.write_text(json.dumps({"nl": ["nieuwe groep"]}), encoding="utf-8")
    matcher = PhraseMatcher(load_phrases(path))
    assert [p.language for p in matcher.find("Onze nieuwe groep!")] == ["nl"]


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "invalid JSON"),
    ('["a"]', "expected an object"),
    ('{"en": "new group"}', "'en' must be a list"),
    ('{"_comment": "x"}', "no languages"),
])
def test_malformed_phrase_file_names_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PhraseFileError, match=message) as info:
        load_phrases(path)
    assert str(path) in str(info.value)
