"""What ``resurface alerts show`` adds to an alert for the investigator at the terminal: the phrases
that matched, excerpts of the posts the evidence points at (read from the store, within retention),
and the history of notes analysts left (from the audit log)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from store import models as m

log = logging.getLogger(__name__)

EXCERPT_CHARS = 280
MAX_POSTS = 10
#: Audit actions that carry an analyst's note on an alert.
NOTE_ACTIONS = {"alert.ack": "acknowledged", "alert.confirm": "confirmed", "alert.dismiss": "dismissed"}


def score_text(score: float | None) -> str:
    """The one way a score is shown to people: two decimals."""
    return "" if score is None else f"{float(score):.2f}"


def _items(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for signal in doc.get("signals") or []:
        for item in signal.get("evidence") or []:
            if isinstance(item, dict):
                yield str(signal.get("name")), item


def matched_phrases(doc: dict[str, Any]) -> list[str]:
    """Successor phrases detection matched, as ``phrase (lang)``, each once, in evidence order."""
    seen: dict[str, None] = {}
    for _, item in _items(doc):
        phrases = item.get("phrases") or ([item["phrase"]] if item.get("phrase") else [])
        for raw in phrases:
            lang, sep, phrase = str(raw).partition(":")
            shown = f"{phrase} ({lang})" if sep and len(lang) <= 3 else str(raw)
            seen.setdefault(shown, None)
    return list(seen)


def _excerpt(text: str) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS - 1].rstrip() + "…"


def evidence_posts(session: Session, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The posts the evidence names (announcements, reposts), each with an excerpt when the store still
    holds its text: ``{url, signal, excerpt, note}`` (``note`` says why there is no excerpt)."""
    wanted: dict[str, dict[str, Any]] = {}
    ids: dict[int, str] = {}
    for signal, item in _items(doc):
        for key in ("post_url", "matched_post_url"):
            url = item.get(key)
            if isinstance(url, str) and url and url not in wanted:
                wanted[url] = {"url": url, "signal": signal, "excerpt": item.get("excerpt") if key == "post_url"
                               else None, "note": None}
                if key == "post_url" and isinstance(item.get("post_id"), int):
                    ids[item["post_id"]] = url
    chosen = list(wanted.values())[:MAX_POSTS]
    if len(wanted) > MAX_POSTS:
        log.info("alert #%s names %d posts; showing the first %d", doc.get("id"), len(wanted), MAX_POSTS)
    missing = [p["url"] for p in chosen if not p["excerpt"]]
    if missing:
        rows = session.scalars(select(m.Post).where(or_(
            m.Post.url.in_(missing), m.Post.id.in_([i for i, u in ids.items() if u in missing]))))
        by_url: dict[str, m.Post] = {}
        for post in rows:
            by_url.setdefault(ids.get(post.id, post.url), post)
        for entry in chosen:
            if entry["excerpt"]:
                continue
            found = by_url.get(entry["url"])
            if found is None:
                entry["note"] = "not stored"
            elif found.text:
                entry["excerpt"] = found.text
            else:
                entry["note"] = "text purged (retention)" if found.text_purged_at else "no text"
    for entry in chosen:
        if entry["excerpt"]:
            entry["excerpt"] = _excerpt(str(entry["excerpt"]))
    return chosen


def note_history(session: Session, alert_id: int) -> list[dict[str, Any]]:
    """Every verdict and note on the alert, oldest first, from the audit log."""
    entries = session.scalars(select(m.AuditEntry).where(
        m.AuditEntry.target == f"alert:{alert_id}", m.AuditEntry.action.in_(list(NOTE_ACTIONS)),
    ).order_by(m.AuditEntry.id))
    return [{"at": e.at.isoformat(), "actor": e.actor, "action": NOTE_ACTIONS[e.action],
             "note": (e.details or {}).get("note")} for e in entries]


def show_text(doc: dict[str, Any], phrases: list[str], posts: list[dict[str, Any]],
              notes: list[dict[str, Any]]) -> str:
    """The sections ``alerts show`` prints after the rendered alert."""
    lines = ["Matched phrases: " + (", ".join(f"“{p}”" for p in phrases) if phrases else "none")]
    lines.append("Posts in the evidence:" if posts else "Posts in the evidence: none")
    for post in posts:
        lines.append(f"  - {post['url']} ({post['signal']})")
        lines.append(f"      “{post['excerpt']}”" if post["excerpt"] else f"      ({post['note']})")
    lines.append("Notes:" if notes else "Notes: none")
    for entry in notes:
        when = str(entry["at"])[:16].replace("T", " ")
        lines.append(f"  - {when} {entry['actor']} {entry['action']}" + (f": {entry['note']}" if entry["note"]
                                                                         else ""))
    return "\n".join(lines)
