"""Dates as HTML forums print them: in the board's language and the board's time zone.

phpBB 3.2+ and XenForo put a machine-readable ``<time datetime>`` next to each post; older phpBB styles
(3.0 prosilver, 2.x subSilver) and many customised ones print only text, in the board's display format
and language: "Mon May 21, 2007 4:03 pm", "Posted: Sat Sep 01, 2007 6:59 am", "05 set 2018, 10:44",
"Mo 3. Sep 2018, 10:44", "Heute, 10:44". Those are read with :mod:`dateparser` (maintained, covers
200+ languages) in the page's language (``<html lang>`` / ``xml:lang`` / ``content-language``).

The time zone is the board's, which phpBB prints in its footer: "All times are UTC" (3.0),
"All times are GMT + 2 Hours" (2.x), "All times are <span title="Europe/Rome">UTC+01:00</span>" (3.1+),
in the board's language ("Alle Zeiten sind UTC+01:00"). When the page names no zone the text is taken
as UTC and a note is logged once per page: such a post may be off by the board's offset.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateparser.date import DateDataParser
from parsel import Selector

log = logging.getLogger(__name__)

#: "UTC", "GMT + 2 Hours", "UTC - 5 hours [ DST ]", "UTC+05:30", "UTC + 5.5 hours".
_ZONE = re.compile(r"\b(?:UTC|GMT)(?:\s*([+\-\u2212\u2013])\s*(\d{1,2})(?:([:.])(\d{1,2}))?)?", re.IGNORECASE)
#: A label before the date ("Posted:", "Inviato:", "Verfasst:"): words ending in a colon, no digits.
_LABEL = re.compile(r"^[^\d:]{1,40}:\s+")
#: Text nodes that may name the board's zone: not inside posts, scripts or styles.
_ZONE_TEXT = (
    "//text()[contains(., 'UTC') or contains(., 'GMT')]"
    "[not(ancestor::script)][not(ancestor::style)]"
    "[not(ancestor::*[contains(concat(' ', normalize-space(@class), ' '), ' content ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' postbody ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' bbWrapper ')])]"
)


@dataclass(frozen=True, slots=True)
class BoardClock:
    """How a page prints its dates: language (ISO 639-1, None if the page does not say) and zone."""

    language: str | None
    zone: tzinfo
    zone_known: bool
    zone_evidence: str


UTC_CLOCK = BoardClock(None, UTC, False, "no zone named")


def page_language(sel: Selector) -> str | None:
    """The primary language subtag of the page ("en-gb" → "en"), or None."""
    for value in (*sel.xpath("/html/@lang | /html/@xml:lang").getall(),
                  *sel.css("meta[http-equiv='content-language' i]::attr(content)").getall()):
        primary = value.strip().replace("_", "-").split("-")[0].lower()
        if re.fullmatch(r"[a-z]{2,3}", primary):
            return primary
    return None


def _offset_zone(match: re.Match[str], dst: bool) -> tzinfo:
    sign, hours, sep, minutes = match.groups()
    if hours is None:
        delta = timedelta(0)
    else:
        mins = 0
        if minutes:
            mins = round(float(f"0.{minutes}") * 60) if sep == "." else int(minutes)
        delta = timedelta(hours=int(hours), minutes=mins)
        if sign in ("-", "\u2212", "\u2013"):
            delta = -delta
    if dst:
        delta += timedelta(hours=1)
    return UTC if delta == timedelta(0) else timezone(delta)


def board_zone(sel: Selector) -> tuple[tzinfo, str] | None:
    """The board's time zone as its pages print it, with what said so; None when not printed."""
    for title in sel.xpath("//span[@title][contains(., 'UTC') or contains(., 'GMT')]/@title").getall():
        try:
            return ZoneInfo(title.strip()), f"zone name {title.strip()!r}"
        except (ZoneInfoNotFoundError, ValueError):
            continue
    texts = [" ".join(t.split()) for t in sel.xpath(_ZONE_TEXT).getall()]
    for text in reversed(texts):  # the footer comes last
        if len(text) > 200:
            continue
        match = _ZONE.search(text)
        if match:
            dst = bool(re.search(r"\[\s*DST\s*\]", text))
            return _offset_zone(match, dst), f"footer {text!r}"
    return None


def board_clock(sel: Selector, url: str = "") -> BoardClock:
    """Language and zone of a page's printed dates (UTC, logged, when the page names no zone)."""
    language = page_language(sel)
    found = board_zone(sel)
    if found is None:
        log.info("%s names no time zone; dates printed as text are read as UTC (they may be off by the "
                 "board's offset)", url or "the page")
        return BoardClock(language, UTC, False, "no zone named")
    return BoardClock(language, found[0], True, found[1])


def _settings(relative_base: datetime | None = None) -> dict[str, Any]:
    # Parsed naive, as printed; the board's zone is attached afterwards (dateparser's own TIMEZONE
    # setting would need a name, and phpBB often prints only an offset).
    settings: dict[str, Any] = {"RETURN_AS_TIMEZONE_AWARE": False, "PREFER_DATES_FROM": "past",
                                "TIMEZONE": "UTC", "TO_TIMEZONE": "UTC"}
    if relative_base is not None:
        settings["RELATIVE_BASE"] = relative_base
    return settings


@lru_cache(maxsize=64)
def _parser(language: str | None) -> DateDataParser:
    settings = _settings()
    try:
        return DateDataParser(languages=[language] if language else None, settings=settings)
    except ValueError:  # a language dateparser does not know: let it detect one
        log.info("dates: language %r unknown to dateparser; detecting the language instead", language)
        return DateDataParser(settings=settings)


def parse_text_date(text: str | None, clock: BoardClock = UTC_CLOCK, *, now: datetime | None = None) -> datetime | None:
    """A date printed as text, as aware UTC; None when the text holds no date (or no digit at all)."""
    if not text:
        return None
    cleaned = _LABEL.sub("", " ".join(text.replace("\xa0", " ").split())).strip(" ,»|-")
    if not cleaned or not any(c.isdigit() for c in cleaned):
        return None
    parser = _parser(clock.language)
    if now is not None:
        base = now.astimezone(clock.zone).replace(tzinfo=None)
        try:
            parser = DateDataParser(languages=[clock.language] if clock.language else None,
                                    settings=_settings(base))
        except ValueError:
            parser = DateDataParser(settings=_settings(base))
    try:
        parsed = parser.get_date_data(cleaned).date_obj
    except (ValueError, OverflowError, TypeError) as exc:
        log.debug("dates: %r not parsed (%s)", cleaned, exc)
        return None
    if parsed is None:
        return None
    try:
        return parsed.replace(tzinfo=clock.zone).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
