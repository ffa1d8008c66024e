"""Which ``t.me/s`` pages to fetch, and what the checkpoint says after each one. Pure.

Preview pages go newest to oldest (``?before=<id>``), while a checkpoint must say what is *safely
stored*. So the cursor is a watermark plus at most one gap:

- ``last_post_id``: every post at or below it is stored (or deliberately beyond the history depth);
- ``gap_top``/``gap_before``: a walk that was cut short (killed, or out of pages): posts in
  ``[gap_before, gap_top]`` are stored, those between ``last_post_id`` and ``gap_before`` are not yet;
- ``depth_left``: for the very first crawl of a channel, how many more history pages it may take
  (``crawl.max_pages`` in all); ``None`` for a gap of new posts, which is always filled;
- ``absent_seen``: how many crawls in a row found Telegram's "this handle does not exist" page
  instead of the channel (the second sighting in a row is definitive); any page read resets it.

A crawl first fills the gap (resuming where a killed crawl stopped), then reads the newest page and
walks back to the watermark. Every page ends with a cursor that is true if the crawl dies right
after it, so a resumed crawl neither loses nor repeats a post.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any


class BadCursor(ValueError):
    """A stored cursor that is not one of ours (hand-edited, or from another version)."""


@dataclass(frozen=True, slots=True)
class Cursor:
    last_post_id: int = 0
    gap_top: int | None = None
    gap_before: int | None = None
    depth_left: int | None = None
    absent_seen: int = 0

    @property
    def has_gap(self) -> bool:
        return self.gap_top is not None and self.gap_before is not None

    def covers(self, post_id: int) -> bool:
        """Whether ``post_id`` is already stored according to this cursor."""
        if post_id <= self.last_post_id:
            return True
        return self.has_gap and self.gap_before <= post_id <= self.gap_top  # type: ignore[operator]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"last_post_id": self.last_post_id}
        if self.has_gap:
            data["gap"] = {"top": self.gap_top, "before": self.gap_before, "depth_left": self.depth_left}
        if self.absent_seen:
            data["absent_seen"] = self.absent_seen
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Cursor:
        if not data:
            return cls()
        try:
            last = int(data.get("last_post_id") or 0)
            absent = int(data.get("absent_seen") or 0)
            gap = data.get("gap")
            if gap is None:
                if last < 0 or absent < 0:
                    raise ValueError("negative count")
                return cls(last, absent_seen=absent)
            depth = gap.get("depth_left")
            cursor = cls(last, int(gap["top"]), int(gap["before"]), None if depth is None else int(depth), absent)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise BadCursor(f"unreadable telegram_web cursor {dict(data)!r}: {exc}") from exc
        if last < 0 or cursor.gap_before > cursor.gap_top:  # type: ignore[operator]
            raise BadCursor(f"inconsistent telegram_web cursor {dict(data)!r}")
        return cursor


#: "Fetch the newest page" (no ``?before=``).
NEWEST: int | None = None


class Planner:
    """Drives one crawl: :meth:`first` gives the first page, :meth:`after_page` the next one (or
    ``None`` to stop) and updates :attr:`cursor`. ``max_pages`` bounds the pages of one crawl."""

    def __init__(self, cursor: Cursor, max_pages: int) -> None:
        # Every cursor the planner hands out follows a page that was read: the handle exists.
        self.cursor = replace(cursor, absent_seen=0)
        self.max_pages = max_pages
        self.pages = 0
        self._newest_done = False

    def first(self) -> int | None:
        """``before`` of the first page: the gap's lower end, or :data:`NEWEST`."""
        return self.cursor.gap_before if self.cursor.has_gap else NEWEST

    def after_page(self, post_ids: Sequence[int], older: int | None) -> tuple[bool, int | None]:
        """Record a fetched page (its post ids and its ``data-before`` link, ``None`` if it has
        none); returns ``(more, before)``: whether to fetch another page, and which."""
        self.pages += 1
        c = self.cursor
        low = min(post_ids) if post_ids else None
        if c.has_gap:
            depth = None if c.depth_left is None else c.depth_left - 1
            done = older is None or low is None or low <= c.last_post_id + 1 or depth == 0
            if done:
                self.cursor = Cursor(max(c.gap_top or 0, c.last_post_id))
                return self._next_newest()
            self.cursor = Cursor(c.last_post_id, c.gap_top, min(low, c.gap_before or low), depth)  # type: ignore[type-var]
            return self._continue(older)
        # The newest page.
        self._newest_done = True
        top = max(post_ids) if post_ids else None
        if top is None or top <= c.last_post_id:
            return False, None
        first_crawl = c.last_post_id == 0
        depth = self.max_pages - 1 if first_crawl else None
        if older is None or (low is not None and low <= c.last_post_id + 1) or depth == 0:
            self.cursor = Cursor(top)
            return False, None
        self.cursor = Cursor(c.last_post_id, top, low, depth)
        return self._continue(older)

    def _continue(self, older: int | None) -> tuple[bool, int | None]:
        if self.pages >= self.max_pages:
            return False, None
        return True, older

    def _next_newest(self) -> tuple[bool, int | None]:
        if self._newest_done or self.pages >= self.max_pages:
            return False, None
        return True, NEWEST
