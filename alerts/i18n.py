"""Translations of the alert texts: gettext catalogues read with Babel, plus locale-aware dates and numbers.

The catalogues are ``alerts/locale/<lang>/LC_MESSAGES/resurface.po`` (the template is
``alerts/locale/resurface.pot``). They are compiled **at first use**, in memory, with Babel's own
``.mo`` writer: no compiled ``.mo`` file is committed or needs building, so a fresh install works and a
``.po`` edited by a translator takes effect on the next start. English is the source language (the
msgids), so it needs no catalogue. See docs/alerts.md ("Languages") for adding one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().with_name("locale")
DOMAIN = "resurface"
SOURCE_LANGUAGE = "en"


class UnknownLanguage(ValueError):
    """A language without a catalogue."""


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def available_languages() -> tuple[str, ...]:
    """English plus every language with a catalogue, sorted."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return tuple(sorted({SOURCE_LANGUAGE} | found))


def check_language(language: str) -> str:
    """``language`` if it has a catalogue, else :class:`UnknownLanguage` naming the ones there are."""
    if language not in available_languages():
        raise UnknownLanguage(f"no alert catalogue for language {language!r}; "
                              f"available: {', '.join(available_languages())}")
    return language


@cache
def _translations(language: str) -> NullTranslations:
    path = catalogue_path(language)
    if language == SOURCE_LANGUAGE and not path.exists():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, as pybabel compile does
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@dataclass(frozen=True, slots=True)
class Lang:
    """One language: its translated strings (``_``/``ngettext``, named ``{placeholders}`` filled with
    ``str.format``), dates, numbers and lists in its own conventions."""

    code: str

    @property
    def _t(self) -> NullTranslations:
        return _translations(self.code)

    def _(self, message: str, **values: Any) -> str:
        text = self._t.gettext(message)
        return text.format(**values) if values else text

    def pgettext(self, context: str, message: str) -> str:
        return str(self._t.pgettext(context, message))

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        return self._t.ngettext(singular, plural, n).format(n=n, **values)

    def date(self, value: date | datetime) -> str:
        return format_date(value, "long", locale=self.code)

    def score(self, value: float) -> str:
        """Scores shown to people: always two decimals, in the language's own notation."""
        return format_decimal(value, "0.00", locale=self.code)

    def number(self, value: float) -> str:
        return format_decimal(value, "#,##0.##", locale=self.code)

    def join(self, items: list[str]) -> str:
        return format_list(items, locale=self.code) if items else ""


def lang(code: str) -> Lang:
    return Lang(check_language(code))
